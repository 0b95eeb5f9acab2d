//! Requests, replies and the envelope of every line.

use serde::{Deserialize, Serialize};

use crate::event::{Event, PodStatus};

/// A line from a client to a Pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// First line of every connection.
    Hello {
        /// The client's [`crate::PROTOCOL_VERSION`].
        protocol_version: u32,
        /// Free-form client name for logs (`pod-cli`, `pod-tui`, `parent:lead`).
        #[serde(default)]
        client: String,
        /// Replay events after this `seq` before live ones (`None`: live only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since_seq: Option<u64>,
        /// The Pod's capability token, read from the file next to its socket
        /// ([`crate::token_path`]). Without the right one the Pod answers nothing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// A request; answered by exactly one `ack` or `error` with the same `id`.
    Request {
        /// Chosen by the client; echoed in the answer.
        id: u64,
        /// What is asked.
        #[serde(flatten)]
        request: Request,
    },
}

/// How new input treats a run in progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputMode {
    /// Run after the current run ends (default).
    #[default]
    Queue,
    /// Cancel the current run, then run this input.
    Interrupt,
}

/// What a client can ask of a Pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Give the Pod user input.
    SendInput {
        /// The text.
        text: String,
        /// Queue behind or interrupt a running turn.
        #[serde(default)]
        mode: InputMode,
        /// Files and images to attach. The Pod reads each one itself, inside its own
        /// readable scope, before it acknowledges the input: a path it may not read
        /// refuses the whole input, and nothing is queued.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<Attachment>,
    },
    /// Cancel the current run; the Pod stays alive and idle.
    Interrupt,
    /// Stop starting new runs (the current one is cancelled).
    Pause,
    /// Leave `paused`; queued input and notices run.
    Resume,
    /// Current status.
    Status,
    /// Events after a cursor (for a client that attaches or fell behind).
    Snapshot {
        /// Return events with `seq` greater than this; `None` = from the start.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since_seq: Option<u64>,
    },
    /// Shut the Pod down cleanly.
    Shutdown,
    /// Compact the conversation now into a new segment (refused unless idle);
    /// answered with `{from_segment, segment_id, before_tokens, after_tokens,
    /// local_ms}` (`local_ms`: time spent outside the model call).
    Compact,
    /// A child Pod reports to its parent (ARCHITECTURE §9). Accepted only when the
    /// connection's peer pid (SO_PEERCRED) is the child's recorded pid and `token` is
    /// the per-child callback token the parent handed over in the child's 0600 launch
    /// file; anything else is refused with `unauthorized` and logged by the parent.
    ChildReport {
        /// The reporting child's name.
        child: String,
        /// The per-child callback secret.
        token: String,
        /// What happened.
        report: ChildReport,
        /// The run was not one the parent asked for (see `Event::RunStarted`): the
        /// parent shows the report with its next run instead of starting one.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        quiet: bool,
        /// Names this report across retries, so a parent that recorded it and then
        /// crashed before answering does not tell its model twice.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report_id: Option<String>,
    },
    /// Restore a stopped or lost child of this Pod under this Pod's allocation (its
    /// own stored manifest and delegated scope); answered with `{pid}` once the child
    /// is ready. What `pod resume CHILD` asks a live parent.
    ResumeChild {
        /// The child's name.
        child: String,
    },
    /// The Pod's MCP servers: answered with `{servers: [{name, transport, state,
    /// pid, restarts, last_error, tools: [{name, server_name, description,
    /// parameters}]}]}` (what `pod mcp list` shows).
    McpServers,
    /// Answer a pending approval (`approval_requested` event): the TUI, a line-mode
    /// client, or the parent Pod (`answer_approval` tool). The first answer wins;
    /// a later one is an `invalid_state` error.
    AnswerApproval {
        /// The approval's id.
        approval: u64,
        /// Run it once, always (for this Pod), or deny it.
        decision: ApprovalDecision,
        /// Why (a denial's reason reaches the model).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// An answer to an approval request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// Run this call.
    Once,
    /// Run this call and every later one with the same command or path (or of the
    /// same tool, for tools without one) for the rest of this Pod process.
    Always,
    /// Do not run it; the reason goes to the model as the tool result.
    Deny,
}

/// A tool call waiting for an approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// Unique within the Pod (increasing across its restarts).
    pub id: u64,
    /// The tool.
    pub tool: String,
    /// Its arguments.
    pub arguments: serde_json::Value,
    /// The argument part rules matched (the command, the canonical path, the JSON).
    #[serde(default)]
    pub subject: String,
    /// What asked: `rule ask: bash(git push*)`, `default ask`, `pre_tool_use hook: …`.
    #[serde(default)]
    pub why: String,
    /// The asking Pod's working directory (relative paths in `arguments`).
    #[serde(default)]
    pub cwd: std::path::PathBuf,
}

/// Something attached to user input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Attachment {
    /// A text file: the model sees its path and its numbered lines (capped as
    /// `read_file` caps them).
    File {
        /// Absolute, or relative to the Pod's working directory.
        path: String,
    },
    /// An image file (PNG, JPEG, GIF or WebP, at most 5 MiB) shown to the model.
    Image {
        /// Absolute, or relative to the Pod's working directory.
        path: String,
    },
}

/// What a child tells its parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChildReport {
    /// A run ended with a final answer; the child is idle and keeps its scope.
    Finished {
        /// The final answer (the parent caps it before showing the model).
        final_text: String,
    },
    /// A run ended with an error; the child is idle and keeps its scope.
    Errored {
        /// The error.
        error: String,
    },
    /// A tool call of the child waits for an approval; the parent may answer it
    /// with `answer_approval` (or a human attached to the child does).
    ApprovalRequested {
        /// What waits.
        approval: ApprovalRequest,
    },
}

/// Machine-readable error class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The line was not a valid message.
    Malformed,
    /// Protocol versions differ.
    VersionMismatch,
    /// The request cannot be served in the current state.
    InvalidState,
    /// Peer is not allowed.
    Unauthorized,
    /// Anything else.
    Internal,
    /// A code this client does not know.
    #[serde(other)]
    Unknown,
}

/// A line from a Pod to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First line the Pod sends.
    Hello {
        /// The Pod's [`crate::PROTOCOL_VERSION`].
        protocol_version: u32,
        /// Current status.
        status: PodStatus,
        /// `seq` of the latest event so far.
        last_seq: u64,
        /// Assistant text of the model call in progress, streamed before `last_seq`
        /// (empty when none): a client joining mid-answer shows it, then appends
        /// the `text_delta`s that follow.
        #[serde(default)]
        in_progress_text: String,
    },
    /// Success answer to request `id`.
    Ack {
        /// The request's id.
        id: u64,
        /// Request-specific result (e.g. a status or a list of events).
        #[serde(default)]
        result: serde_json::Value,
    },
    /// Failure answer to request `id` (or to an unparsable line, where `id` is unknown).
    Error {
        /// The request's id, when it could be read.
        #[serde(default)]
        id: Option<u64>,
        /// Error class.
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
    },
    /// A broadcast event.
    Event {
        /// Monotonic per Pod process.
        seq: u64,
        /// What happened.
        event: Event,
    },
    /// The client fell behind; it should ask for a snapshot from `since_seq`.
    Resync {
        /// The last `seq` this client was sent.
        since_seq: u64,
    },
    /// A message kind this client does not know (ignored).
    #[serde(other)]
    Unknown,
}
