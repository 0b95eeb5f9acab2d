//! The table is a cache: losing `registry.json` (deleted, truncated, replaced by `{}`)
//! while Pods live never admits an overlapping Pod, because every live holder keeps
//! its hold file locked and the registry rebuilds missing rows from those files.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use common::*;
use pod_registry::{
    AdoptRequest, FileRegistry, Hold, ProcessStamp, Registry, RegistryError, ReserveRequest,
};

const HOLDER_TEST: &str = "three_live_holder_processes_survive_each_kind_of_table_loss";

/// The ways the table gets lost.
fn lose_table(reg: &FileRegistry, how: &str) {
    let table = reg.table_path();
    match how {
        "delete" => std::fs::remove_file(table).unwrap(),
        "truncate" => std::fs::write(table, b"").unwrap(),
        "empty-object" => std::fs::write(table, b"{}").unwrap(),
        "garbage" => std::fs::write(table, b"{\"allocations\": [tor").unwrap(),
        other => panic!("unknown loss {other}"),
    }
}

const LOSSES: [&str; 4] = ["delete", "truncate", "empty-object", "garbage"];

fn assert_conflict(reg: &FileRegistry, pod: &str, path: &str, owner: &str) {
    let e = reg
        .register(register_req(pod, me(), vec![w(path)]))
        .unwrap_err();
    assert!(
        matches!(&e, RegistryError::WriteConflict { owner: o, .. } if o.as_str() == owner),
        "{pod} at {path} must conflict with {owner}: {e}"
    );
}

/// A scope over all holders is refused (naming whichever holder comes first).
fn assert_refused(reg: &FileRegistry, pod: &str, path: &str) {
    let e = reg
        .register(register_req(pod, me(), vec![w(path)]))
        .unwrap_err();
    assert!(matches!(e, RegistryError::WriteConflict { .. }), "{e}");
}

#[test]
fn live_holders_in_one_process_survive_each_kind_of_table_loss() {
    for how in LOSSES {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path());
        let holds: Vec<Hold> = ["a", "b", "c"]
            .iter()
            .map(|p| {
                let (_, hold) = reg
                    .register_held(register_req(p, me(), vec![w(&format!("/w/{p}"))]))
                    .unwrap();
                hold
            })
            .collect();
        lose_table(&reg, how);
        assert_conflict(&reg, "x", "/w/b/deep", "b");
        lose_table(&reg, how);
        assert_refused(&reg, "x", "/w");
        lose_table(&reg, how);
        // A live holder's name stays taken.
        let e = reg
            .register(register_req("c", me(), vec![w("/v")]))
            .unwrap_err();
        assert!(matches!(e, RegistryError::NameTaken { .. }), "{how}: {e}");
        // Disjoint scope is admitted, and the rebuilt table lists every holder again.
        reg.register(register_req("d", me(), vec![w("/w/d")]))
            .unwrap();
        let mut names: Vec<String> = reg
            .list()
            .unwrap()
            .into_iter()
            .map(|a| a.name.as_str().to_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "b", "c", "d"], "{how}");
        assert!(reg.read_unlocked().unwrap().get(&name("a")).is_some());
        // A holder that let go of its hold frees its region and name.
        drop(holds);
        lose_table(&reg, how);
        reg.register(register_req("a", me(), vec![w("/w/a")]))
            .unwrap();
    }
}

