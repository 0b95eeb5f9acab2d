//! The registry database stops mid-run: running holders pause when their leases can
//! no longer be renewed (and write nothing while paused), new allocations are refused
//! with a clear error, and when the database is back the holders renew and continue.
//! Its own test binary: it stops and restarts its own cluster.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use pod_registry::{LeaseStatus, MachineId, ProcessStamp, Registry, RegistryError};

const TEST: &str = "holders_pause_while_the_database_is_down_and_continue_when_it_is_back";
const LEASE: Duration = Duration::from_millis(1500);

fn machine(id: &str) -> MachineId {
    MachineId {
        machine: id.into(),
        ..MachineId::local().unwrap()
    }
}

/// A worker: holds `/w/{WORK_NAME}` with a short lease and, every 20 ms, appends a
/// line to its file if its lease is valid right then. Prints each change of status.
fn worker() {
    let env = |v: &str| std::env::var(v).unwrap();
    let reg = pg_registry(&env("WORK_DB"), LEASE, machine(&env("WORK_MACHINE")));
    let pod = env("WORK_NAME");
    let (_, lease) = reg
        .register_leased(register_req(
            &pod,
            ProcessStamp::current().unwrap(),
            vec![w(&format!("/w/{pod}"))],
        ))
        .unwrap();
    let gate = lease.gate();
    let file = PathBuf::from(env("WORK_FILE"));
    let mut last = String::new();
    loop {
        let status = gate.status();
        let label = match &status {
            LeaseStatus::Valid => "VALID",
            LeaseStatus::Paused(_) => "PAUSED",
            LeaseStatus::Fenced(_) => "FENCED",
        };
        if label != last {
            println!("{label}");
            last = label.to_owned();
        }
        match status {
            // "Never write on an unrenewed lease": the write happens only right
            // after the gate said valid.
            LeaseStatus::Valid => {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&file)
                    .unwrap();
                writeln!(f, "tick").unwrap();
            }
            LeaseStatus::Fenced(_) => std::process::exit(3),
            LeaseStatus::Paused(_) => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Worker {
    child: Child,
    file: PathBuf,
    events: mpsc::Receiver<String>,
}

impl Worker {
    fn spawn(db: &str, pod: &str, m: &str, dir: &Path) -> Worker {
        let file = dir.join(pod);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, "work")
            .env("WORK_DB", db)
            .env("WORK_NAME", pod)
            .env("WORK_MACHINE", m)
            .env("WORK_FILE", &file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, events) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Worker {
            child,
            file,
            events,
        }
    }

    fn await_status(&self, want: &str, within: Duration) {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(l) if l.trim_end().ends_with(want) => return,
                Ok(l) if l.trim_end().ends_with("FENCED") => {
                    panic!("worker fenced while waiting for {want}")
                }
                Ok(_) => {}
                Err(e) => panic!("no {want} within {within:?}: {e}"),
            }
        }
    }

    fn ticks(&self) -> usize {
        std::fs::read_to_string(&self.file)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn holders_pause_while_the_database_is_down_and_continue_when_it_is_back() {
    if child_mode().as_deref() == Some("work") {
        worker();
        return;
    }
    let cluster = pg_fixture::Cluster::start().unwrap();
    let db = cluster.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let workers = [
        Worker::spawn(&db, "on-a", "machine-a", dir.path()),
        Worker::spawn(&db, "on-b", "machine-b", dir.path()),
    ];
    for wk in &workers {
        wk.await_status("VALID", Duration::from_secs(20));
        assert!(wait_until(Duration::from_secs(10), || wk.ticks() > 3));
    }
    let reg = pg_registry(&db, Duration::from_secs(60), machine("machine-c"));

    cluster.stop().unwrap();
    for wk in &workers {
        wk.await_status("PAUSED", LEASE * 3);
    }
    // Paused means no writes at all: the files stop growing.
    let frozen: Vec<usize> = workers.iter().map(Worker::ticks).collect();
    let err = reg
        .register(register_req("newcomer", me(), vec![w("/w/on-a/x")]))
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unavailable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("unreachable") && msg.contains("no new Pod can start"),
        "{msg}"
    );
    std::thread::sleep(LEASE);
    let still: Vec<usize> = workers.iter().map(Worker::ticks).collect();
    assert_eq!(frozen, still, "a paused holder wrote");

    cluster.resume().unwrap();
    for wk in &workers {
        wk.await_status("VALID", Duration::from_secs(20));
    }
    for (wk, before) in workers.iter().zip(&still) {
        assert!(wait_until(Duration::from_secs(10), || wk.ticks() > before + 3));
    }
    // Their rows are theirs again: an overlapping newcomer is refused, by the holder.
    let err = reg
        .register(register_req("newcomer", me(), vec![w("/w/on-a/x")]))
        .unwrap_err();
    match err {
        RegistryError::WriteConflict { owner, .. } => assert_eq!(owner.as_str(), "on-a"),
        e => panic!("unexpected: {e}"),
    }
}
