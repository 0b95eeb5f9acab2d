//! Identity is (name, incarnation); liveness is pid alive AND start time equal.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use pod_ids::SegmentId;
use pod_registry::{ProcessStamp, Registry, RegistryError, Released};

fn pid_reuse_alive_pid_with_other_start_time_is_reaped_as_dead(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(backend, dir.path());
    let real = me();
    let reused = ProcessStamp {
        pid_start_time: real.pid_start_time + 1,
        ..me()
    };
    reg.register(register_req("ghost", reused, vec![w("/w")]))
        .unwrap();
    reg.register(register_req("alive", real, vec![w("/v")]))
        .unwrap();
    let names: Vec<String> = reg
        .list()
        .unwrap()
        .into_iter()
        .map(|a| a.name.to_string())
        .collect();
    assert_eq!(names, vec!["alive"], "ghost reaped, alive kept");
    // Its region is free again.
    reg.register(register_req("next", me(), vec![w("/w")]))
        .unwrap();
}

fn exited_process_is_reaped_and_a_zombie_free_pid_is_dead(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(backend, dir.path());
    let mut s = Sleeper::spawn();
    reg.register(register_req("a", s.stamp, vec![w("/w")]))
        .unwrap();
    assert!(
        reg.get(&name("a")).unwrap().is_some(),
        "alive while running"
    );
    s.kill();
    assert!(reg.get(&name("a")).unwrap().is_none());
}

fn stale_incarnation_release_keeps_the_newer_allocation(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(backend, dir.path());
    let old = dead_stamp();
    reg.register(register_req("a", old, vec![w("/w")])).unwrap();
    let new = me();
    reg.register(register_req("a", new, vec![w("/w")])).unwrap();
    assert_eq!(
        reg.release(&name("a"), old.incarnation).unwrap(),
        Released::NotHeld
    );
    let row = reg.get(&name("a")).unwrap().unwrap();
    assert_eq!(row.process.unwrap().incarnation, new.incarnation);
    let e = reg
        .update_segment(&name("a"), old.incarnation, Some(SegmentId::new()))
        .unwrap_err();
    assert!(matches!(e, RegistryError::NotRegistered { .. }), "{e}");
    assert_eq!(
        reg.release(&name("a"), new.incarnation).unwrap(),
        Released::Removed
    );
    assert!(reg.get(&name("a")).unwrap().is_none());
}

fn duplicate_live_name_and_held_segment_are_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(backend, dir.path());
    let seg = SegmentId::new();
    let mut req = register_req("a", me(), vec![w("/w")]);
    req.segment_id = Some(seg);
    reg.register(req).unwrap();
    let e = reg
        .register(register_req("a", me(), vec![w("/v")]))
        .unwrap_err();
    assert!(matches!(e, RegistryError::NameTaken { .. }), "{e}");
    let mut req = register_req("b", me(), vec![w("/v")]);
    req.segment_id = Some(seg);
    let e = reg.register(req).unwrap_err();
    assert!(e.to_string().contains("held by live pod a"), "{e}");
    assert_eq!(reg.holder_of_segment(seg).unwrap(), Some(name("a")));
    // Read rules never conflict.
    reg.register(register_req("reader", me(), vec![rd("/w")]))
        .unwrap();
}

#[test]
fn files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    reg.register(register_req("a", me(), vec![w("/w")]))
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("run")), 0o700);
    assert_eq!(mode(&dir.path().join("run/.registry")), 0o700);
    assert_eq!(mode(reg.table_path()), 0o600);
    assert_eq!(mode(&dir.path().join("run/.registry/registry.lock")), 0o600);
}

on_both_backends!(
    pid_reuse_alive_pid_with_other_start_time_is_reaped_as_dead,
    exited_process_is_reaped_and_a_zombie_free_pid_is_dead,
    stale_incarnation_release_keeps_the_newer_allocation,
    duplicate_live_name_and_held_segment_are_refused,
);
