//! The transcript of one Pod as the TUI shows it: a list of display entries built
//! from protocol events (live) or session-log entries (past), plus the per-entry
//! cache of rendered lines.
//!
//! Pure data: no I/O and no terminal. The renderer fills [`Entry::rendered`]; any
//! mutation of an entry clears it, so a cached rendering is never stale.

use std::collections::HashMap;

use protocol::Event;
use ratatui::text::Line;
use transcript::{Item, ToolResult, Usage};

/// Where a tool call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolStatus {
    /// The model asked for it; it has not started.
    Requested,
    /// Executing.
    Running,
    /// Finished successfully.
    Done,
    /// Finished with an error.
    Failed,
}

/// One tool call and (once known) its result.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolEntry {
    /// Provider call id.
    pub call_id: String,
    /// Tool name.
    pub name: String,
    /// Raw JSON arguments.
    pub arguments: String,
    /// Status.
    pub status: ToolStatus,
    /// Output text once finished.
    pub output: Option<String>,
    /// How long it ran: reported live, or from the log's timestamps (call logged
    /// to result logged).
    pub duration_ms: Option<u64>,
}

/// What kind of runtime notice this is, for styling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// About a child Pod (spawned, finished, exited).
    Child,
    /// Scope was reclaimed.
    Reclaim,
    /// Anything else the runtime told the model.
    Other,
}

impl NoticeKind {
    /// Classifies a notice by its text. The runtime's notices name what they are
    /// about; a wrong guess only changes the colour.
    pub fn classify(text: &str) -> NoticeKind {
        let lower = text.to_ascii_lowercase();
        if lower.contains("reclaim") {
            NoticeKind::Reclaim
        } else if lower.contains("child") {
            NoticeKind::Child
        } else {
            NoticeKind::Other
        }
    }
}

/// The content of one display entry.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryKind {
    /// User input.
    User(String),
    /// Assistant text (markdown); `streaming` while deltas still arrive.
    Assistant {
        /// Text so far.
        text: String,
        /// Deltas are still arriving.
        streaming: bool,
    },
    /// Reasoning text; collapsed unless the view expands reasoning.
    Reasoning {
        /// Text so far.
        text: String,
        /// Deltas are still arriving.
        streaming: bool,
    },
    /// A tool call block.
    Tool(ToolEntry),
    /// A notice the runtime showed the model.
    Notice {
        /// Exact text.
        text: String,
        /// Kind, for styling.
        kind: NoticeKind,
    },
    /// End of a turn, with the tokens the turn used.
    TurnEnd {
        /// Turn number.
        turn: u64,
        /// Tokens of the turn's model calls.
        usage: Usage,
    },
    /// A run ended with an error or was cancelled.
    RunError {
        /// Message.
        error: String,
        /// The user (or a shutdown) cancelled it.
        cancelled: bool,
    },
    /// A note from the TUI itself (connection lost, reconnected, shutting down).
    Client(String),
}

/// Lines rendered for one entry at one width with one set of view toggles.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Width rendered for.
    pub width: u16,
    /// View toggles rendered with ([`crate::ui::ViewFlags`] as bits).
    pub flags: u8,
    /// The lines.
    pub lines: Vec<Line<'static>>,
}

/// One display entry and its cached rendering.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Content.
    pub kind: EntryKind,
    /// Cached rendering; cleared on every change to `kind`.
    pub rendered: Option<Rendered>,
}

impl Entry {
    fn new(kind: EntryKind) -> Entry {
        Entry {
            kind,
            rendered: None,
        }
    }
}

/// A Pod's transcript.
#[derive(Debug, Default)]
pub struct Transcript {
    entries: Vec<Entry>,
    /// call id → entry index, so results find their call without a scan.
    tools: HashMap<String, usize>,
    /// Usage of the model calls since the last turn end.
    turn_usage: Usage,
    /// Usage of the whole session as seen by this view.
    session_usage: Usage,
    /// Input tokens of the latest model call: how full the context is.
    last_context_tokens: u64,
    /// When each tool call was logged (log loads only), for its duration.
    call_logged_at: HashMap<String, u64>,
}

