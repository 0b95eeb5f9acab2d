//! 16 processes race to register random overlapping write scopes; no snapshot of the
//! table, sampled continuously by a reader, ever holds two overlapping live writers.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use pod_registry::{FileRegistry, Registry};

const PROCESSES: usize = 16;
const ROUNDS: usize = 200;
const TEST: &str = "racing_processes_never_hold_overlapping_write_scope";

/// One racing process.
fn race(dir: PathBuf, idx: usize) {
    let reg = FileRegistry::open(dir)
        .unwrap()
        .with_lock_deadline(Duration::from_secs(30));
    let (ok, conflicts) = race_rounds(&reg, idx, ROUNDS);
    println!("RESULT {ok} {conflicts}");
}

#[test]
fn racing_processes_never_hold_overlapping_write_scope() {
    if child_mode().as_deref() == Some("race") {
        let dir = PathBuf::from(std::env::var("RACE_DIR").unwrap());
        let idx = std::env::var("RACE_IDX").unwrap().parse().unwrap();
        race(dir, idx);
        return;
    }
    // Runtime dirs are tmpfs in production ($XDG_RUNTIME_DIR); use one here too so
    // fsync cost does not dominate on a shared disk.
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let dir = base.path().join("run");
    let reg = FileRegistry::open(&dir).unwrap();
    let started = Instant::now();

    let done = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (done, samples, reg) = (done.clone(), samples.clone(), reg.clone());
        std::thread::spawn(move || {
            let mut max_rows = 0;
            while !done.load(Ordering::Relaxed) {
                let table = reg.read_unlocked().unwrap();
                max_rows = max_rows.max(table.allocations.len());
                let bad = table.overlapping_effective_writes();
                assert!(bad.is_empty(), "overlapping live writers: {bad:?}");
                samples.fetch_add(1, Ordering::Relaxed);
            }
            max_rows
        })
    };

    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            spawn_child_mode(
                TEST,
                "race",
                &[
                    ("RACE_DIR", dir.display().to_string()),
                    ("RACE_IDX", i.to_string()),
                ],
            )
        })
        .collect();
    let (mut ok, mut conflicts) = (0usize, 0usize);
    for mut child in children {
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert!(child.wait().unwrap().success(), "child failed: {out}");
        let line = out.split("RESULT ").nth(1).expect(&out);
        let mut parts = line
            .split_whitespace()
            .take(2)
            .map(|n| n.parse::<usize>().unwrap());
        ok += parts.next().unwrap();
        conflicts += parts.next().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let max_rows = reader.join().unwrap();

    let last = reg.read_unlocked().unwrap();
    assert!(last.overlapping_effective_writes().is_empty());
    assert!(reg.list().unwrap().is_empty(), "everything released");
    let samples = samples.load(Ordering::Relaxed);
    eprintln!(
        "race: {ok} grants, {conflicts} refusals, {samples} samples, up to {max_rows} rows, {:?}",
        started.elapsed()
    );
    assert!(
        ok > 100 && conflicts > 100,
        "the race exercised both outcomes"
    );
    assert!(samples > 10 && max_rows > 1);
}
