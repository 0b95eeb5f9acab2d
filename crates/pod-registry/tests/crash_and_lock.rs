//! Real SIGKILLs in the middle of saves, and a lock holder that hangs.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use pod_registry::{FileRegistry, ProcessStamp, Registry, RegistryError, Table};
use rand::Rng;

const CHURN_TEST: &str = "sigkill_during_saves_never_leaves_a_torn_or_empty_table";
const HANG_TEST: &str = "hung_lock_holder_times_out_naming_its_pid_and_death_frees_the_lock";

fn dir_from_env() -> PathBuf {
    PathBuf::from(std::env::var("REG_DIR").unwrap())
}

/// Child: register and release as fast as possible until killed.
fn churn(dir: PathBuf, ready: PathBuf) {
    let reg = FileRegistry::open(dir).unwrap();
    let mut k = 0u64;
    loop {
        let stamp = ProcessStamp::current().unwrap();
        let pod = format!("churn-{k}");
        let mut req = register_req(&pod, stamp, vec![w(&format!("/c/{k}"))]);
        // A bigger table makes each save take long enough to be hit mid-write.
        req.deny = (0..50).map(|i| w(&format!("/c/{k}/deny-{i}"))).collect();
        reg.register(req).unwrap();
        if k == 0 {
            std::fs::write(&ready, b"").unwrap();
        }
        if !k.is_multiple_of(3) {
            reg.release(&name(&pod), stamp.incarnation).unwrap();
        }
        k += 1;
    }
}

#[test]
fn sigkill_during_saves_never_leaves_a_torn_or_empty_table() {
    if child_mode().as_deref() == Some("churn") {
        churn(
            dir_from_env(),
            PathBuf::from(std::env::var("READY").unwrap()),
        );
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("run");
    let reg = FileRegistry::open(&dir).unwrap();
    reg.register(register_req("anchor", me(), vec![w("/anchor")]))
        .unwrap();
    let mut rng = rand::rng();
    let mut temp_seen = 0;
    for i in 0..50 {
        let ready = base.path().join(format!("ready-{i}"));
        let mut child = spawn_child_mode(
            CHURN_TEST,
            "churn",
            &[
                ("REG_DIR", dir.display().to_string()),
                ("READY", ready.display().to_string()),
            ],
        );
        assert!(wait_until(Duration::from_secs(20), || ready.exists()));
        // Not synchronisation: a random delay so the kill lands at a random point of
        // the child's save loop.
        std::thread::sleep(Duration::from_micros(rng.random_range(0..20_000)));
        child.kill().unwrap();
        child.wait().unwrap();

        if reg.table_path().with_extension("json.tmp").exists() {
            temp_seen += 1;
        }
        let bytes = std::fs::read(reg.table_path()).unwrap();
        let table: Table = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("kill {i}: table does not parse: {e}"));
        assert!(
            table.get(&name("anchor")).is_some(),
            "kill {i}: table lost its entries"
        );
        // The next caller proceeds: the kernel released the dead child's lock, and
        // the dead child's rows are reaped.
        let rows = reg.list().unwrap();
        assert_eq!(rows.len(), 1, "kill {i}: only the anchor survives reaping");
    }
    eprintln!("50 kills, {temp_seen} left a temp file behind");
}

#[test]
fn hung_lock_holder_times_out_naming_its_pid_and_death_frees_the_lock() {
    if child_mode().as_deref() == Some("hang") {
        let reg = FileRegistry::open(dir_from_env()).unwrap();
        let _lock = reg.hold_lock().unwrap();
        std::fs::write(std::env::var("READY").unwrap(), b"").unwrap();
        loop {
            // Hang while holding the lock, until killed.
            std::thread::park();
        }
    }
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("run");
    let ready = base.path().join("ready");
    let mut child = spawn_child_mode(
        HANG_TEST,
        "hang",
        &[
            ("REG_DIR", dir.display().to_string()),
            ("READY", ready.display().to_string()),
        ],
    );
    assert!(wait_until(Duration::from_secs(20), || ready.exists()));
    let deadline = Duration::from_millis(300);
    let reg = FileRegistry::open(&dir)
        .unwrap()
        .with_lock_deadline(deadline);
    let start = Instant::now();
    let err = reg.list().unwrap_err();
    let waited = start.elapsed();
    assert!(matches!(err, RegistryError::LockTimeout { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("by pid {}", child.id())),
        "{err}"
    );
    assert!(
        waited >= deadline && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    child.kill().unwrap();
    child.wait().unwrap();
    reg.register(register_req("next", me(), vec![w("/w")]))
        .unwrap();
}
