//! Both durable surfaces under SIGKILL at once (issue 2's durability acceptance): a
//! helper process appends to a segment and updates a Pod record in a loop; the test
//! kills it at 50 random moments and checks what is on disk after each kill.
//!
//! The helper is this test binary re-executed in child mode. It prints `i` only after
//! both the log entry `i` and the record's `counter = i` are committed, so after a
//! kill the disk must hold at least everything printed and at most one more step.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pod_ids::{PodName, SegmentId};
use pod_store::{Manifest, PodStore};
use session_store::{EntryKind, NewSegment, SessionStore, StoreError};
use transcript::Item;

const CHILD_ENV: &str = "PODS_TEST_STORAGE_CHILD";

fn name() -> PodName {
    PodName::new("crashy").unwrap()
}

/// The `user_input` numbers in the segment, in order.
fn logged_inputs(store: &SessionStore, seg: SegmentId) -> Vec<u64> {
    let r = store.replay(seg).expect("segment must replay after a kill");
    r.history
        .iter()
        .filter_map(|i| match i {
            Item::UserMessage { text } => Some(text.parse().unwrap()),
            _ => None,
        })
        .collect()
}

fn child_loop(root: &Path, seg: SegmentId) {
    let sessions = SessionStore::new(root.join("sessions"));
    let pods = PodStore::new(root.join("pods"));
    // The previous (killed) writer's lock dies with it; a short retry covers the
    // moment the kernel takes to release it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut w = loop {
        match sessions.open_writer(seg) {
            Ok(w) => break w,
            Err(StoreError::Locked { .. }) if Instant::now() < deadline => std::thread::yield_now(),
            Err(e) => panic!("open writer: {e}"),
        }
    };
    let mut i = logged_inputs(&sessions, seg).last().map_or(0, |n| n + 1);
    let mut out = std::io::stdout().lock();
    loop {
        w.append(&EntryKind::UserInput {
            text: i.to_string(),
        })
        .unwrap();
        if i % 5 == 4 {
            w.append(&EntryKind::TurnEnd { turn: i / 5 + 1 }).unwrap();
        }
        pods.set_manifest_extra(&name(), "counter", i.into())
            .unwrap();
        use std::io::Write;
        writeln!(out, "{i}").unwrap();
        out.flush().unwrap();
        i += 1;
    }
}

#[test]
fn segment_and_record_survive_sigkill_at_random_moments() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let (root, seg) = spec.split_once('|').unwrap();
        child_loop(Path::new(root), seg.parse().unwrap());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let sessions = SessionStore::new(root.join("sessions"));
    let writer = sessions.create_segment(NewSegment::default()).unwrap();
    let (session, seg) = (writer.session_id(), writer.segment_id());
    drop(writer);
    let pods = PodStore::new(root.join("pods"));
    pods.create_pending(
        &name(),
        session,
        seg,
        Manifest {
            cwd: root.to_owned(),
            ..Default::default()
        },
        None,
    )
    .unwrap();

    // A small deterministic generator is enough to spread kill moments.
    let mut seed = u64::from(std::process::id()) | 1;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut kills_mid_step = 0;
    for round in 0..50 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "segment_and_record_survive_sigkill_at_random_moments",
                "--nocapture",
            ])
            .env(CHILD_ENV, format!("{}|{seg}", root.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let wanted = 1 + rand(8);
        let mut last: Option<u64> = None;
        let mut seen = 0;
        while seen < wanted {
            match lines.next() {
                Some(Ok(l)) => match l.trim().parse::<u64>() {
                    Ok(n) => {
                        last = Some(n);
                        seen += 1;
                    }
                    Err(_) => continue, // libtest's own output lines
                },
                other => panic!("round {round}: child ended early: {other:?}"),
            }
        }
        // Kill somewhere inside the following steps, not at a line boundary.
        std::thread::sleep(Duration::from_micros(rand(3000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Lines the child wrote before it died are still in the pipe.
        for l in lines.map_while(Result::ok) {
            if let Ok(n) = l.trim().parse::<u64>() {
                last = Some(n);
            }
        }
        let printed = last.unwrap();

        let inputs = logged_inputs(&sessions, seg);
        assert_eq!(
            inputs,
            (0..inputs.len() as u64).collect::<Vec<_>>(),
            "round {round}: gap or duplicate"
        );
        let logged = *inputs.last().unwrap();
        assert!(
            logged == printed || logged == printed + 1,
            "round {round}: printed {printed}, logged {logged}"
        );
        let record = pods
            .read(&name())
            .expect("metadata.json must parse after a kill");
        let counter = record.manifest.extra["counter"].as_u64().unwrap();
        assert!(
            counter == printed || counter == printed + 1,
            "round {round}: printed {printed}, counter {counter}"
        );
        assert!(counter <= logged, "the record never runs ahead of the log");
        if logged != counter {
            kills_mid_step += 1;
        }
    }
    // After all kills: the next append succeeds and the segment replays cleanly.
    let mut w = sessions.open_writer(seg).unwrap();
    let next = logged_inputs(&sessions, seg).len() as u64;
    w.append(&EntryKind::UserInput {
        text: next.to_string(),
    })
    .unwrap();
    w.sync().unwrap();
    let r = sessions.replay(seg).unwrap();
    assert!(r.torn_tail.is_none());
    assert_eq!(logged_inputs(&sessions, seg).last(), Some(&next));
    let entries = sessions.read_segment(seg).unwrap().entries;
    assert!(
        entries.iter().enumerate().all(|(i, e)| e.seq == i as u64),
        "seqs are consecutive"
    );
    eprintln!("50 kills, {kills_mid_step} between the log append and the record update");
}
