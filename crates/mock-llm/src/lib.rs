//! `mock-llm`: a scripted LLM provider server for offline tests, benchmarks and demos.
//!
//! **Owns:** a real HTTP server (axum) speaking the streaming wire formats of OpenAI Chat
//! Completions, Anthropic Messages, OpenAI Responses and Gemini; the script format that
//! says what to answer (text, reasoning, tool calls, usage, stop reason) and which faults
//! to inject (error statuses with `Retry-After`, cut and stalled streams, in-stream errors,
//! frames split across TCP writes, pacing, endless streams); and the log of every
//! request received.
//!
//! **Never owns:** any client logic (that is the `llm` crate) or provider-neutral
//! conversation types (`transcript`). It must never call a real provider.
//!
//! **Invariants:**
//! - Secret-bearing headers (`authorization`, `x-api-key`, `x-goog-api-key`, `api-key`)
//!   are masked before a request is stored; an unmasked key is never kept or served.
//! - Each scripted response is served at most `times` times; when none is left the
//!   answer is HTTP 500 whose message starts with [`EXHAUSTED_MESSAGE`].
//! - Whatever the faults, the concatenated bytes of a stream are exactly the dialect's
//!   frames (up to a cut), so split frames test reassembly, not content.
//!
//! The script format and wire shapes are documented in the crate README.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mock_llm::MockError> {
//! let script = mock_llm::Script::from_yaml_str("responses: [{output: [{text: Hello}]}]")?;
//! let server = mock_llm::MockServer::start(script).await?;
//! let openai_base = format!("{}/v1", server.base_url());
//! # let _ = openai_base;
//! server.shutdown().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod dialect;
mod error;
mod faults;
mod matcher;
mod plan;
mod raw;
mod record;
mod script;
mod server;

pub use dialect::Dialect;
pub use error::MockError;
pub use record::RecordedRequest;
pub use script::{
    Chunking, InStreamError, Matcher, Part, ReasoningPart, Response, RetryAfter, Script, Stop,
    TextPart, ToolCallPart, Usage,
};
pub use server::{CONVERSATION_HEADER, EXHAUSTED_MESSAGE, MockServer};

/// The README's Rust examples, compiled as doctests so the documented API cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