impl Transcript {
    /// An empty transcript.
    pub fn new() -> Transcript {
        Transcript::default()
    }

    /// The entries.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Mutable entries (the renderer fills caches).
    pub fn entries_mut(&mut self) -> &mut [Entry] {
        &mut self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Tokens of the session seen so far.
    pub fn session_usage(&self) -> Usage {
        self.session_usage
    }

    /// Prompt size of the latest model call (input + cache reads + cache writes).
    pub fn context_tokens(&self) -> u64 {
        self.last_context_tokens
    }

    /// The user's past inputs, oldest first (for history search).
    pub fn user_inputs(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.entries.iter().filter_map(|e| match &e.kind {
            EntryKind::User(t) => Some(t.as_str()),
            _ => None,
        })
    }

    /// Sets the session usage (from a status report, which knows the whole session).
    pub fn set_session_usage(&mut self, usage: Usage) {
        self.session_usage = usage;
    }

    /// Appends a client-side note.
    pub fn push_client_note(&mut self, text: impl Into<String>) {
        self.push(EntryKind::Client(text.into()));
    }

    /// Appends an entry.
    pub fn push(&mut self, kind: EntryKind) {
        if let EntryKind::Tool(t) = &kind {
            self.tools.insert(t.call_id.clone(), self.entries.len());
        }
        self.entries.push(Entry::new(kind));
    }

    fn last_streaming(&mut self, reasoning: bool) -> Option<&mut String> {
        let last = self.entries.last_mut()?;
        last.rendered = None;
        match &mut last.kind {
            EntryKind::Assistant { text, streaming } if *streaming && !reasoning => Some(text),
            EntryKind::Reasoning { text, streaming } if *streaming && reasoning => Some(text),
            _ => None,
        }
    }

    fn append_delta(&mut self, delta: &str, reasoning: bool) {
        if let Some(text) = self.last_streaming(reasoning) {
            text.push_str(delta);
            return;
        }
        let text = delta.to_string();
        self.push(if reasoning {
            EntryKind::Reasoning {
                text,
                streaming: true,
            }
        } else {
            EntryKind::Assistant {
                text,
                streaming: true,
            }
        });
    }

    /// Index of the still-streaming entry of that kind, searching back a few entries
    /// (a streamed text is completed before anything else is appended after it).
    fn streaming_index(&self, reasoning: bool) -> Option<usize> {
        let start = self.entries.len().saturating_sub(4);
        (start..self.entries.len()).rev().find(|&i| {
            matches!(
                (&self.entries[i].kind, reasoning),
                (
                    EntryKind::Assistant {
                        streaming: true,
                        ..
                    },
                    false
                ) | (
                    EntryKind::Reasoning {
                        streaming: true,
                        ..
                    },
                    true
                )
            )
        })
    }

    fn complete_text(&mut self, full: String, reasoning: bool) {
        let kind = if reasoning {
            EntryKind::Reasoning {
                text: full,
                streaming: false,
            }
        } else {
            EntryKind::Assistant {
                text: full,
                streaming: false,
            }
        };
        match self.streaming_index(reasoning) {
            Some(i) => {
                let e = &mut self.entries[i];
                e.rendered = None;
                e.kind = kind;
            }
            None => self.push(kind),
        }
    }

    /// Marks every streaming entry finished (the run ended; no more deltas come).
    fn finish_streams(&mut self) {
        let start = self.entries.len().saturating_sub(4);
        for e in &mut self.entries[start..] {
            if let EntryKind::Assistant { streaming, .. } | EntryKind::Reasoning { streaming, .. } =
                &mut e.kind
                && *streaming
            {
                *streaming = false;
                e.rendered = None;
            }
        }
    }

    fn tool_mut(&mut self, call_id: &str, name: &str) -> &mut Entry {
        let idx = match self.tools.get(call_id) {
            Some(&i) => i,
            None => {
                self.push(EntryKind::Tool(ToolEntry {
                    call_id: call_id.to_string(),
                    name: name.to_string(),
                    arguments: String::new(),
                    status: ToolStatus::Requested,
                    output: None,
                    duration_ms: None,
                }));
                self.entries.len() - 1
            }
        };
        let e = &mut self.entries[idx];
        e.rendered = None;
        e
    }

    fn apply_result(&mut self, result: ToolResult, duration_ms: Option<u64>) {
        let e = self.tool_mut(&result.call_id, &result.name);
        if let EntryKind::Tool(t) = &mut e.kind {
            t.status = if result.is_error {
                ToolStatus::Failed
            } else {
                ToolStatus::Done
            };
            t.output = Some(result.output);
            t.duration_ms = duration_ms;
        }
    }

    /// Appends a completed conversation item (from a live event or the session log).
    pub fn apply_item(&mut self, item: Item) {
        match item {
            Item::UserMessage { text } => self.push(EntryKind::User(text)),
            Item::AssistantMessage { text } | Item::Refusal { text } => {
                self.complete_text(text, false)
            }
            Item::Reasoning(r) => {
                let text = if r.text.is_empty() && r.redacted_data.is_some() {
                    "(redacted)".to_string()
                } else {
                    r.text
                };
                self.complete_text(text, true)
            }
            Item::ToolCall(call) => {
                let e = self.tool_mut(&call.call_id, &call.name);
                if let EntryKind::Tool(t) = &mut e.kind {
                    t.arguments = call.arguments;
                }
            }
            Item::ToolResult(result) => self.apply_result(result, None),
            Item::Notice { text } => {
                let kind = NoticeKind::classify(&text);
                self.push(EntryKind::Notice { text, kind })
            }
            Item::Image { image } => {
                let shown = if image.source.is_empty() {
                    image.sha256
                } else {
                    image.source
                };
                let text = format!(
                    "[image {shown}, {}, {} bytes]",
                    image.media_type, image.bytes
                );
                self.push(EntryKind::Notice {
                    text,
                    kind: NoticeKind::classify(""),
                })
            }
        }
    }

    fn add_usage(&mut self, usage: &Usage) {
        self.turn_usage.add(usage);
        self.session_usage.add(usage);
        let prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens;
        // A report without input counts (some providers send output-only updates)
        // says nothing about the context size.
        if prompt > 0 {
            self.last_context_tokens = prompt;
        }
    }

    fn turn_end(&mut self, turn: u64) {
        let usage = std::mem::take(&mut self.turn_usage);
        self.finish_streams();
        self.push(EntryKind::TurnEnd { turn, usage });
    }

    /// Applies one live event. State changes are the caller's business (they are
    /// not part of the transcript).
    pub fn apply_event(&mut self, event: Event) {
        match event {
            Event::UserInput { text } => self.push(EntryKind::User(text)),
            Event::RunStarted { .. } => {}
            Event::TextDelta { delta } => self.append_delta(&delta, false),
            Event::ReasoningDelta { delta } => self.append_delta(&delta, true),
            Event::AssistantItem { item } => self.apply_item(item),
            Event::ToolStarted { call_id, name } => {
                let e = self.tool_mut(&call_id, &name);
                if let EntryKind::Tool(t) = &mut e.kind
                    && t.status == ToolStatus::Requested
                {
                    t.status = ToolStatus::Running;
                }
            }
            Event::ToolResult {
                result,
                duration_ms,
            } => self.apply_result(result, Some(duration_ms)),
            Event::Images { images } => {
                for image in images {
                    self.apply_item(Item::Image { image });
                }
            }
            Event::Notice { text } => {
                let kind = NoticeKind::classify(&text);
                self.push(EntryKind::Notice { text, kind })
            }
            Event::Usage { usage } => self.add_usage(&usage),
            Event::TurnEnd { turn, .. } => self.turn_end(turn),
            Event::RunCompleted { .. } => self.finish_streams(),
            Event::RunErrored {
                error, cancelled, ..
            } => {
                self.finish_streams();
                self.push(EntryKind::RunError { error, cancelled });
            }
            Event::ShuttingDown { reason } => {
                self.push_client_note(format!("pod is shutting down: {reason}"))
            }
            Event::PlanUpdated { plan } => self.push_client_note(plan_line(&plan)),
            Event::Compacted {
                why,
                before_tokens,
                after_tokens,
                ..
            } => self.push_client_note(format!(
                "context compacted ({why}): ~{before_tokens} → ~{after_tokens} tokens"
            )),
            Event::ApprovalRequested { approval } => self.push_client_note(format!(
                "approval needed: {} {} ({})",
                approval.tool, approval.subject, approval.why
            )),
            Event::ApprovalResolved {
                decision, reason, ..
            } => self.push_client_note(match reason {
                Some(r) => format!("approval: {decision} ({r})"),
                None => format!("approval: {decision}"),
            }),
            Event::StateChanged { .. } | Event::Unknown => {}
        }
    }

    /// Applies one session-log entry (past transcript of a Pod).
    pub fn apply_log_entry(&mut self, kind: session_store::EntryKind) {
        self.apply_log_entry_at(kind, None);
    }

    /// Applies one session-log entry written at `ts_ms`; a tool result's duration
    /// is the time between its call and its result being logged.
    pub fn apply_log_entry_at(&mut self, kind: session_store::EntryKind, ts_ms: Option<u64>) {
        use session_store::EntryKind as K;
        match kind {
            K::AssistantItem {
                item: Item::ToolCall(call),
            } => {
                if let Some(ts) = ts_ms {
                    self.call_logged_at.insert(call.call_id.clone(), ts);
                }
                self.apply_item(Item::ToolCall(call));
            }
            K::ToolResult { result } => {
                let started = self.call_logged_at.remove(&result.call_id);
                let duration = started.zip(ts_ms).map(|(a, b)| b.saturating_sub(a));
                self.apply_result(result, duration);
            }
            K::SegmentStart(start) => {
                for item in start.history {
                    self.apply_item(item);
                }
            }
            K::UserInput { text } => self.push(EntryKind::User(text)),
            K::AssistantItem { item } => self.apply_item(item),
            K::SystemItem { text } => self.apply_item(Item::Notice { text }),
            K::Images { images } => {
                for image in images {
                    self.apply_item(Item::Image { image });
                }
            }
            K::TurnEnd { turn } => self.turn_end(turn),
            K::RunCompleted => self.finish_streams(),
            K::RunErrored { error } => {
                let cancelled = error.to_ascii_lowercase().contains("cancel");
                self.push(EntryKind::RunError { error, cancelled })
            }
            K::Usage { usage } => self.add_usage(&usage),
            K::Extension { domain, payload } if domain == "pod.plan" => {
                self.push_client_note(plan_line(&payload))
            }
            K::ConfigChanged { .. } | K::Extension { .. } | K::Unknown(_) => {}
        }
    }
}

/// One line for a plan (`{steps: [{text, status}], note}`): `plan: [x] a · [>] b · [ ] c`.
fn plan_line(plan: &serde_json::Value) -> String {
    let steps: Vec<String> = plan["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let mark = match s["status"].as_str() {
                Some("done") => "[x]",
                Some("in_progress") => "[>]",
                _ => "[ ]",
            };
            format!("{mark} {}", s["text"].as_str().unwrap_or_default())
        })
        .collect();
    format!("plan: {}", steps.join(" · "))
}

