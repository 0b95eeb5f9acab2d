//! The script: what the server answers, in which order, with which faults.
//!
//! The YAML/JSON shape is documented in the crate README; these types mirror it one to
//! one. Every type is a plain struct with `pub` fields and `Default`, so tests can build
//! scripts in Rust as easily as in YAML.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::dialect::Dialect;
use crate::error::MockError;

/// A whole script: the default conversation plus optional named conversations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Responses for requests without an `x-mock-conversation` header.
    #[serde(default)]
    pub responses: Vec<Response>,
    /// Responses for requests whose `x-mock-conversation` header names the key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conversations: BTreeMap<String, Vec<Response>>,
}

/// One scripted answer: streamed output parts, usage, stop reason, and optional faults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// Serve this response only to requests that match; `None` matches every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Matcher>,
    /// How many times this response is served before it is used up (`None` = 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// The output parts, streamed in order.
    #[serde(default)]
    pub output: Vec<Part>,
    /// Interleave the argument deltas of consecutive tool calls (round robin).
    #[serde(default)]
    pub interleave: bool,
    /// Token usage reported at the end (all zero when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Stop reason; `None` infers `tool_use` when there is a tool call, else `end_turn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Answer this (non-2xx) HTTP status with an error body instead of streaming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Retry-After` header sent with `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<RetryAfter>,
    /// Message placed in the default provider-shaped error body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Replaces the whole error body (a JSON string is sent raw, without quotes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Send this many events, then abort the connection (no terminating chunk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_after_events: Option<usize>,
    /// Send this many events, then stop sending (see `stall_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_after_events: Option<usize>,
    /// How long a stall lasts before the stream continues; `None` = until the client hangs up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_ms: Option<u64>,
    /// Send the dialect's in-stream error after `cut_after_events` events (default 1), then end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_stream_error: Option<InStreamError>,
    /// Write every SSE frame in several pieces (split mid-line), each its own TCP write.
    #[serde(default)]
    pub split_frames: bool,
    /// Delay before each event, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace_ms: Option<u64>,
    /// Delay before the response head (status and headers) is sent, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Never finish: stream the output up to its last delta, then repeat that delta
    /// event forever (`pace_ms` paces it); the closing events are never sent. For
    /// testing a client's response-size cap and total deadline.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub endless: bool,
    /// Replay this file verbatim as the streamed body (a recorded provider stream)
    /// instead of rendering `output`. A relative path is resolved against the script
    /// file's directory (the working directory for scripts given as strings). Stream
    /// faults still apply, counting the file's SSE events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_sse: Option<PathBuf>,
    /// The bytes served for `raw_sse`: loaded when the script is read, or set directly
    /// by Rust callers (then `raw_sse` may stay `None`).
    #[serde(skip)]
    pub raw_sse_body: Option<Arc<str>>,
}

/// Conditions on the request; all given conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    /// The request's last turn carries a tool result for a call with this tool name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tool_result: Option<String>,
    /// The last user text message contains this substring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_user_contains: Option<String>,
    /// The request's model equals this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The request arrived in this dialect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialect: Option<Dialect>,
}

/// Token counts, placed verbatim into each dialect's usage fields (see the README table).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Usage {
    /// Input / prompt tokens.
    pub input: u64,
    /// Output / completion tokens.
    pub output: u64,
    /// Tokens read from the prompt cache.
    pub cache_read: u64,
    /// Tokens written to the prompt cache (Anthropic only).
    pub cache_write: u64,
    /// Reasoning tokens (part of output where the provider says so).
    pub reasoning: u64,
}

/// Why the model stopped, in provider-neutral words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// The model finished its turn.
    EndTurn,
    /// The model wants tool results.
    ToolUse,
    /// The output token limit cut the answer.
    MaxTokens,
}

/// The `Retry-After` value: seconds, or an HTTP-date sent verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RetryAfter {
    /// Delay in seconds.
    Seconds(u64),
    /// An HTTP-date (or any other string), sent as is.
    Date(String),
}

impl RetryAfter {
    /// The header value.
    pub fn header_value(&self) -> String {
        match self {
            RetryAfter::Seconds(s) => s.to_string(),
            RetryAfter::Date(d) => d.clone(),
        }
    }
}

