//! The provider-neutral request and the one event stream every dialect produces.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use transcript::{Item, RequestConfig, StopReason, ToolCall, ToolSpec, Usage};

/// One model call, independent of the provider.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// System prompt (empty = none).
    pub system: String,
    /// Conversation so far, in order.
    pub history: Vec<Item>,
    /// Tools offered. Serialised sorted by name (stable, so prompt caches hit).
    pub tools: Vec<ToolSpec>,
    /// Model and sampling settings.
    pub config: RequestConfig,
    /// Base64 bytes of the images [`Item::Image`]s in `history` refer to, by
    /// SHA-256. An image missing here is sent as a short text saying so, never
    /// dropped silently.
    pub images: HashMap<String, Arc<str>>,
}

/// One event of a streamed model call.
///
/// Order: deltas as they arrive; [`StreamEvent::ItemDone`] for each complete item in
/// output order (append it to the log); then [`StreamEvent::Usage`],
/// [`StreamEvent::Stop`] and finally [`StreamEvent::Completed`]. An error ends the
/// stream instead of `Completed`.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Visible text.
    TextDelta(String),
    /// Reasoning / thinking text (or summary).
    ReasoningDelta(String),
    /// A tool call began. `index` is this call's position among the calls of the
    /// response and identifies it in the following events.
    ToolCallStarted {
        /// Position among this response's calls.
        index: usize,
        /// Provider call id (synthesised if the provider gave none).
        call_id: String,
        /// Tool name.
        name: String,
    },
    /// A fragment of one call's JSON arguments.
    ToolCallArgsDelta {
        /// Which call.
        index: usize,
        /// The fragment.
        delta: String,
    },
    /// A call is complete and may be executed.
    ToolCallFinished {
        /// Which call.
        index: usize,
        /// The call.
        call: ToolCall,
    },
    /// A call was cut off (token limit). It must NOT be executed; it is not in
    /// [`Completed::items`].
    ToolCallTruncated {
        /// Which call.
        index: usize,
        /// Provider call id.
        call_id: String,
        /// Tool name.
        name: String,
        /// The arguments received before the cut.
        partial_arguments: String,
    },
    /// A complete assistant item (text, reasoning with its opaque fields, finished tool
    /// call), in output order.
    ItemDone(Item),
    /// Token usage of this call (merged over the stream).
    Usage(Usage),
    /// Why the model stopped.
    Stop(StopReason),
    /// The attempt failed and is being retried after `delay`. Nothing was shown to the
    /// consumer yet, or the replay is being matched against what was shown.
    Retrying {
        /// The attempt that is about to start (2 = first retry).
        attempt: u32,
        /// Wait before it.
        delay: Duration,
        /// Why (an error message; never contains the key).
        reason: String,
    },
    /// A retried attempt produced output that differs from what this stream already
    /// delivered: discard every delta and item received so far for this call; the
    /// events that follow restate the response from its beginning.
    Restarted,
    /// The call finished.
    Completed(Completed),
}

/// The outcome of a finished call.
#[derive(Debug, Clone, PartialEq)]
pub struct Completed {
    /// Complete assistant items in output order (truncated tool calls excluded).
    pub items: Vec<Item>,
    /// Usage.
    pub usage: Usage,
    /// Stop reason.
    pub stop: StopReason,
    /// Calls cut by the token limit (not executable, not in `items`).
    pub truncated_calls: Vec<ToolCall>,
}
