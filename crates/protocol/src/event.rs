//! Events a Pod broadcasts to its clients.

use serde::{Deserialize, Serialize};
use transcript::{ImageRef, Item, StopReason, ToolResult, Usage};

/// The controller's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PodState {
    /// Waiting for input.
    Idle,
    /// A run is in progress.
    Running,
    /// Not starting runs until resumed (e.g. restored after an interrupted run).
    Paused,
}

/// A Pod's status as reported by `status` and `hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodStatus {
    /// Pod name.
    pub name: pod_ids::PodName,
    /// Controller state.
    pub state: PodState,
    /// Process id.
    pub pid: u32,
    /// Session.
    pub session_id: pod_ids::SessionId,
    /// Active segment.
    pub segment_id: pod_ids::SegmentId,
    /// Model id.
    #[serde(default)]
    pub model: String,
    /// Completed turns.
    #[serde(default)]
    pub turns: u64,
    /// Usage of the session so far.
    #[serde(default)]
    pub usage: Usage,
    /// Current effective scope.
    #[serde(default)]
    pub scope: scope::Scope,
    /// Input waiting behind the current run.
    #[serde(default)]
    pub queued_inputs: usize,
    /// The model's context window in tokens, when configured or known (for the
    /// clients' context meter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    /// Tool calls waiting for an approval now (a client that attaches late shows
    /// their prompts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_approvals: Vec<crate::ApprovalRequest>,
}