/// Kinds of in-stream error events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InStreamError {
    /// The provider is overloaded (Anthropic `overloaded_error`, Gemini `UNAVAILABLE`, ...).
    Overloaded,
}

/// How a string is cut into streamed pieces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Chunking {
    /// The default for the part kind (8 characters for text, 3 pieces for arguments).
    #[default]
    Default,
    /// Pieces of this many characters.
    Size(usize),
    /// This many pieces of about equal size.
    Count(usize),
    /// Exactly these pieces (they must concatenate to the whole string).
    Pieces(Vec<String>),
}

/// Default piece size of text and reasoning, in characters.
const DEFAULT_TEXT_CHUNK_CHARS: usize = 8;
/// Default number of pieces of tool-call arguments.
const DEFAULT_ARGUMENT_PIECES: usize = 3;

impl Chunking {
    /// Cut `s` into pieces; `is_arguments` picks the default for tool-call arguments.
    pub(crate) fn split(&self, s: &str, is_arguments: bool) -> Vec<String> {
        let chars: Vec<char> = s.chars().collect();
        if chars.is_empty() {
            return Vec::new();
        }
        let size = match self {
            Chunking::Pieces(p) => return p.clone(),
            Chunking::Size(n) => (*n).max(1),
            Chunking::Count(n) => chars.len().div_ceil((*n).max(1)),
            Chunking::Default if is_arguments => chars.len().div_ceil(DEFAULT_ARGUMENT_PIECES),
            Chunking::Default => DEFAULT_TEXT_CHUNK_CHARS,
        };
        chars.chunks(size).map(|c| c.iter().collect()).collect()
    }
}

/// One output part of a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPart", into = "RawPart")]
pub enum Part {
    /// Assistant text.
    Text(TextPart),
    /// Reasoning / thinking.
    Reasoning(ReasoningPart),
    /// Opaque reasoning (Anthropic `redacted_thinking.data`).
    RedactedReasoning(String),
    /// A tool call.
    ToolCall(ToolCallPart),
}

/// Assistant text and how it is chunked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextPart {
    /// The whole text.
    pub text: String,
    /// How it is cut into deltas.
    pub chunking: Chunking,
    /// Gemini `thoughtSignature` attached to the last text part (Gemini 3 signs text turns).
    pub thought_signature: Option<String>,
}

/// Reasoning text with its provider-specific opaque companions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReasoningPart {
    /// The reasoning text (Responses: the summary text).
    pub text: String,
    /// Anthropic thinking signature; Gemini `thoughtSignature`.
    pub signature: Option<String>,
    /// Responses `encrypted_content`.
    pub encrypted_content: Option<String>,
    /// How the text is cut into deltas.
    pub chunking: Chunking,
}

/// A tool call and how its arguments are chunked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolCallPart {
    /// The call id; `None` lets the dialect pick a unique one.
    pub id: Option<String>,
    /// The tool name.
    pub name: String,
    /// The arguments as sent on the wire (usually JSON; may be truncated on purpose).
    pub arguments: String,
    /// How the arguments are cut into deltas.
    pub chunking: Chunking,
    /// Gemini `thoughtSignature` attached to the function call part.
    pub thought_signature: Option<String>,
}

impl Part {
    /// Text with default chunking.
    pub fn text(text: impl Into<String>) -> Part {
        Part::Text(TextPart {
            text: text.into(),
            ..Default::default()
        })
    }

    /// Text streamed as exactly these pieces.
    pub fn text_pieces<S: Into<String>>(pieces: impl IntoIterator<Item = S>) -> Part {
        let pieces: Vec<String> = pieces.into_iter().map(Into::into).collect();
        Part::Text(TextPart {
            text: pieces.concat(),
            chunking: Chunking::Pieces(pieces),
            thought_signature: None,
        })
    }

    /// Reasoning text with an optional signature.
    pub fn reasoning(text: impl Into<String>, signature: Option<&str>) -> Part {
        Part::Reasoning(ReasoningPart {
            text: text.into(),
            signature: signature.map(str::to_owned),
            ..Default::default()
        })
    }

