//! A bad line in the middle is an error naming file and line; an entry of unknown
//! kind is not corruption: reads keep it, replay skips it.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;

use session_store::{EntryKind, StoreError};

#[test]
fn corrupt_middle_line_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let mut w = common::new_segment(&store);
    let seg = w.segment_id();
    w.append(&EntryKind::UserInput { text: "a".into() })
        .unwrap();
    drop(w);
    let path = store.segment_path(seg).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{not json}\n").unwrap();
    f.write_all(br#"{"seq":3,"ts":1,"kind":"run_completed"}"#)
        .unwrap();
    f.write_all(b"\n").unwrap();

    let err = store.read_segment(seg).unwrap_err();
    let StoreError::Corrupt { path: p, line, .. } = &err else {
        panic!("expected Corrupt, got {err:?}")
    };
    assert_eq!((p, *line), (&path, 3));
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("line 3"),
        "{msg}"
    );
    assert!(store.replay(seg).is_err());
}

#[test]
fn seq_out_of_order_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let w = common::new_segment(&store);
    let seg = w.segment_id();
    drop(w);
    let path = store.segment_path(seg).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{\"seq\":5,\"ts\":1,\"kind\":\"run_completed\"}\n")
        .unwrap();
    let err = store.read_segment(seg).unwrap_err().to_string();
    assert!(
        err.contains("line 2") && err.contains("expected seq 1"),
        "{err}"
    );
}

#[test]
fn unknown_kind_in_the_middle_is_preserved_and_skipped_by_replay() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let mut w = common::new_segment(&store);
    let seg = w.segment_id();
    w.append(&EntryKind::UserInput { text: "a".into() })
        .unwrap();
    drop(w);
    let path = store.segment_path(seg).unwrap();
    let future = r#"{"seq":2,"ts":5,"kind":"hologram","data":{"beam":[1,2]},"v":2}"#;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(future.as_bytes()).unwrap();
    f.write_all(b"\n").unwrap();
    drop(f);

    // A writer of this version continues after it.
    let mut w = store.open_writer(seg).unwrap();
    assert_eq!(w.next_seq(), 3);
    w.append(&EntryKind::UserInput { text: "b".into() })
        .unwrap();
    w.append(&EntryKind::TurnEnd { turn: 1 }).unwrap();
    // Unknown kinds cannot be appended by this version.
    let raw = serde_json::from_str(future).unwrap();
    assert!(matches!(
        w.append(&EntryKind::Unknown(raw)),
        Err(StoreError::AppendUnknown)
    ));
    drop(w);

    let read = store.read_segment(seg).unwrap();
    assert_eq!(read.entries.len(), 5);
    let EntryKind::Unknown(raw) = &read.entries[2].kind else {
        panic!("expected Unknown, got {:?}", read.entries[2].kind)
    };
    assert_eq!(
        raw,
        &serde_json::from_str::<serde_json::Value>(future).unwrap()
    );

    let r = store.replay(seg).unwrap();
    assert_eq!(r.unknown_entries, 1);
    assert_eq!(r.history.len(), 2);
    assert_eq!((r.turn_count, r.last_seq), (1, 4));
}
