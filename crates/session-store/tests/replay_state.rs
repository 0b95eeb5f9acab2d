//! Replay rebuilds what a runtime restores: history, turns, config, usage,
//! extensions, whether the last run was interrupted, unanswered tool calls.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::json;
use session_store::EntryKind;
use transcript::{Item, RequestConfig, ToolCall, ToolResult, Usage};

fn call(id: &str) -> EntryKind {
    EntryKind::AssistantItem {
        item: Item::ToolCall(ToolCall {
            call_id: id.into(),
            name: "shell".into(),
            arguments: "{}".into(),
        }),
    }
}

fn result(id: &str) -> EntryKind {
    EntryKind::ToolResult {
        result: ToolResult {
            call_id: id.into(),
            name: "shell".into(),
            output: "ok".into(),
            is_error: false,
        },
    }
}

#[test]
fn replay_restores_every_part_of_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let mut w = common::new_segment(&store);
    let seg = w.segment_id();
    w.append(&EntryKind::SystemItem {
        text: "child x finished".into(),
    })
    .unwrap();
    w.append(&EntryKind::UserInput { text: "go".into() })
        .unwrap();
    w.append(&call("c1")).unwrap();
    w.append(&call("c2")).unwrap();
    w.append(&result("c1")).unwrap();
    w.append(&EntryKind::Usage {
        usage: Usage {
            input_tokens: 10,
            output_tokens: 2,
            ..Default::default()
        },
    })
    .unwrap();
    w.append(&EntryKind::Usage {
        usage: Usage {
            input_tokens: 5,
            ..Default::default()
        },
    })
    .unwrap();
    let cfg = RequestConfig {
        provider: "p".into(),
        model: "bigger".into(),
        temperature: Some(0.5),
        ..Default::default()
    };
    w.append(&EntryKind::ConfigChanged {
        config: cfg.clone(),
    })
    .unwrap();
    w.append(&EntryKind::Extension {
        domain: "pod.children".into(),
        payload: json!({"spawned": "b"}),
    })
    .unwrap();
    w.append(&EntryKind::TurnEnd { turn: 1 }).unwrap();
    drop(w); // "crash": no run_completed

    let r = store.replay(seg).unwrap();
    assert_eq!(r.history.len(), 5);
    assert_eq!(
        r.history[0],
        Item::Notice {
            text: "child x finished".into()
        }
    );
    assert_eq!(r.history[1], Item::UserMessage { text: "go".into() });
    assert!(matches!(&r.history[4], Item::ToolResult(t) if t.call_id == "c1"));
    assert_eq!(r.turn_count, 1);
    assert_eq!(r.config, cfg);
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (15, 2));
    assert_eq!(
        r.extensions,
        vec![("pod.children".to_string(), json!({"spawned": "b"}))]
    );
    assert_eq!(r.system_prompt, "you are a test");
    assert_eq!(r.last_seq, 10);
    assert!(r.ended_interrupted);
    assert_eq!(r.unanswered_tool_calls.len(), 1);
    assert_eq!(r.unanswered_tool_calls[0].call_id, "c2");
    assert!(r.torn_tail.is_none());

    // Closing the run clears the interrupted flag.
    let mut w = store.open_writer(seg).unwrap();
    w.append(&result("c2")).unwrap();
    w.append(&EntryKind::RunErrored { error: "x".into() })
        .unwrap();
    let r = store.replay(seg).unwrap();
    assert!(!r.ended_interrupted);
    assert!(r.unanswered_tool_calls.is_empty());
    // A notice while idle does not open a run.
    w.append(&EntryKind::SystemItem { text: "n".into() })
        .unwrap();
    assert!(!store.replay(seg).unwrap().ended_interrupted);
}

#[test]
fn read_from_a_cursor_returns_only_later_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let mut w = common::new_segment(&store);
    let seg = w.segment_id();
    common::append_run(&mut w, 1, 3, "a");
    let total = w.next_seq();
    let later = store.read_from(seg, 4).unwrap();
    let seqs: Vec<u64> = later.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (5..total).collect::<Vec<_>>());
    assert!(store.read_from(seg, total + 10).unwrap().entries.is_empty());
    assert_eq!(
        store.read_from(seg, 0).unwrap().entries.len() as u64,
        total - 1
    );
}

#[test]
fn timestamps_are_unix_milliseconds() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store(&dir);
    let mut w = common::new_segment(&store);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    w.append(&EntryKind::RunCompleted).unwrap();
    let e = &store.read_segment(w.segment_id()).unwrap().entries[1];
    assert!(
        e.ts_ms >= before && e.ts_ms < before + 60_000,
        "{}",
        e.ts_ms
    );
}
