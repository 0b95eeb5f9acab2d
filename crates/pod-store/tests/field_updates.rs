//! Each field-specific operation changes exactly its field, child lifecycle rules
//! hold, reclaim is idempotent, and the on-disk format tolerates the future.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{child_spec, manifest, name, segment, session, without_timestamps};
use pod_store::{
    ChildStatus, EventKind, FORMAT_VERSION, ParentLink, PodState, PodStore, StoreError,
};
use rustix::fs::{FlockOperation, flock};

fn store() -> (tempfile::TempDir, PodStore) {
    let d = tempfile::tempdir().unwrap();
    let s = PodStore::new(d.path().join("pods"));
    (d, s)
}

#[test]
fn create_pending_then_read_back_the_same_record() {
    let (_d, s) = store();
    let lead = name("lead");
    assert!(!s.exists(&lead).unwrap());
    let parent = ParentLink {
        name: name("boss"),
        socket: Some("/run/boss.sock".into()),
        pid: Some(7),
    };
    let created = s
        .create_pending(&lead, session(1), segment(1), manifest(), Some(parent))
        .unwrap();
    assert!(s.exists(&lead).unwrap());
    assert_eq!(created.version, FORMAT_VERSION);
    assert_eq!(
        created.state,
        PodState::Pending {
            session: session(1),
            segment: segment(1)
        }
    );
    assert_eq!(s.read(&lead).unwrap(), created);
    assert_eq!(created.created_at, created.updated_at);
    // RFC 3339 UTC on disk.
    let raw = fs::read_to_string(s.metadata_path(&lead)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let ts = v["created_at"].as_str().unwrap();
    assert!(ts.ends_with('Z') && ts.contains('T'), "{ts}");
}

#[test]
fn creating_an_existing_pod_fails_and_changes_nothing() {
    let (_d, s) = store();
    let lead = name("lead");
    let first = s
        .create_pending(&lead, session(1), segment(1), manifest(), None)
        .unwrap();
    let err = s
        .create_pending(&lead, session(2), segment(2), Default::default(), None)
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains("metadata.json"), "{err}");
    assert_eq!(s.read(&lead).unwrap(), first);
}

#[test]
fn updates_on_a_missing_pod_are_not_found_and_leave_nothing_behind() {
    let (d, s) = store();
    let ghost = name("ghost");
    let err = s.set_active(&ghost, session(1), segment(1)).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("ghost"), "{err}");
    assert!(matches!(s.read(&ghost), Err(StoreError::NotFound { .. })));
    assert!(
        !d.path().join("pods").exists(),
        "no root, lock or dir was created"
    );
}

#[test]
fn each_operation_touches_only_its_field() {
    let (_d, s) = store();
    let lead = name("lead");
    let r0 = s
        .create_pending(&lead, session(1), segment(1), manifest(), None)
        .unwrap();

    let r1 = s.set_active(&lead, session(2), segment(2)).unwrap();
    assert_eq!(
        r1.state,
        PodState::Active {
            session: session(2),
            segment: segment(2)
        }
    );
    assert!(r1.updated_at >= r0.updated_at);
    assert_eq!(
        (r1.manifest.clone(), r1.parent.clone()),
        (r0.manifest.clone(), None)
    );

    let r2 = s.set_pending(&lead, session(3), segment(3)).unwrap();
    assert!(!r2.state.is_active());
    assert_eq!(r2.state.segment(), segment(3));

    let r3 = s
        .set_manifest_extra(&lead, "effort", "high".into())
        .unwrap();
    assert_eq!(r3.manifest.extra["effort"], "high");
    assert_eq!(r3.manifest.model, r0.manifest.model);

    let mut m = manifest();
    m.model = "other-model".into();
    let r4 = s.set_manifest(&lead, m.clone()).unwrap();
    assert_eq!(r4.manifest, m, "set_manifest replaces the snapshot");
    assert_eq!(r4.state, r2.state);

    let link = ParentLink {
        name: name("boss"),
        socket: None,
        pid: Some(9),
    };
    let r5 = s.set_parent(&lead, Some(link.clone())).unwrap();
    assert_eq!(r5.parent, Some(link));
    let r6 = s.set_parent(&lead, None).unwrap();
    assert_eq!(r6.parent, None);
    assert_eq!(r6.created_at, r0.created_at);
    assert_eq!(
        s.read(&lead).unwrap(),
        r6,
        "each update returns what is on disk"
    );
}

