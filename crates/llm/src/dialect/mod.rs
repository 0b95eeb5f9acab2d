//! Wire dialects: how a [`Request`] becomes an HTTP body and how the provider's SSE
//! events become assembler calls. One module per dialect; no I/O here, so the parsers
//! are tested on raw provider bytes and benchmarked alone.

pub(crate) mod anthropic;
pub(crate) mod gemini;
pub(crate) mod openai_chat;
pub(crate) mod reasoning_details;
pub(crate) mod responses;

use serde_json::Value;
use transcript::{ImageRef, ToolSpec};

use crate::assemble::Assembler;
use crate::config::{ProviderConfig, ProviderKind};
use crate::error::LlmError;
use crate::event::Request;

/// Parses one dialect's stream.
pub(crate) trait Decoder: Send {
    /// Feeds one SSE event (`name` is the `event:` field, empty when absent). Returns
    /// `Ok(true)` when the provider signalled the end of the response.
    fn event(&mut self, name: &str, data: &str, asm: &mut Assembler) -> Result<bool, LlmError>;
}

/// A request ready to send (auth headers are added by the transport).
#[derive(Debug)]
pub(crate) struct WireRequest {
    /// Full URL (never contains a key).
    pub url: String,
    /// Dialect headers besides auth (e.g. `anthropic-version`).
    pub headers: Vec<(&'static str, &'static str)>,
    /// JSON body.
    pub body: Vec<u8>,
}

/// Builds the wire request for `cfg.kind`.
pub(crate) fn build(cfg: &ProviderConfig, req: &Request) -> Result<WireRequest, LlmError> {
    let base = cfg.base_url.trim_end_matches('/');
    let (url, headers, body) = match cfg.kind {
        ProviderKind::OpenAiChat => (
            format!("{base}/chat/completions"),
            vec![],
            openai_chat::body(req, cfg.reasoning_echo),
        ),
        ProviderKind::Anthropic => (
            format!("{base}/v1/messages"),
            vec![("anthropic-version", anthropic::API_VERSION)],
            anthropic::body(req),
        ),
        ProviderKind::OpenAiResponses => {
            (format!("{base}/responses"), vec![], responses::body(req))
        }
        ProviderKind::Gemini => {
            if req.config.model.is_empty()
                || !req
                    .config
                    .model
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._/".contains(c))
            {
                return Err(LlmError::Protocol {
                    provider: "gemini",
                    message: format!(
                        "model name {:?} cannot be placed in a URL; use the plain model id, e.g. gemini-2.5-flash",
                        req.config.model
                    ),
                });
            }
            let model = req
                .config
                .model
                .strip_prefix("models/")
                .unwrap_or(&req.config.model);
            (
                format!("{base}/models/{model}:streamGenerateContent?alt=sse"),
                vec![],
                gemini::body(req),
            )
        }
    };
    let body = serde_json::to_vec(&body).map_err(|e| LlmError::Protocol {
        provider: cfg.name,
        message: format!("cannot serialise request: {e}"),
    })?;
    Ok(WireRequest { url, headers, body })
}

/// A fresh decoder for `kind`.
pub(crate) fn decoder(kind: ProviderKind) -> Box<dyn Decoder> {
    match kind {
        ProviderKind::OpenAiChat => Box::<openai_chat::ChatDecoder>::default(),
        ProviderKind::Anthropic => Box::<anthropic::AnthropicDecoder>::default(),
        ProviderKind::OpenAiResponses => Box::<responses::ResponsesDecoder>::default(),
        ProviderKind::Gemini => Box::<gemini::GeminiDecoder>::default(),
    }
}

/// Tools sorted by name: the order the caller registered them in must not change the
/// request bytes, or prompt caches miss. `serde_json::Value` objects serialise their
/// keys sorted, so schemas are stable too.
pub(crate) fn sorted_tools(tools: &[ToolSpec]) -> Vec<&ToolSpec> {
    let mut v: Vec<&ToolSpec> = tools.iter().collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// Tool-call arguments as a JSON object for dialects that want an object (Anthropic
/// `input`, Gemini `args`). Arguments that are not an object (a model bug) are kept as
/// a string under `_raw_arguments` rather than dropped, so the model can see its mistake.
pub(crate) fn args_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ if arguments.trim().is_empty() => Value::Object(Default::default()),
        _ => serde_json::json!({ "_raw_arguments": arguments }),
    }
}

