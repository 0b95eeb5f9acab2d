//! Readers run while the writer appends (snapshots for attaching clients, forks of
//! a live segment): they never fail, and what they see only grows.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use session_store::EntryKind;

#[test]
fn reading_while_appending_sees_a_growing_consistent_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let mut w = common::new_segment(&store);
    let seg = w.segment_id();
    const N: u64 = 3000;
    let writer = std::thread::spawn(move || {
        for i in 1..=N {
            let kind = if i % 50 == 0 {
                EntryKind::TurnEnd { turn: i / 50 }
            } else {
                EntryKind::UserInput {
                    text: "y".repeat((i % 700) as usize),
                }
            };
            w.append(&kind).unwrap();
        }
    });
    let mut seen = 0usize;
    let mut reads = 0;
    while !writer.is_finished() || reads == 0 {
        let read = store.read_segment(seg).unwrap();
        assert!(read.entries.len() >= seen, "entries never disappear");
        seen = read.entries.len();
        reads += 1;
    }
    writer.join().unwrap();
    let read = store.read_segment(seg).unwrap();
    assert_eq!(read.entries.len() as u64, N + 1);
    assert!(read.torn_tail.is_none());
    assert!(reads > 1, "reader ran concurrently at least once");
}