    /// A tool call with explicit id, name and argument string.
    pub fn tool_call(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Part {
        Part::ToolCall(ToolCallPart {
            id: Some(id.into()),
            name: name.into(),
            arguments: arguments.into(),
            ..Default::default()
        })
    }
}

impl Response {
    /// A plain text answer.
    pub fn text(text: impl Into<String>) -> Response {
        Response {
            output: vec![Part::text(text)],
            ..Default::default()
        }
    }

    /// An HTTP error answer with this status.
    pub fn status(status: u16) -> Response {
        Response {
            status: Some(status),
            ..Default::default()
        }
    }

    /// Adds a `Retry-After: SECS` header.
    pub fn with_retry_after_secs(mut self, secs: u64) -> Response {
        self.retry_after = Some(RetryAfter::Seconds(secs));
        self
    }

    /// Checks what serde cannot; the message says what to change.
    pub(crate) fn check(&self) -> Result<(), String> {
        if let Some(s) = self.status
            && !(300..=999).contains(&s)
        {
            return Err(format!(
                "status {s} must be a non-2xx HTTP status (300..=999)"
            ));
        }
        if self.times == Some(0) {
            return Err("times: 0 would never be served; remove the response".into());
        }
        if self.endless {
            if self.status.is_some() || self.in_stream_error.is_some() {
                return Err("`endless` streams forever; it cannot be combined with `status` or `in_stream_error`".into());
            }
            let streams_text = self.output.iter().any(|p| match p {
                Part::Text(t) => !t.text.is_empty(),
                Part::Reasoning(r) => !r.text.is_empty(),
                _ => false,
            });
            if !streams_text {
                return Err(
                    "`endless` repeats the last text or reasoning delta; give a non-empty `text` or `reasoning` part"
                        .into(),
                );
            }
        }
        if self.raw_sse.is_some() || self.raw_sse_body.is_some() {
            if !self.output.is_empty() {
                return Err(
                    "`raw_sse` replays a recorded body; it cannot be combined with `output`".into(),
                );
            }
            if self.status.is_some() || self.in_stream_error.is_some() || self.endless {
                return Err("`raw_sse` cannot be combined with `status`, `in_stream_error` or `endless`; put the error in the recording".into());
            }
        }
        Ok(())
    }

    /// The stop reason sent: explicit, or inferred from the output.
    pub fn effective_stop(&self) -> Stop {
        self.stop.unwrap_or_else(|| {
            if self.output.iter().any(|p| matches!(p, Part::ToolCall(_))) {
                Stop::ToolUse
            } else {
                Stop::EndTurn
            }
        })
    }
}

impl Script {
    /// Parses a YAML script.
    pub fn from_yaml_str(text: &str) -> Result<Script, MockError> {
        let mut script = Self::parse_yaml(text, "<yaml string>")?;
        script.load_raw_bodies(Path::new("."))?;
        Ok(script)
    }

    /// Parses a JSON script.
    pub fn from_json_str(text: &str) -> Result<Script, MockError> {
        let script: Script = serde_json::from_str(text).map_err(|e| MockError::Parse {
            source_name: "<json string>".into(),
            message: e.to_string(),
        })?;
        let mut script = script.validated("<json string>")?;
        script.load_raw_bodies(Path::new("."))?;
        Ok(script)
    }

