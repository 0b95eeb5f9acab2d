//! Helpers shared by the integration tests.
#![allow(dead_code)]

use session_store::{EntryKind, NewSegment, SegmentWriter, SessionStore};
use transcript::{Item, RequestConfig, ToolCall, ToolResult};

pub fn store(dir: &tempfile::TempDir) -> SessionStore {
    SessionStore::new(dir.path().join("sessions"))
}

pub fn new_segment(store: &SessionStore) -> SegmentWriter {
    store
        .create_segment(NewSegment {
            system_prompt: "you are a test".into(),
            config: RequestConfig {
                provider: "mock".into(),
                model: "m1".into(),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap()
}

/// Appends one complete run of `turns` turns: user input, then per turn an assistant
/// tool call, its result and a turn_end; then a final message and run_completed.
/// Returns the last turn number.
pub fn append_run(w: &mut SegmentWriter, first_turn: u64, turns: u64, tag: &str) -> u64 {
    w.append(&EntryKind::UserInput {
        text: format!("question {tag}"),
    })
    .unwrap();
    let mut turn = first_turn;
    for i in 0..turns {
        turn = first_turn + i;
        let call_id = format!("{tag}-c{turn}");
        w.append(&EntryKind::AssistantItem {
            item: Item::ToolCall(ToolCall {
                call_id: call_id.clone(),
                name: "read_file".into(),
                arguments: "{}".into(),
            }),
        })
        .unwrap();
        w.append(&EntryKind::ToolResult {
            result: ToolResult {
                call_id,
                name: "read_file".into(),
                output: format!("output {turn}"),
                is_error: false,
            },
        })
        .unwrap();
        w.append(&EntryKind::TurnEnd { turn }).unwrap();
    }
    w.append(&EntryKind::AssistantItem {
        item: Item::AssistantMessage {
            text: format!("answer {tag}"),
        },
    })
    .unwrap();
    w.append(&EntryKind::RunCompleted).unwrap();
    turn
}