/// Something that happened in a Pod. Durable events mirror session-log entries and
/// are broadcast only after the entry was appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// Controller state changed.
    StateChanged {
        /// New state.
        state: PodState,
    },
    /// A run started. `quiet`: a child's run that its parent did not ask for (its
    /// input came only from other clients, e.g. a user talking to the child
    /// directly), whose report does not wake the parent for a paid turn.
    RunStarted {
        /// See above.
        #[serde(default)]
        quiet: bool,
    },
    /// User input was accepted and logged.
    UserInput {
        /// The text.
        text: String,
    },
    /// Streaming assistant text (not durable; the completed item follows).
    TextDelta {
        /// The new text.
        delta: String,
    },
    /// Streaming reasoning text (not durable).
    ReasoningDelta {
        /// The new text.
        delta: String,
    },
    /// A completed assistant item (text, reasoning, tool call), already logged.
    AssistantItem {
        /// The item.
        item: Item,
    },
    /// A tool call started executing.
    ToolStarted {
        /// The call id.
        call_id: String,
        /// The tool.
        name: String,
    },
    /// A tool result, already logged.
    ToolResult {
        /// The result.
        result: ToolResult,
        /// How long the tool ran.
        #[serde(default)]
        duration_ms: u64,
    },
    /// Images shown to the model (attached by the user, or produced by a tool),
    /// already logged; the bytes stay in the Pod's blob store.
    Images {
        /// The images.
        images: Vec<ImageRef>,
    },
    /// A notice shown to the model, already logged.
    Notice {
        /// Exact text.
        text: String,
    },
    /// Usage of one model call.
    Usage {
        /// Tokens.
        usage: Usage,
    },
    /// A turn ended.
    TurnEnd {
        /// Turn number (1-based).
        turn: u64,
        /// Why the model stopped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop: Option<StopReason>,
    },
    /// The run finished normally.
    RunCompleted {
        /// The final assistant text of the run.
        #[serde(default)]
        final_text: String,
    },
    /// The run ended with an error or was cancelled.
    RunErrored {
        /// What went wrong.
        error: String,
        /// True when the user or a shutdown cancelled it.
        #[serde(default)]
        cancelled: bool,
        /// True when retrying cannot help until the user fixes the configuration:
        /// the provider refused the key (401/403), does not know the model, or could
        /// not be reached at all (connection refused, no such host).
        #[serde(default)]
        config_error: bool,
    },
    /// The model replaced its plan (`update_plan`); already logged as
    /// `extension{pod.plan}`. `plan` is `{steps: [{text, status}], note}`.
    PlanUpdated {
        /// The whole new plan.
        plan: serde_json::Value,
    },
    /// The conversation was compacted: the Pod continues in a new segment holding a
    /// summary (token counts are estimates). Already recorded in both segments.
    Compacted {
        /// `threshold`, `context_too_long` or `requested`.
        why: String,
        /// The segment left behind (unchanged).
        from_segment: String,
        /// The new active segment.
        to_segment: String,
        /// Tokens before.
        before_tokens: u64,
        /// Tokens after.
        after_tokens: u64,
    },
    /// A tool call waits for an approval (an `ask` rule or hook); already logged as
    /// `extension{pod.permission}`. Answer with the `answer_approval` request.
    ApprovalRequested {
        /// What waits.
        approval: crate::ApprovalRequest,
    },
    /// An approval was answered (or withdrawn: the run was cancelled); logged.
    ApprovalResolved {
        /// The approval's id.
        id: u64,
        /// `once`, `always`, `deny`, or `cancelled`.
        decision: String,
        /// The reason given, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Who answered: `client`, `parent`, `approve_all`, `run`.
        #[serde(default)]
        by: String,
    },
    /// The Pod is shutting down.
    ShuttingDown {
        /// Why.
        reason: String,
    },
    /// An event kind this client does not know (ignored).
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientMessage, ErrorCode, Request, ServerMessage, decode_line, encode_line};

    #[test]
    fn unknown_event_kinds_and_fields_are_tolerated() {
        let line =
            r#"{"type":"event","seq":3,"event":{"kind":"from_the_future","x":1},"extra":true}"#;
        let m: ServerMessage = decode_line(line).unwrap();
        assert_eq!(
            m,
            ServerMessage::Event {
                seq: 3,
                event: Event::Unknown
            }
        );
        let line =
            r#"{"type":"event","seq":4,"event":{"kind":"notice","text":"hi","new_field":[1]}}"#;
        let m: ServerMessage = decode_line(line).unwrap();
        assert_eq!(
            m,
            ServerMessage::Event {
                seq: 4,
                event: Event::Notice { text: "hi".into() }
            }
        );
        let m: ServerMessage = decode_line(r#"{"type":"brand_new"}"#).unwrap();
        assert_eq!(m, ServerMessage::Unknown);
        let m: ServerMessage =
            decode_line(r#"{"type":"error","id":1,"code":"weird","message":"m"}"#).unwrap();
        assert!(matches!(
            m,
            ServerMessage::Error {
                code: ErrorCode::Unknown,
                ..
            }
        ));
    }

    #[test]
    fn requests_round_trip_with_ids() {
        for request in [
            Request::SendInput {
                text: "a\nb".into(),
                mode: crate::InputMode::Interrupt,
                attachments: Vec::new(),
            },
            Request::Snapshot { since_seq: Some(9) },
            Request::Shutdown,
        ] {
            let line = encode_line(&ClientMessage::Request {
                id: 42,
                request: request.clone(),
            })
            .unwrap();
            assert_eq!(
                line.matches('\n').count(),
                1,
                "exactly one newline: {line:?}"
            );
            let back: ClientMessage = decode_line(&line).unwrap();
            assert_eq!(back, ClientMessage::Request { id: 42, request });
        }
        // mode defaults to queue
        let m: ClientMessage =
            decode_line(r#"{"type":"request","id":1,"request":"send_input","text":"x"}"#).unwrap();
        assert!(matches!(
            m,
            ClientMessage::Request {
                request: Request::SendInput {
                    mode: crate::InputMode::Queue,
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        assert!(decode_line::<ClientMessage>("{not json").is_err());
        assert!(
            decode_line::<ClientMessage>(r#"{"type":"request","request":"status"}"#).is_err(),
            "id is required"
        );
        let huge = "x".repeat(crate::MAX_LINE_BYTES + 1);
        assert!(matches!(
            decode_line::<ClientMessage>(&huge),
            Err(crate::FrameError::TooLong(_))
        ));
    }
}