    /// Reads a script file: JSON when the name ends in `.json`, YAML otherwise.
    /// `raw_sse` paths are resolved against the file's directory and loaded.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Script, MockError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| MockError::Read {
            path: path.to_owned(),
            source,
        })?;
        let name = path.display().to_string();
        let mut script = if path.extension().is_some_and(|e| e == "json") {
            let script: Script = serde_json::from_str(&text).map_err(|e| MockError::Parse {
                source_name: name.clone(),
                message: e.to_string(),
            })?;
            script.validated(&name)?
        } else {
            Self::parse_yaml(&text, &name)?
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        script.load_raw_bodies(dir)?;
        Ok(script)
    }

    /// Reads every `raw_sse` file not loaded yet, resolving relative paths against
    /// `base`. Called by [`Script::from_file`] (base: the script's directory), the
    /// string parsers and [`crate::MockServer::start`] (base: the working directory).
    pub fn load_raw_bodies(&mut self, base: &Path) -> Result<(), MockError> {
        let all = self
            .responses
            .iter_mut()
            .chain(self.conversations.values_mut().flatten());
        for r in all {
            if let (Some(rel), None) = (&r.raw_sse, &r.raw_sse_body) {
                let path = base.join(rel);
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| MockError::Read { path, source })?;
                r.raw_sse_body = Some(Arc::from(text));
            }
        }
        Ok(())
    }

    fn parse_yaml(text: &str, name: &str) -> Result<Script, MockError> {
        let script: Script = serde_norway::from_str(text).map_err(|e| MockError::Parse {
            source_name: name.into(),
            message: e.to_string(),
        })?;
        script.validated(name)
    }

    /// Checks what serde cannot: status ranges and chunk lists that match their text.
    fn validated(self, name: &str) -> Result<Script, MockError> {
        let all = self.responses.iter().map(|r| ("responses", r)).chain(
            self.conversations
                .iter()
                .flat_map(|(k, v)| v.iter().map(move |r| (k.as_str(), r))),
        );
        for (i, (conv, r)) in all.enumerate() {
            r.check().map_err(|message| MockError::Parse {
                source_name: name.into(),
                message: format!("response #{i} in {conv}: {message}"),
            })?;
        }
        Ok(self)
    }
}

/// The YAML/JSON shape of a part: one kind key plus options (see the README).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reasoning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redacted_reasoning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tool_call: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    arguments: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chunks: Option<RawChunks>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chunk_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encrypted_content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    thought_signature: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum RawChunks {
    Count(usize),
    Pieces(Vec<String>),
}

impl RawPart {
    fn chunking(&self, whole: &str) -> Result<Chunking, String> {
        match (&self.chunks, self.chunk_size) {
            (Some(_), Some(_)) => Err("give either `chunks` or `chunk_size`, not both".into()),
            (None, Some(0)) => Err("`chunk_size` must be at least 1".into()),
            (None, Some(n)) => Ok(Chunking::Size(n)),
            (Some(RawChunks::Count(0)), None) => Err("`chunks` must be at least 1".into()),
            (Some(RawChunks::Count(n)), None) => Ok(Chunking::Count(*n)),
            (Some(RawChunks::Pieces(p)), None) => {
                if p.concat() != whole {
                    return Err(format!(
                        "`chunks` pieces concatenate to {:?}, not to the part's text {whole:?}",
                        p.concat()
                    ));
                }
                Ok(Chunking::Pieces(p.clone()))
            }
            (None, None) => Ok(Chunking::Default),
        }
    }
}

impl TryFrom<RawPart> for Part {
    type Error = String;