#[test]
fn child_lifecycle_pending_live_stopping_reclaimed() {
    let (_d, s) = store();
    let lead = name("lead");
    let w = name("w1");
    s.create_pending(&lead, session(1), segment(1), manifest(), None)
        .unwrap();
    let r = s
        .add_pending_child(&lead, child_spec("w1", "/w/a"))
        .unwrap();
    let c = r.child(&w).unwrap();
    assert_eq!(c.status, ChildStatus::Pending);
    assert_eq!(c.write[0].path.as_path(), std::path::Path::new("/w/a"));
    assert_eq!((c.socket.clone(), c.pid), (None, None));

    let r = s
        .mark_child_live(&lead, &w, Some(PathBuf::from("/run/w1.sock")), Some(123))
        .unwrap();
    let c = r.child(&w).unwrap();
    assert_eq!(c.status, ChildStatus::Live);
    assert_eq!(
        (c.socket.as_deref(), c.pid),
        (Some("/run/w1.sock".as_ref()), Some(123))
    );

    let r = s.mark_child_stopping(&lead, &w).unwrap();
    assert_eq!(r.child(&w).unwrap().status, ChildStatus::Stopping);
    let err = s.mark_child_live(&lead, &w, None, None).unwrap_err();
    assert!(matches!(err, StoreError::ChildTransition { .. }), "{err}");
    assert!(err.to_string().contains("stopping"), "{err}");

    assert!(s.reclaim_child(&lead, &w, "stopped").unwrap());
    let r = s.read(&lead).unwrap();
    let c = r.child(&w).unwrap();
    assert_eq!(
        (c.status, c.reason.as_deref()),
        (ChildStatus::Reclaimed, Some("stopped"))
    );
    assert_eq!(r.history.len(), 1);
    // Reclaimed is terminal for every other transition.
    assert!(s.mark_child_live(&lead, &w, None, None).is_err());
    assert!(s.mark_child_lost(&lead, &w, "x").is_err());
    assert!(s.mark_child_stopping(&lead, &w).is_err());
}

#[test]
fn second_reclaim_is_a_no_op_that_records_nothing() {
    let (_d, s) = store();
    let lead = name("lead");
    let w = name("w1");
    s.create_pending(&lead, session(1), segment(1), manifest(), None)
        .unwrap();
    s.add_pending_child(&lead, child_spec("w1", "/w/a"))
        .unwrap();
    s.mark_child_live(&lead, &w, None, Some(5)).unwrap();

    assert!(s.reclaim_child(&lead, &w, "process gone").unwrap());
    let after_first = s.read(&lead).unwrap();
    assert!(!s.reclaim_child(&lead, &w, "process gone again").unwrap());
    let after_second = s.read(&lead).unwrap();
    assert_eq!(
        after_second, after_first,
        "nothing changed, not even updated_at"
    );

    let events: Vec<_> = after_second
        .history
        .iter()
        .filter(|e| e.child == w)
        .collect();
    assert_eq!(events.len(), 1);
    let e = events[0];
    assert_eq!(e.kind, EventKind::ChildReclaimed);
    assert_eq!(e.reason.as_deref(), Some("process gone"));
    assert_eq!(
        e.write,
        after_second.child(&w).unwrap().write,
        "event carries the rules"
    );
    assert_eq!(e.read.len(), 1);
}

