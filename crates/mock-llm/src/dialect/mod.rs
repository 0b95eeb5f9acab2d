//! The four wire dialects: which path each owns, how a plan becomes its SSE frames, its
//! error bodies, and how its requests are read for matchers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plan::Plan;
use crate::script::InStreamError;

pub(crate) mod anthropic;
pub(crate) mod gemini;
pub(crate) mod openai_chat;
pub(crate) mod responses;

/// A provider wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// OpenAI Chat Completions (`/v1/chat/completions`).
    OpenaiChat,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// OpenAI Responses (`/v1/responses`).
    Responses,
    /// Gemini (`/v1beta/models/{model}:streamGenerateContent`).
    Gemini,
}

/// What the request path says about the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub dialect: Dialect,
    /// Gemini carries the model in the path.
    pub path_model: Option<String>,
    /// Gemini decides streaming by the method name, the others by the body.
    pub path_streams: Option<bool>,
}

/// Per-request facts the renderers need.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// The model named by the request (echoed back).
    pub model: String,
    /// A per-server request number, used to make ids unique.
    pub serial: u64,
    /// Unix seconds, for `created` fields.
    pub created: u64,
    /// OpenAI Chat: the request asked for `stream_options.include_usage`.
    pub include_usage: bool,
}

/// What matchers look at, extracted per dialect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RequestView {
    pub model: Option<String>,
    /// Text of the last user message that has text.
    pub last_user_text: Option<String>,
    /// Tool names of the results carried by the request's final turn.
    pub last_tool_results: Vec<String>,
}

impl Dialect {
    /// Picks the dialect by path suffix, so base URLs with or without `/v1` work.
    pub(crate) fn route(path: &str) -> Option<Route> {
        let plain = |dialect| {
            Some(Route {
                dialect,
                path_model: None,
                path_streams: None,
            })
        };
        if path.ends_with("/chat/completions") {
            return plain(Dialect::OpenaiChat);
        }
        if path.ends_with("/messages") {
            return plain(Dialect::Anthropic);
        }
        if path.ends_with("/responses") {
            return plain(Dialect::Responses);
        }
        let (head, method) = path.rsplit_once(':')?;
        let streams = match method {
            "streamGenerateContent" => true,
            "generateContent" => false,
            _ => return None,
        };
        let model = head.rsplit_once("/models/").map(|(_, m)| m.to_owned());
        Some(Route {
            dialect: Dialect::Gemini,
            path_model: model,
            path_streams: Some(streams),
        })
    }

    /// The SSE frames of a successful streamed answer, each ending in a blank line.
    pub(crate) fn frames(self, plan: &Plan, ctx: &Ctx) -> Vec<String> {
        match self {
            Dialect::OpenaiChat => openai_chat::frames(plan, ctx),
            Dialect::Anthropic => anthropic::frames(plan, ctx),
            Dialect::Responses => responses::frames(plan, ctx),
            Dialect::Gemini => gemini::frames(plan, ctx),
        }
    }

    /// The JSON body of a successful non-streamed answer.
    pub(crate) fn json_body(self, plan: &Plan, ctx: &Ctx) -> Value {
        match self {
            Dialect::OpenaiChat => openai_chat::json_body(plan, ctx),
            Dialect::Anthropic => anthropic::json_body(plan, ctx),
            Dialect::Responses => responses::json_body(plan, ctx),
            Dialect::Gemini => gemini::json_body(plan, ctx),
        }
    }

    /// The provider-shaped error body for an HTTP error status.
    pub(crate) fn error_body(self, status: u16, message: &str) -> Value {
        match self {
            Dialect::OpenaiChat | Dialect::Responses => openai_chat::error_body(status, message),
            Dialect::Anthropic => anthropic::error_body(status, message),
            Dialect::Gemini => gemini::error_body(status, message),
        }
    }

    /// The in-stream error frame.
    pub(crate) fn in_stream_error(self, kind: InStreamError, ctx: &Ctx) -> String {
        match self {
            Dialect::OpenaiChat => openai_chat::in_stream_error(kind),
            Dialect::Anthropic => anthropic::in_stream_error(kind),
            Dialect::Responses => responses::in_stream_error(kind, ctx),
            Dialect::Gemini => gemini::in_stream_error(kind),
        }
    }

    /// Reads the request body for matchers.
    pub(crate) fn view(self, body: &Value) -> RequestView {
        match self {
            Dialect::OpenaiChat => openai_chat::view(body),
            Dialect::Anthropic => anthropic::view(body),
            Dialect::Responses => responses::view(body),
            Dialect::Gemini => gemini::view(body),
        }
    }

    /// Whether the request asked for a stream.
    pub(crate) fn wants_stream(self, route: &Route, body: &Value) -> bool {
        route
            .path_streams
            .unwrap_or_else(|| body.get("stream").and_then(Value::as_bool).unwrap_or(false))
    }
}

/// `data: JSON` frame.
pub(crate) fn sse_data(v: &Value) -> String {
    format!("data: {v}\n\n")
}

/// `event: NAME` + `data: JSON` frame.
pub(crate) fn sse_event(name: &str, v: &Value) -> String {
    format!("event: {name}\ndata: {v}\n\n")
}

/// Text of a message `content` that is a string or an array of `{text}` parts.
pub(crate) fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            (!texts.is_empty()).then(|| texts.concat())
        }
        _ => None,
    }
}

/// The string at `key`, if any.
pub(crate) fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_suffix() {
        assert_eq!(
            Dialect::route("/v1/chat/completions").unwrap().dialect,
            Dialect::OpenaiChat
        );
        assert_eq!(
            Dialect::route("/chat/completions").unwrap().dialect,
            Dialect::OpenaiChat
        );
        assert_eq!(
            Dialect::route("/v1/messages").unwrap().dialect,
            Dialect::Anthropic
        );
        assert_eq!(
            Dialect::route("/v1/responses").unwrap().dialect,
            Dialect::Responses
        );
        let g = Dialect::route("/v1beta/models/gemini-2.5-pro:streamGenerateContent").unwrap();
        assert_eq!(g.path_model.as_deref(), Some("gemini-2.5-pro"));
        assert_eq!(g.path_streams, Some(true));
        assert!(Dialect::route("/v1/embeddings").is_none());
    }
}