#[test]
fn delegations_reservations_and_adopted_children_survive_table_loss() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    let parent = me();
    let (_, _parent_hold) = reg
        .register_held(register_req("lead", parent, vec![w("/w")]))
        .unwrap();
    let reserve = |child: &str, path: &str| {
        reg.reserve_child(ReserveRequest {
            parent: name("lead"),
            parent_incarnation: parent.incarnation,
            child: name(child),
            rules: vec![w(path)],
            ttl: Duration::from_secs(600),
        })
        .unwrap()
    };
    let adopt = |child: &str, token, process: ProcessStamp| {
        reg.adopt_held(AdoptRequest {
            name: name(child),
            token,
            process,
            socket: None,
            segment_id: None,
        })
    };
    let t1 = reserve("worker", "/w/src");
    let t2 = reserve("pending", "/w/docs");
    let (_, _worker_hold) = adopt("worker", t1, me()).unwrap();

    std::fs::remove_file(reg.table_path()).unwrap();
    // The child's region is refused to strangers and named at the child.
    assert_conflict(&reg, "x", "/w/src/a", "worker");
    std::fs::remove_file(reg.table_path()).unwrap();
    // The parent's delegation records came back: it may not write in either region.
    let eff = reg.effective_write(&name("lead")).unwrap();
    assert!(!eff.can_write(Path::new("/w/src/a")));
    assert!(!eff.can_write(Path::new("/w/docs/a")));
    assert!(eff.can_write(Path::new("/w/other")));
    let worker = reg.get(&name("worker")).unwrap().unwrap();
    assert_eq!(worker.delegated_from, Some(name("lead")));
    std::fs::write(reg.table_path(), b"{}").unwrap();
    // The pending reservation came back with its token: the child can still adopt.
    let (row, _pending_hold) = adopt("pending", t2, me()).unwrap();
    assert_eq!(row.delegated_from, Some(name("lead")));
    std::fs::remove_file(reg.table_path()).unwrap();
    assert_conflict(&reg, "y", "/w/docs", "pending");
    assert_eq!(reg.list().unwrap().len(), 3);
    assert!(
        reg.read_unlocked()
            .unwrap()
            .overlapping_effective_writes()
            .is_empty()
    );
}

#[test]
fn release_removes_the_hold_so_a_lost_table_does_not_bring_the_row_back() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    let stamp = me();
    let (_, hold) = reg
        .register_held(register_req("a", stamp, vec![w("/w")]))
        .unwrap();
    reg.release(&name("a"), stamp.incarnation).unwrap();
    std::fs::remove_file(reg.table_path()).unwrap();
    // Still holding the guard (it is dropped after release in the runtime), yet the
    // released row stays released.
    reg.register(register_req("b", me(), vec![w("/w")]))
        .unwrap();
    drop(hold);
}

fn holder(dir: PathBuf, pod: String, path: String, ready: PathBuf) {
    let reg = FileRegistry::open(dir).unwrap();
    let (_, _hold) = reg
        .register_held(register_req(&pod, me(), vec![w(&path)]))
        .unwrap();
    std::fs::write(&ready, b"").unwrap();
    loop {
        // Hold until killed.
        std::thread::park();
    }
}

struct Holders(Vec<Child>);