/// Whether an event mirrors a session-log entry (and so is already part of a
/// transcript loaded from the log).
pub fn is_durable(event: &Event) -> bool {
    matches!(
        event,
        Event::UserInput { .. }
            | Event::AssistantItem { .. }
            | Event::ToolResult { .. }
            | Event::Notice { .. }
            | Event::TurnEnd { .. }
            | Event::RunCompleted { .. }
            | Event::RunErrored { .. }
            | Event::Usage { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use transcript::{Reasoning, ToolCall};

    #[test]
    fn a_plan_shows_as_one_line_live_and_from_the_log() {
        let plan = serde_json::json!({"steps": [
            {"text": "read", "status": "done"},
            {"text": "fix", "status": "in_progress"},
            {"text": "test", "status": "pending"}
        ], "note": null});
        let mut t = Transcript::new();
        t.apply_event(Event::PlanUpdated { plan: plan.clone() });
        t.apply_log_entry(session_store::EntryKind::Extension {
            domain: "pod.plan".into(),
            payload: plan,
        });
        for e in t.entries() {
            assert!(
                matches!(&e.kind, EntryKind::Client(s) if s == "plan: [x] read · [>] fix · [ ] test"),
                "{:?}",
                e.kind
            );
        }
        assert_eq!(t.entries().len(), 2);
    }

    #[test]
    fn deltas_stream_into_one_entry_and_the_item_completes_it() {
        let mut t = Transcript::new();
        t.apply_event(Event::ReasoningDelta { delta: "hm".into() });
        t.apply_event(Event::TextDelta {
            delta: "Hel".into(),
        });
        t.apply_event(Event::TextDelta { delta: "lo".into() });
        assert_eq!(t.len(), 2);
        t.apply_event(Event::AssistantItem {
            item: Item::Reasoning(Reasoning {
                text: "hmm".into(),
                ..Default::default()
            }),
        });
        t.apply_event(Event::AssistantItem {
            item: Item::AssistantMessage {
                text: "Hello".into(),
            },
        });
        assert_eq!(t.len(), 2, "completion replaces the streamed entries");
        assert_eq!(
            t.entries()[1].kind,
            EntryKind::Assistant {
                text: "Hello".into(),
                streaming: false
            }
        );
        assert!(matches!(
            &t.entries()[0].kind,
            EntryKind::Reasoning { text, streaming: false } if text == "hmm"
        ));
    }

    #[test]
    fn tool_result_lands_on_its_call_and_turn_end_carries_usage() {
        let mut t = Transcript::new();
        t.apply_event(Event::AssistantItem {
            item: Item::ToolCall(ToolCall {
                call_id: "c1".into(),
                name: "read_file".into(),
                arguments: "{}".into(),
            }),
        });
        t.apply_event(Event::ToolStarted {
            call_id: "c1".into(),
            name: "read_file".into(),
        });
        t.apply_event(Event::Usage {
            usage: Usage {
                input_tokens: 100,
                output_tokens: 5,
                ..Default::default()
            },
        });
        t.apply_event(Event::ToolResult {
            result: ToolResult {
                call_id: "c1".into(),
                name: "read_file".into(),
                output: "data".into(),
                is_error: false,
            },
            duration_ms: 12,
        });
        t.apply_event(Event::TurnEnd {
            turn: 1,
            stop: None,
        });
        assert_eq!(t.len(), 2);
        let EntryKind::Tool(tool) = &t.entries()[0].kind else {
            panic!("tool entry expected")
        };
        assert_eq!(
            (tool.status, tool.duration_ms, tool.output.as_deref()),
            (ToolStatus::Done, Some(12), Some("data"))
        );
        assert!(
            matches!(t.entries()[1].kind, EntryKind::TurnEnd { turn: 1, usage } if usage.input_tokens == 100)
        );
        assert_eq!(t.context_tokens(), 100);
    }

    #[test]
    fn a_tool_loaded_from_the_log_has_a_duration_from_the_timestamps() {
        use session_store::EntryKind as K;
        let mut t = Transcript::new();
        t.apply_log_entry_at(
            K::AssistantItem {
                item: Item::ToolCall(ToolCall {
                    call_id: "c1".into(),
                    name: "bash".into(),
                    arguments: "{}".into(),
                }),
            },
            Some(1_000),
        );
        t.apply_log_entry_at(
            K::ToolResult {
                result: ToolResult {
                    call_id: "c1".into(),
                    name: "bash".into(),
                    output: "ok".into(),
                    is_error: false,
                },
            },
            Some(3_500),
        );
        assert!(
            matches!(&t.entries()[0].kind, EntryKind::Tool(tool) if tool.duration_ms == Some(2_500))
        );
    }

    #[test]
    fn notices_are_classified() {
        assert_eq!(NoticeKind::classify("child `w` exited"), NoticeKind::Child);
        assert_eq!(
            NoticeKind::classify("scope /a reclaimed from w"),
            NoticeKind::Reclaim
        );
        assert_eq!(NoticeKind::classify("hello"), NoticeKind::Other);
    }
}
