//! Replay: folding a segment's entries into the state a runtime restores from.

use std::path::Path;

use pod_ids::{SegmentId, SessionId};
use serde_json::Value;
use transcript::{Item, RequestConfig, ToolCall, ToolSpec, Usage};

use crate::entry::{Entry, EntryKind, Lineage};
use crate::error::{Result, StoreError};
use crate::reader::TornTail;

/// The state a segment replays to.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    /// The session.
    pub session_id: SessionId,
    /// The segment replayed.
    pub segment_id: SegmentId,
    /// The system prompt (from `segment_start`).
    pub system_prompt: String,
    /// The request config after the last `config_changed`.
    pub config: RequestConfig,
    /// The tools offered (from `segment_start`).
    pub tools: Vec<ToolSpec>,
    /// The conversation: seed history, then `user_input` → `UserMessage`,
    /// `system_item` → `Notice`, `assistant_item` → its item, `tool_result` →
    /// `ToolResult`.
    pub history: Vec<Item>,
    /// The last completed turn (numbered along the lineage: a segment forked at turn
    /// 5 starts at 5).
    pub turn_count: u64,
    /// Sum of every `usage` entry in this segment.
    pub usage: Usage,
    /// `extension` entries in order, as `(domain, payload)`.
    pub extensions: Vec<(String, Value)>,
    /// Fork lineage, if any.
    pub forked_from: Option<Lineage>,
    /// Compaction lineage, if any.
    pub compacted_from: Option<Lineage>,
    /// Seq of the last entry replayed.
    pub last_seq: u64,
    /// True when a run was in progress (a `user_input`, `assistant_item` or
    /// `tool_result` after the last `run_completed`/`run_errored`) and the log ends
    /// without a terminal entry: the process died mid-run. A `system_item` alone does
    /// not open a run (notices are appended while idle, too).
    pub ended_interrupted: bool,
    /// Tool calls in the history without a matching result, in order. The runtime
    /// closes them with a synthetic "interrupted" result before the next request,
    /// so they are never re-executed.
    pub unanswered_tool_calls: Vec<ToolCall>,
    /// Entries of unknown kind that were skipped.
    pub unknown_entries: usize,
    /// The segment ended in a torn (ignored) line.
    pub torn_tail: Option<TornTail>,
}

/// Folds `entries` (a whole segment, in order). With `until_turn`, stops right
/// after the `turn_end` of that turn (or after `segment_start` when it is the
/// segment's base turn) and fails with [`StoreError::UnknownTurn`] if there is none.
pub(crate) fn replay_entries(
    path: &Path,
    entries: Vec<Entry>,
    torn_tail: Option<TornTail>,
    until_turn: Option<u64>,
) -> Result<Replayed> {
    // Consumes the entries so their strings move into the history instead of being
    // copied (a measurable share of replay time on large segments).
    let mut entries = entries.into_iter();
    let Some(Entry {
        seq: first_seq,
        kind: EntryKind::SegmentStart(start),
        ..
    }) = entries.next()
    else {
        return Err(StoreError::MissingStart {
            path: path.to_path_buf(),
        });
    };
    let start = *start;
    let base = start.base_turn();
    let mut r = Replayed {
        session_id: start.session_id,
        segment_id: start.segment_id,
        system_prompt: start.system_prompt,
        config: start.config,
        tools: start.tools,
        history: Vec::with_capacity(start.history.len() + entries.len()),
        turn_count: base,
        usage: Usage::default(),
        extensions: Vec::new(),
        forked_from: start.forked_from,
        compacted_from: start.compacted_from,
        last_seq: first_seq,
        ended_interrupted: false,
        unanswered_tool_calls: Vec::new(),
        unknown_entries: 0,
        torn_tail,
    };
    for item in start.history {
        r.push_item(item);
    }
    if until_turn == Some(base) {
        return Ok(r);
    }
    let mut reached = false;
    for e in entries {
        r.last_seq = e.seq;
        match e.kind {
            EntryKind::UserInput { text } => {
                r.ended_interrupted = true;
                r.push_item(Item::UserMessage { text });
            }
            EntryKind::AssistantItem { item } => {
                r.ended_interrupted = true;
                r.push_item(item);
            }
            EntryKind::ToolResult { result } => {
                r.ended_interrupted = true;
                r.push_item(Item::ToolResult(result));
            }
            EntryKind::SystemItem { text } => r.push_item(Item::Notice { text }),
            EntryKind::Images { images } => {
                for image in images {
                    r.push_item(Item::Image { image });
                }
            }
            EntryKind::TurnEnd { turn } => {
                r.turn_count = turn;
                if until_turn == Some(turn) {
                    reached = true;
                    break;
                }
            }
            EntryKind::RunCompleted | EntryKind::RunErrored { .. } => r.ended_interrupted = false,
            EntryKind::ConfigChanged { config } => r.config = config,
            EntryKind::Usage { usage } => r.usage.add(&usage),
            EntryKind::Extension { domain, payload } => r.extensions.push((domain, payload)),
            // A second segment_start would be corruption, but the reader already
            // pins seq 0 to line 1, so treat it like any kind replay cannot use.
            EntryKind::SegmentStart(_) | EntryKind::Unknown(_) => r.unknown_entries += 1,
        }
    }
    match until_turn {
        Some(turn) if !reached => Err(StoreError::UnknownTurn {
            segment_id: r.segment_id,
            turn,
            first: base,
            last: r.turn_count,
            ancestor: (turn < base)
                .then(|| r.forked_from.or(r.compacted_from).map(|l| l.segment_id))
                .flatten(),
        }),
        _ => Ok(r),
    }
}

impl Replayed {
    fn push_item(&mut self, item: Item) {
        match &item {
            Item::ToolCall(call) => self.unanswered_tool_calls.push(call.clone()),
            Item::ToolResult(res) => self
                .unanswered_tool_calls
                .retain(|c| c.call_id != res.call_id),
            _ => {}
        }
        self.history.push(item);
    }
}
