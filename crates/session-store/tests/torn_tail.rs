//! A torn last line is ignored and reported by readers, cut off by the next writer,
//! and never counted as an entry (no phantom entry, no seq gap).
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs::OpenOptions;
use std::io::Write;

use session_store::EntryKind;

#[test]
fn torn_last_line_is_skipped_then_truncated_without_phantom_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let mut w = common::new_segment(&store);
    let seg = w.segment_id();
    common::append_run(&mut w, 1, 2, "a");
    let n = w.next_seq(); // entries present: seq 0..n
    drop(w);

    // Simulate a crash in the middle of appending entry `n`.
    let path = store.segment_path(seg).unwrap();
    let intact = std::fs::metadata(&path).unwrap().len();
    let torn = br#"{"seq":99,"ts":1,"kind":"user_input","data":{"te"#;
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(torn)
        .unwrap();

    let read = store.read_segment(seg).unwrap();
    assert_eq!(read.entries.len() as u64, n);
    let t = read.torn_tail.expect("torn tail reported");
    assert_eq!((t.offset, t.len), (intact, torn.len() as u64));
    let r = store.replay(seg).unwrap();
    assert_eq!(r.last_seq, n - 1);
    assert!(r.torn_tail.is_some());

    let mut w = store.open_writer(seg).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        intact,
        "tail cut off"
    );
    assert_eq!(w.next_seq(), n, "no phantom entry counted");
    let read = store.read_segment(seg).unwrap();
    assert_eq!(read.entries.len() as u64, n);
    assert!(read.torn_tail.is_none());

    let seq = w
        .append(&EntryKind::UserInput {
            text: "after crash".into(),
        })
        .unwrap();
    assert_eq!(seq, n, "new append gets last + 1");
    let read = store.read_segment(seg).unwrap();
    assert_eq!(read.entries.len() as u64, n + 1);
    for (i, e) in read.entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64);
    }
}

#[test]
fn a_segment_without_any_complete_entry_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let w = common::new_segment(&store);
    let seg = w.segment_id();
    drop(w);
    let path = store.segment_path(seg).unwrap();
    std::fs::write(&path, b"{\"seq\":0,").unwrap();
    let err = store.open_writer(seg).unwrap_err().to_string();
    assert!(err.contains("no segment_start"), "{err}");
    // Refusing must not have modified the file.
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"seq\":0,");
    let err = store.replay(seg).unwrap_err().to_string();
    assert!(err.contains("no segment_start"), "{err}");
}

#[test]
fn reopening_a_long_segment_finds_the_last_entry_past_the_tail_window() {
    // Entries larger than the 64 KiB tail window force the window to grow.
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let mut w = common::new_segment(&store);
    let seg = w.segment_id();
    for _ in 0..3 {
        w.append(&EntryKind::UserInput {
            text: "x".repeat(150_000),
        })
        .unwrap();
    }
    drop(w);
    let w = store.open_writer(seg).unwrap();
    assert_eq!(w.next_seq(), 4);
}

#[test]
fn a_crash_at_every_byte_of_the_last_append_is_recovered() {
    // Every state a crash during the final write could leave on disk: each prefix
    // of the last line. Each must read as "previous entries + torn tail" and reopen
    // to the same intact log.
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let mut w = common::new_segment(&store);
    let seg = w.segment_id();
    w.append(&EntryKind::UserInput { text: "one".into() })
        .unwrap();
    let intact_len = std::fs::metadata(w.path()).unwrap().len() as usize;
    w.append(&EntryKind::AssistantItem {
        item: transcript::Item::AssistantMessage {
            text: "two \"quoted\" ✓".into(),
        },
    })
    .unwrap();
    drop(w);
    let path = store.segment_path(seg).unwrap();
    let full = std::fs::read(&path).unwrap();
    for cut in intact_len..full.len() {
        std::fs::write(&path, &full[..cut]).unwrap();
        let read = store.read_segment(seg).unwrap();
        assert_eq!(read.entries.len(), 2, "cut at {cut}");
        assert_eq!(
            read.torn_tail.map(|t| t.len as usize).unwrap_or(0),
            cut - intact_len,
            "cut at {cut}"
        );
        let w = store.open_writer(seg).unwrap();
        assert_eq!(w.next_seq(), 2, "cut at {cut}");
        drop(w);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            &full[..intact_len],
            "cut at {cut}"
        );
    }
}