/// An image of the history as (media type, base64 data), or the text that stands in
/// for it when its bytes were not supplied.
pub(crate) fn image<'a>(req: &'a Request, r: &'a ImageRef) -> Result<(&'a str, &'a str), String> {
    match req.images.get(&r.sha256) {
        Some(b64) => Ok((r.media_type.as_str(), b64)),
        None => Err(format!(
            "[image {} ({}) is no longer available]",
            if r.source.is_empty() {
                &r.sha256
            } else {
                &r.source
            },
            r.media_type
        )),
    }
}

/// Parses an event's JSON payload, naming the provider and the payload on failure.
pub(crate) fn parse_json(provider: &'static str, data: &str) -> Result<Value, LlmError> {
    serde_json::from_str(data).map_err(|e| LlmError::Protocol {
        provider,
        message: format!(
            "invalid JSON in stream event ({e}): {}",
            data.chars().take(200).collect::<String>()
        ),
    })
}

/// `v[key]` as u64, 0 when absent.
pub(crate) fn u64_at(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// Classifies an error object that arrived inside a 200 stream.
pub(crate) fn in_stream_error(provider: &'static str, err: &Value) -> LlmError {
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("unknown error")
        .to_owned();
    let kind = err
        .get("type")
        .or_else(|| err.get("code"))
        .or_else(|| err.get("status"))
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default()
        .to_ascii_lowercase();
    let text = format!("{kind} {message}").to_ascii_lowercase();
    if text.contains("overloaded")
        || text.contains("unavailable")
        || text.contains("server_error")
        || text.contains("internal")
        || kind == "500"
        || kind == "503"
        || kind == "529"
    {
        LlmError::Overloaded {
            provider,
            status: 0,
            attempts: 1,
            message,
        }
    } else if text.contains("rate_limit") || text.contains("resource_exhausted") || kind == "429" {
        LlmError::RateLimited {
            provider,
            attempts: 1,
            retry_after: None,
            message,
        }
    } else if crate::error::looks_like_context_overflow(&text) {
        LlmError::ContextTooLong { provider, message }
    } else {
        LlmError::BadRequest {
            provider,
            status: 0,
            message,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::config::ProviderKind;
    use crate::error::LlmError;
    use crate::event::{Completed, StreamEvent};

    /// Runs raw provider bytes through the real SSE framing and parser, split into
    /// 7-byte chunks so frame boundaries fall everywhere.
    pub(crate) fn run(
        kind: ProviderKind,
        raw: &str,
    ) -> (Vec<StreamEvent>, Result<Completed, LlmError>) {
        crate::parse::parse_sse(kind, raw.as_bytes().chunks(7))
    }
}

#[cfg(test)]
mod image_tests {
    use std::sync::Arc;

    use serde_json::json;
    use transcript::{ImageRef, Item};

    use crate::event::Request;
    use crate::preset::ReasoningEcho;

    fn request(with_bytes: bool) -> Request {
        let r = ImageRef {
            sha256: "ab12".into(),
            media_type: "image/png".into(),
            bytes: 3,
            source: "shot.png".into(),
        };
        let mut req = Request::default();
        req.history.push(Item::UserMessage { text: "see".into() });
        req.history.push(Item::Image { image: r });
        if with_bytes {
            req.images.insert("ab12".into(), Arc::from("iVBO"));
        }
        req
    }

    #[test]
    fn each_dialect_sends_an_image_in_its_own_shape() {
        let req = request(true);
        let chat = super::openai_chat::body(&req, ReasoningEcho::None);
        assert_eq!(
            chat["messages"][1],
            json!({"role": "user", "content": [{"type": "image_url",
                "image_url": {"url": "data:image/png;base64,iVBO"}}]})
        );
        let anthropic = super::anthropic::body(&req);
        assert_eq!(
            anthropic["messages"][0]["content"][1],
            json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}})
        );
        let responses = super::responses::body(&req);
        assert_eq!(
            responses["input"][1]["content"][0],
            json!({"type": "input_image", "image_url": "data:image/png;base64,iVBO"})
        );
        let gemini = super::gemini::body(&req);
        assert_eq!(
            gemini["contents"][0]["parts"][1],
            json!({"inlineData": {"mimeType": "image/png", "data": "iVBO"}})
        );
    }

    #[test]
    fn a_missing_image_is_said_not_dropped() {
        let req = request(false);
        let body = super::anthropic::body(&req).to_string();
        assert!(body.contains("[image shot.png (image/png) is no longer available]"));
        let body = super::gemini::body(&req).to_string();
        assert!(body.contains("is no longer available"));
    }
}