#[test]
fn a_lost_child_is_recorded_once_and_can_still_be_reclaimed() {
    let (_d, s) = store();
    let lead = name("lead");
    let w = name("w1");
    s.create_pending(&lead, session(1), segment(1), manifest(), None)
        .unwrap();
    s.add_pending_child(&lead, child_spec("w1", "/w/a"))
        .unwrap();
    s.mark_child_lost(&lead, &w, "exited with signal 9")
        .unwrap();
    let r = s.mark_child_lost(&lead, &w, "still gone").unwrap();
    assert_eq!(r.child(&w).unwrap().reason.as_deref(), Some("still gone"));
    assert_eq!(r.history.len(), 1, "re-marking lost adds no event");
    assert_eq!(r.history[0].kind, EventKind::ChildLost);
    assert_eq!(r.history[0].reason.as_deref(), Some("exited with signal 9"));
    assert!(s.reclaim_child(&lead, &w, "lost").unwrap());
    assert_eq!(s.read(&lead).unwrap().history.len(), 2);
}

#[test]
fn child_names_are_unique_while_outstanding_and_reusable_after() {
    let (_d, s) = store();
    let lead = name("lead");
    let w = name("w1");
    s.create_pending(&lead, session(1), segment(1), manifest(), None)
        .unwrap();
    s.add_pending_child(&lead, child_spec("w1", "/w/a"))
        .unwrap();
    for status in ["pending", "live", "stopping"] {
        match status {
            "live" => drop(s.mark_child_live(&lead, &w, None, None).unwrap()),
            "stopping" => drop(s.mark_child_stopping(&lead, &w).unwrap()),
            _ => {}
        }
        let err = s
            .add_pending_child(&lead, child_spec("w1", "/w/b"))
            .unwrap_err();
        assert!(matches!(err, StoreError::ChildExists { .. }), "{err}");
        assert!(err.to_string().contains(status), "{err}");
    }
    s.reclaim_child(&lead, &w, "done").unwrap();
    let r = s
        .add_pending_child(&lead, child_spec("w1", "/w/b"))
        .unwrap();
    assert_eq!(r.children.len(), 1, "the reclaimed record is replaced");
    let c = r.child(&w).unwrap();
    assert_eq!(
        (c.status, c.write[0].path.as_path()),
        (ChildStatus::Pending, "/w/b".as_ref())
    );
    assert_eq!(r.history.len(), 1, "the old reclaim event stays");
}

#[test]
fn unknown_child_is_an_error_naming_both_pods() {
    let (_d, s) = store();
    let lead = name("lead");
    s.create_pending(&lead, session(1), segment(1), manifest(), None)
        .unwrap();
    let nobody = name("nobody");
    for err in [
        s.mark_child_live(&lead, &nobody, None, None).unwrap_err(),
        s.mark_child_stopping(&lead, &nobody).unwrap_err(),
        s.mark_child_lost(&lead, &nobody, "r").unwrap_err(),
        s.reclaim_child(&lead, &nobody, "r").unwrap_err(),
        s.record_event(&lead, &nobody, EventKind::ChildExited, None)
            .unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::ChildNotFound { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("lead") && msg.contains("nobody"), "{msg}");
    }
}

#[test]
fn history_is_bounded_and_keeps_the_newest() {
    let d = tempfile::tempdir().unwrap();
    let s = PodStore::new(d.path().join("pods")).with_history_limit(5);
    let lead = name("lead");
    s.create_pending(&lead, session(1), segment(1), manifest(), None)
        .unwrap();
    for i in 0..8 {
        let c = format!("c{i}");
        s.add_pending_child(&lead, child_spec(&c, &format!("/w/{c}")))
            .unwrap();
        s.reclaim_child(&lead, &name(&c), "done").unwrap();
    }
    let r = s
        .record_event(
            &lead,
            &name("c7"),
            EventKind::ChildExited,
            Some("code 0".into()),
        )
        .unwrap();
    let kids: Vec<_> = r.history.iter().map(|e| e.child.as_str()).collect();
    assert_eq!(kids, ["c4", "c5", "c6", "c7", "c7"]);
    assert_eq!(r.history[4].kind, EventKind::ChildExited);
    assert!(r.history.windows(2).all(|w| w[0].at <= w[1].at));
}

