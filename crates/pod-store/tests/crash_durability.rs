//! Durability under SIGKILL: a child process cycles through different field
//! updates of one Pod, printing `ACK {i}` after each returns; the test kills it at
//! 50 random moments. After each kill `metadata.json` must parse and equal the
//! state after the last acknowledged update or after the one in flight — never
//! anything else — and a leftover temp file must not disturb reading or listing.
//!
//! "The states that were written" are reproduced by applying the same
//! deterministic op sequence to a shadow store in this process.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{apply_op, manifest, name, segment, session, without_timestamps};
use pod_store::PodStore;
use rand::Rng;

const CHILD_ENV: &str = "POD_STORE_CRASH_CHILD";
const CHILD_TEST: &str = "crash_child_updater";
const ROUNDS: usize = 50;

/// Child mode: applies ops `start..` until killed, acknowledging each.
#[test]
#[ignore = "child mode of sigkill_at_random_moments_leaves_a_written_state"]
fn crash_child_updater() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (root, start) = spec.split_once('\n').unwrap();
    let store = PodStore::new(root);
    let pod = name("crashy");
    let mut i: u64 = start.parse().unwrap();
    loop {
        apply_op(&store, &pod, i);
        // One write(2) per line on an unbuffered handle: the parent sees exactly
        // the ACKs of updates that returned.
        use std::io::Write;
        std::io::stdout()
            .write_all(format!("ACK {i}\n").as_bytes())
            .unwrap();
        i += 1;
    }
}

#[test]
fn sigkill_at_random_moments_leaves_a_written_state() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pods");
    let store = PodStore::new(&root);
    let shadow_dir = tempfile::tempdir().unwrap();
    let shadow = PodStore::new(shadow_dir.path());
    let pod = name("crashy");
    for s in [&store, &shadow] {
        s.create_pending(&pod, session(0), segment(0), manifest(), None)
            .unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rng();
    // Ops reflected on disk (ops 0..done have been committed).
    let mut done: u64 = 0;
    let mut in_flight_hits = 0;
    let mut temp_left = 0;
    let started = Instant::now();

    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                CHILD_TEST,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, format!("{}\n{done}", root.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("ACK ") {
                    tx.send(n.parse::<u64>().unwrap()).unwrap();
                }
            }
        });

        // Wait (with a deadline) for a random amount of progress, then kill after a
        // random extra delay so the kill lands anywhere inside an update.
        let want = rng.random_range(1..=6);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last_ack = None;
        let mut seen = 0;
        while seen < want {
            let left = deadline.saturating_duration_since(Instant::now());
            let ack = rx.recv_timeout(left).unwrap_or_else(|e| {
                panic!("round {round}: child made no progress within 20 s ({e})")
            });
            last_ack = Some(ack);
            seen += 1;
        }
        // Not synchronisation: only randomises the kill moment within an update.
        std::thread::sleep(Duration::from_micros(rng.random_range(0..3000)));
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "round {round}: child must die by the kill"
        );
        reader.join().unwrap();
        // Drain every ACK printed before the kill.
        while let Ok(ack) = rx.try_recv() {
            last_ack = Some(ack);
        }
        let acked = last_ack.unwrap() + 1;
        assert!(acked > done);

        // Bring the shadow to the acknowledged state; disk must equal it or the
        // state after exactly one more op (committed but not yet acknowledged).
        while done < acked {
            apply_op(&shadow, &pod, done);
            done += 1;
        }
        let on_disk = store
            .read(&pod)
            .unwrap_or_else(|e| panic!("round {round}: record unreadable after SIGKILL: {e}"));
        let disk = without_timestamps(&on_disk);
        if disk != without_timestamps(&shadow.read(&pod).unwrap()) {
            apply_op(&shadow, &pod, done);
            done += 1;
            in_flight_hits += 1;
            assert_eq!(
                disk,
                without_timestamps(&shadow.read(&pod).unwrap()),
                "round {round}: on-disk record is neither the acknowledged state (op {}) nor the next one",
                acked - 1
            );
        }

        if root.join("crashy/metadata.json.tmp").exists() {
            temp_left += 1;
        }
        let listed = store.list().unwrap();
        assert_eq!(
            listed.len(),
            1,
            "round {round}: temp or lock files listed as Pods"
        );
        assert!(listed[0].record.is_ok(), "round {round}");
    }
    eprintln!(
        "{ROUNDS} kills in {:?}: {done} ops committed, {in_flight_hits} kills after an unacknowledged commit, {temp_left} left a temp file",
        started.elapsed()
    );
    // The next update after all those kills succeeds and is what a reader sees.
    apply_op(&store, &pod, done);
    apply_op(&shadow, &pod, done);
    assert_eq!(
        without_timestamps(&store.read(&pod).unwrap()),
        without_timestamps(&shadow.read(&pod).unwrap())
    );
}