    fn try_from(raw: RawPart) -> Result<Part, String> {
        let kinds = [
            raw.text.is_some(),
            raw.reasoning.is_some(),
            raw.redacted_reasoning.is_some(),
            raw.tool_call.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(
                "an output part needs exactly one of `text`, `reasoning`, `redacted_reasoning`, `tool_call`".into(),
            );
        }
        let misplaced = |field: &str, present: bool| {
            if present {
                Err(format!("`{field}` does not belong on this kind of part"))
            } else {
                Ok(())
            }
        };
        if let Some(text) = raw.text.clone() {
            misplaced("id", raw.id.is_some())?;
            misplaced("arguments", raw.arguments.is_some())?;
            misplaced("signature", raw.signature.is_some())?;
            misplaced("encrypted_content", raw.encrypted_content.is_some())?;
            let chunking = raw.chunking(&text)?;
            return Ok(Part::Text(TextPart {
                text,
                chunking,
                thought_signature: raw.thought_signature,
            }));
        }
        if let Some(text) = raw.reasoning.clone() {
            misplaced("id", raw.id.is_some())?;
            misplaced("arguments", raw.arguments.is_some())?;
            misplaced("thought_signature", raw.thought_signature.is_some())?;
            let chunking = raw.chunking(&text)?;
            return Ok(Part::Reasoning(ReasoningPart {
                text,
                signature: raw.signature,
                encrypted_content: raw.encrypted_content,
                chunking,
            }));
        }
        if let Some(data) = raw.redacted_reasoning {
            let extra = raw.id.is_some()
                || raw.arguments.is_some()
                || raw.chunks.is_some()
                || raw.chunk_size.is_some()
                || raw.signature.is_some()
                || raw.encrypted_content.is_some()
                || raw.thought_signature.is_some();
            misplaced("an option", extra)?;
            return Ok(Part::RedactedReasoning(data));
        }
        let name = raw.tool_call.clone().unwrap_or_default();
        misplaced("signature", raw.signature.is_some())?;
        misplaced("encrypted_content", raw.encrypted_content.is_some())?;
        let arguments = match &raw.arguments {
            None => "{}".to_owned(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        };
        let chunking = raw.chunking(&arguments)?;
        Ok(Part::ToolCall(ToolCallPart {
            id: raw.id,
            name,
            arguments,
            chunking,
            thought_signature: raw.thought_signature,
        }))
    }
}

fn raw_chunks(c: Chunking) -> (Option<RawChunks>, Option<usize>) {
    match c {
        Chunking::Default => (None, None),
        Chunking::Size(n) => (None, Some(n)),
        Chunking::Count(n) => (Some(RawChunks::Count(n)), None),
        Chunking::Pieces(p) => (Some(RawChunks::Pieces(p)), None),
    }
}

impl From<Part> for RawPart {
    fn from(part: Part) -> RawPart {
        match part {
            Part::Text(t) => {
                let (chunks, chunk_size) = raw_chunks(t.chunking);
                RawPart {
                    text: Some(t.text),
                    chunks,
                    chunk_size,
                    thought_signature: t.thought_signature,
                    ..Default::default()
                }
            }
            Part::Reasoning(r) => {
                let (chunks, chunk_size) = raw_chunks(r.chunking);
                RawPart {
                    reasoning: Some(r.text),
                    signature: r.signature,
                    encrypted_content: r.encrypted_content,
                    chunks,
                    chunk_size,
                    ..Default::default()
                }
            }
            Part::RedactedReasoning(d) => RawPart {
                redacted_reasoning: Some(d),
                ..Default::default()
            },
            Part::ToolCall(c) => {
                let (chunks, chunk_size) = raw_chunks(c.chunking);
                RawPart {
                    tool_call: Some(c.name),
                    id: c.id,
                    // Always a string on the way out: the argument text is sent verbatim.
                    arguments: Some(serde_json::Value::String(c.arguments)),
                    chunks,
                    chunk_size,
                    thought_signature: c.thought_signature,
                    ..Default::default()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_splits_on_char_boundaries() {
        assert_eq!(
            Chunking::Size(2).split("héllo", false),
            vec!["hé", "ll", "o"]
        );
        assert_eq!(Chunking::Count(2).split("abcd", true), vec!["ab", "cd"]);
        assert_eq!(Chunking::Default.split("{\"a\":1}", true).len(), 3);
        assert!(Chunking::Default.split("", false).is_empty());
    }

    #[test]
    fn yaml_parts_parse_and_round_trip() {
        let s = Script::from_yaml_str(
            r#"
responses:
  - output:
      - text: "Hello"
        chunks: ["He", "llo"]
      - tool_call: read_file
        id: c1
        arguments: {"path": "a"}
        chunks: 2
"#,
        )
        .unwrap();
        let r = &s.responses[0];
        assert_eq!(r.effective_stop(), Stop::ToolUse);
        match &r.output[1] {
            Part::ToolCall(c) => assert_eq!(c.arguments, r#"{"path":"a"}"#),
            other => panic!("{other:?}"),
        }
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(Script::from_json_str(&json).unwrap(), s);
    }

    #[test]
    fn bad_parts_are_rejected_with_a_reason() {
        let err =
            Script::from_yaml_str("responses: [{output: [{text: a, tool_call: b}]}]").unwrap_err();
        assert!(err.to_string().contains("exactly one"), "{err}");
        let err =
            Script::from_yaml_str("responses: [{output: [{text: abc, chunks: [a]}]}]").unwrap_err();
        assert!(err.to_string().contains("concatenate"), "{err}");
        let err = Script::from_yaml_str("responses: [{status: 200}]").unwrap_err();
        assert!(err.to_string().contains("non-2xx"), "{err}");
        let err = Script::from_yaml_str("responses: [{stauts: 500}]").unwrap_err();
        assert!(err.to_string().contains("stauts"), "{err}");
    }
}