#[test]
fn unknown_fields_from_a_newer_version_survive_an_update() {
    let (_d, s) = store();
    let lead = name("lead");
    s.create_pending(&lead, session(1), segment(1), manifest(), None)
        .unwrap();
    let path = s.metadata_path(&lead);
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    v["version"] = 7.into();
    v["future_field"] = serde_json::json!({"x": [1, 2]});
    v["manifest"]["future_manifest_field"] = true.into();
    v["state"]["future_state_field"] = 1.into();
    fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();

    let r = s.set_active(&lead, session(2), segment(2)).unwrap();
    assert_eq!(r.version, 7, "a newer version number is kept");
    let on_disk: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(on_disk["future_field"], serde_json::json!({"x": [1, 2]}));
    assert_eq!(on_disk["state"]["status"], "active");
}

#[test]
fn files_are_0600_and_directories_0700() {
    let (d, s) = store();
    let lead = name("lead");
    s.create_pending(&lead, session(1), segment(1), manifest(), None)
        .unwrap();
    s.set_active(&lead, session(1), segment(1)).unwrap();
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d.path().join("pods")), 0o700);
    assert_eq!(mode(&s.pod_dir(&lead)), 0o700);
    assert_eq!(mode(&s.metadata_path(&lead)), 0o600);
    assert_eq!(mode(&d.path().join("pods/lead.lock")), 0o600);
}

#[test]
fn a_held_lock_times_out_with_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let s = PodStore::new(d.path().join("pods")).with_lock_timeout(Duration::from_millis(150));
    let lead = name("lead");
    s.create_pending(&lead, session(1), segment(1), manifest(), None)
        .unwrap();
    // Another holder (a separate open file description behaves like another process).
    let lock_path = d.path().join("pods/lead.lock");
    let held = fs::File::open(&lock_path).unwrap();
    flock(&held, FlockOperation::NonBlockingLockExclusive).unwrap();
    let t = Instant::now();
    let err = s.set_active(&lead, session(2), segment(2)).unwrap_err();
    assert!(t.elapsed() >= Duration::from_millis(150) && t.elapsed() < Duration::from_secs(5));
    match &err {
        StoreError::LockTimeout { path, .. } => assert_eq!(path, &lock_path),
        other => panic!("expected LockTimeout, got {other}"),
    }
    assert!(err.to_string().contains("lead.lock"), "{err}");
    drop(held);
    s.set_active(&lead, session(2), segment(2)).unwrap();
}

#[test]
fn remove_deletes_the_pod_and_a_new_one_can_take_the_name() {
    let (_d, s) = store();
    let lead = name("lead");
    s.create_pending(&lead, session(1), segment(1), manifest(), None)
        .unwrap();
    assert!(s.remove(&lead).unwrap());
    assert!(!s.exists(&lead).unwrap());
    assert!(!s.pod_dir(&lead).exists());
    assert!(!s.remove(&lead).unwrap());
    let r = s
        .create_pending(&lead, session(2), segment(2), manifest(), None)
        .unwrap();
    assert_eq!(r.state.session(), session(2));
}

#[test]
fn same_op_sequence_gives_equal_records_modulo_time() {
    let (_d1, a) = store();
    let (_d2, b) = store();
    let p = name("p");
    for s in [&a, &b] {
        s.create_pending(&p, session(0), segment(0), manifest(), None)
            .unwrap();
        for i in 0..30 {
            common::apply_op(s, &p, i);
        }
    }
    let (ra, rb) = (a.read(&p).unwrap(), b.read(&p).unwrap());
    assert_eq!(without_timestamps(&ra), without_timestamps(&rb));
    assert_eq!(ra.children.len(), 5);
    assert_eq!(ra.manifest.extra["counter"], 26);
}
