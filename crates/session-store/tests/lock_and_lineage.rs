//! One writer per segment; fork and compaction create new segments with lineage and
//! never touch the source.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use session_store::{EntryKind, Lineage, StoreError};
use transcript::{Item, RequestConfig};

#[test]
fn second_writer_is_refused_with_the_holders_pid() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let w = common::new_segment(&store);
    let seg = w.segment_id();
    let err = store.open_writer(seg).unwrap_err();
    let StoreError::Locked { pid, .. } = &err else {
        panic!("expected Locked, got {err:?}")
    };
    assert_eq!(*pid, Some(std::process::id()));
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    // Released on drop.
    drop(w);
    let mut w2 = store.open_writer(seg).unwrap();
    assert_eq!(w2.append(&EntryKind::RunCompleted).unwrap(), 1);
}

#[test]
fn fork_at_unknown_turn_is_an_error_naming_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let mut w = common::new_segment(&store);
    let seg = w.segment_id();
    common::append_run(&mut w, 1, 3, "a");
    let err = store.fork(seg, 4).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UnknownTurn {
                turn: 4,
                first: 0,
                last: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("no turn 4"), "{err}");
    assert_eq!(store.list_segments(w.session_id()).unwrap(), vec![seg]);
}

#[test]
fn fork_copies_history_up_to_the_turn_and_records_lineage() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let mut w = common::new_segment(&store);
    let seg = w.segment_id();
    common::append_run(&mut w, 1, 2, "a"); // turns 1, 2
    let new_config = RequestConfig {
        provider: "mock".into(),
        model: "m2".into(),
        ..Default::default()
    };
    w.append(&EntryKind::ConfigChanged {
        config: new_config.clone(),
    })
    .unwrap();
    common::append_run(&mut w, 3, 2, "b"); // turns 3, 4
    let source_before = std::fs::read(store.segment_path(seg).unwrap()).unwrap();

    let mut f = store.fork(seg, 1).unwrap();
    assert_eq!(f.session_id(), w.session_id());
    assert_ne!(f.segment_id(), seg);
    assert_eq!(f.next_seq(), 1);
    let r = store.replay(f.segment_id()).unwrap();
    assert_eq!(
        r.forked_from,
        Some(Lineage {
            segment_id: seg,
            at_turn: 1
        })
    );
    assert_eq!(r.compacted_from, None);
    // user input, tool call, tool result of turn 1.
    assert_eq!(r.history.len(), 3);
    assert_eq!(
        r.history[0],
        Item::UserMessage {
            text: "question a".into()
        }
    );
    assert_eq!(r.turn_count, 1);
    assert_eq!(r.config.model, "m1", "config as of the fork point");
    assert!(r.unanswered_tool_calls.is_empty());

    // Turn numbering continues from the fork point.
    f.append(&EntryKind::TurnEnd { turn: 2 }).unwrap();
    assert_eq!(store.replay(f.segment_id()).unwrap().turn_count, 2);

    // Fork at turn 4 sees the later config.
    let f4 = store.fork(seg, 4).unwrap();
    let r4 = store.replay(f4.segment_id()).unwrap();
    assert_eq!(r4.config, new_config);
    assert_eq!(r4.turn_count, 4);

    // A fork of a fork: turns before its base live in the ancestor.
    let err = store.fork(f.segment_id(), 0).unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownTurn { ancestor: Some(a), .. } if a == seg),
        "{err:?}"
    );
    // Forking at its base turn gives its seed history.
    let ff = store.fork(f.segment_id(), 1).unwrap();
    assert_eq!(store.replay(ff.segment_id()).unwrap().history, r.history);

    assert_eq!(
        std::fs::read(store.segment_path(seg).unwrap()).unwrap(),
        source_before,
        "source never rewritten"
    );
    assert_eq!(store.list_segments(w.session_id()).unwrap().len(), 4);
}

#[test]
fn compaction_seeds_the_summary_and_records_lineage() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let mut w = common::new_segment(&store);
    let seg = w.segment_id();
    let last = common::append_run(&mut w, 1, 3, "a");
    let summary = vec![Item::UserMessage {
        text: "summary: read three files".into(),
    }];
    let c = store.compact(seg, last, summary.clone()).unwrap();
    let r = store.replay(c.segment_id()).unwrap();
    assert_eq!(
        r.compacted_from,
        Some(Lineage {
            segment_id: seg,
            at_turn: 3
        })
    );
    assert_eq!(r.forked_from, None);
    assert_eq!(r.history, summary);
    assert_eq!(r.turn_count, 3);
    assert_eq!(r.system_prompt, "you are a test");
    assert!(matches!(
        store.compact(seg, 9, vec![]),
        Err(StoreError::UnknownTurn { turn: 9, .. })
    ));
}

#[test]
fn listing_and_lookup_by_segment_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    assert!(store.list_sessions().unwrap().is_empty());
    let a = common::new_segment(&store);
    let b = common::new_segment(&store);
    let a2 = store.fork(a.segment_id(), 0).unwrap();
    let sessions = store.list_sessions().unwrap();
    assert_eq!(sessions, vec![a.session_id(), b.session_id()]);
    assert_eq!(
        store.list_segments(a.session_id()).unwrap(),
        vec![a.segment_id(), a2.segment_id()]
    );
    assert_eq!(store.session_of(a2.segment_id()).unwrap(), a.session_id());
    assert_eq!(store.segment_path(b.segment_id()).unwrap(), b.path());
    let unknown = pod_ids::SegmentId::new();
    let err = store.replay(unknown).unwrap_err();
    assert!(matches!(err, StoreError::SegmentNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains(&unknown.to_string()));
}

#[test]
fn lookup_does_not_scan_sessions() {
    // With the index entry gone, the segment is not found even though its file
    // exists: proof that lookup reads the index and never walks session dirs.
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let w = common::new_segment(&store);
    let seg = w.segment_id();
    drop(w);
    std::fs::remove_file(dir.path().join("sessions/index").join(seg.to_string())).unwrap();
    assert!(matches!(
        store.segment_path(seg),
        Err(StoreError::SegmentNotFound { .. })
    ));
}

#[test]
fn files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let w = common::new_segment(&store);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(w.path()), 0o600);
    assert_eq!(mode(w.path().parent().unwrap()), 0o700);
    assert_eq!(mode(store.root()), 0o700);
    assert_eq!(mode(&store.root().join("index")), 0o700);
    assert_eq!(
        mode(&store.root().join("index").join(w.segment_id().to_string())),
        0o600
    );
}

#[test]
fn rebuild_index_restores_lookups_for_copied_in_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let a = common::new_segment(&store).segment_id();
    let b = common::new_segment(&store).segment_id();
    std::fs::remove_dir_all(dir.path().join("sessions/index")).unwrap();
    assert!(store.segment_path(a).is_err());
    assert_eq!(store.rebuild_index().unwrap(), 2);
    store.replay(a).unwrap();
    store.replay(b).unwrap();
    assert_eq!(store.rebuild_index().unwrap(), 0, "idempotent");
}