impl Drop for Holders {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn three_live_holder_processes_survive_each_kind_of_table_loss() {
    if child_mode().as_deref() == Some("holder") {
        let var = |k: &str| std::env::var(k).unwrap();
        holder(
            PathBuf::from(var("REG_DIR")),
            var("POD"),
            var("SCOPE"),
            PathBuf::from(var("READY")),
        );
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("run");
    let reg = FileRegistry::open(&dir).unwrap();
    let mut holders = Holders(Vec::new());
    for pod in ["a", "b", "c"] {
        let ready = base.path().join(format!("ready-{pod}"));
        holders.0.push(spawn_child_mode(
            HOLDER_TEST,
            "holder",
            &[
                ("REG_DIR", dir.display().to_string()),
                ("POD", pod.to_owned()),
                ("SCOPE", format!("/w/{pod}")),
                ("READY", ready.display().to_string()),
            ],
        ));
        assert!(wait_until(Duration::from_secs(20), || ready.exists()));
    }
    for (i, how) in LOSSES.iter().enumerate() {
        lose_table(&reg, how);
        assert_conflict(&reg, "x", "/w/c/deep", "c");
        lose_table(&reg, how);
        assert_refused(&reg, "x", "/w");
        lose_table(&reg, how);
        let disjoint = format!("d{i}");
        let stamp = me();
        reg.register(register_req(
            &disjoint,
            stamp,
            vec![w(&format!("/w/{disjoint}"))],
        ))
        .unwrap();
        reg.release(&name(&disjoint), stamp.incarnation).unwrap();
    }
    // A holder killed by SIGKILL frees its region even with the table gone.
    let mut b = holders.0.remove(1);
    b.kill().unwrap();
    b.wait().unwrap();
    std::fs::remove_file(reg.table_path()).unwrap();
    reg.register(register_req("b2", me(), vec![w("/w/b")]))
        .unwrap();
    assert_conflict(&reg, "x", "/w/a", "a");
}

const HELD_CHURN_TEST: &str = "sigkill_during_held_registrations_never_resurrects_a_dead_holder";

/// Child: take and give back holds as fast as possible until killed.
fn held_churn(dir: PathBuf, ready: PathBuf) {
    let reg = FileRegistry::open(dir).unwrap();
    let mut k = 0u64;
    loop {
        let stamp = me();
        let pod = format!("churn-{k}");
        let (_, hold) = reg
            .register_held(register_req(&pod, stamp, vec![w(&format!("/c/{k}"))]))
            .unwrap();
        if k == 0 {
            std::fs::write(&ready, b"").unwrap();
        }
        if k.is_multiple_of(3) {
            // Keep some holds, so the kill finds several live ones.
            std::mem::forget(hold);
        } else {
            reg.release(&name(&pod), stamp.incarnation).unwrap();
            drop(hold);
        }
        k += 1;
    }
}

#[test]
fn sigkill_during_held_registrations_never_resurrects_a_dead_holder() {
    if child_mode().as_deref() == Some("held-churn") {
        let var = |k: &str| PathBuf::from(std::env::var(k).unwrap());
        held_churn(var("REG_DIR"), var("READY"));
        return;
    }
    use rand::Rng;
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("run");
    let reg = FileRegistry::open(&dir).unwrap();
    let (_, _anchor) = reg
        .register_held(register_req("anchor", me(), vec![w("/anchor")]))
        .unwrap();
    let holds_dir = reg.table_path().parent().unwrap().join("holds");
    let mut rng = rand::rng();
    for i in 0..20 {
        let ready = base.path().join(format!("ready-{i}"));
        let mut child = spawn_child_mode(
            HELD_CHURN_TEST,
            "held-churn",
            &[
                ("REG_DIR", dir.display().to_string()),
                ("READY", ready.display().to_string()),
            ],
        );
        assert!(wait_until(Duration::from_secs(20), || ready.exists()));
        // Not synchronisation: a random delay so the kill lands anywhere in a
        // transaction (lock taken, table committed, records not yet rewritten, ...).
        std::thread::sleep(Duration::from_micros(rng.random_range(0..20_000)));
        child.kill().unwrap();
        child.wait().unwrap();
        // With the table gone, only the live anchor comes back: no dead holder's row
        // is resurrected from its hold, and the dead holds' files are removed.
        std::fs::remove_file(reg.table_path()).ok();
        let rows = reg.list().unwrap();
        assert_eq!(rows.len(), 1, "kill {i}: {rows:?}");
        reg.register(register_req("probe", me(), vec![w("/c")]))
            .map(|_| ())
            .unwrap_or_else(|e| panic!("kill {i}: a dead holder still blocks /c: {e}"));
        let probe = reg.get(&name("probe")).unwrap().unwrap();
        reg.release(&name("probe"), probe.process.unwrap().incarnation)
            .unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&holds_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["anchor.json", "anchor.lock"], "kill {i}");
    }
}

#[test]
fn an_older_copy_of_the_table_gets_live_children_and_their_records_back() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    let parent = me();
    let (_, _parent_hold) = reg
        .register_held(register_req("lead", parent, vec![w("/w")]))
        .unwrap();
    let old = std::fs::read(reg.table_path()).unwrap();
    let token = reg
        .reserve_child(ReserveRequest {
            parent: name("lead"),
            parent_incarnation: parent.incarnation,
            child: name("worker"),
            rules: vec![w("/w/src")],
            ttl: Duration::from_secs(600),
        })
        .unwrap();
    let (_, _worker_hold) = reg
        .adopt_held(AdoptRequest {
            name: name("worker"),
            token,
            process: me(),
            socket: None,
            segment_id: None,
        })
        .unwrap();
    // A backup from before the delegation is put back.
    std::fs::write(reg.table_path(), old).unwrap();
    assert_conflict(&reg, "x", "/w/src/a", "worker");
    let eff = reg.effective_write(&name("lead")).unwrap();
    assert!(!eff.can_write(Path::new("/w/src/a")), "{eff:?}");
    assert!(eff.can_write(Path::new("/w/other")));
    assert!(
        reg.read_unlocked()
            .unwrap()
            .overlapping_effective_writes()
            .is_empty()
    );
}
