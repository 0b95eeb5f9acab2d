//! Anthropic Messages.
//!
//! Wire facts: blocks are announced by `content_block_start{index}` and ended by
//! `content_block_stop{index}`; `thinking` blocks carry their signature in a
//! `signature_delta`; `redacted_thinking` blocks carry opaque `data` at start; both
//! must go back verbatim and in order in the next request. Usage is split: input and
//! cache tokens in `message_start`, output in `message_delta` (merged, not added).
//! A `tool_use` block cut by `max_tokens` still gets a `content_block_stop`, so the
//! stop reason, not the block end, decides whether a call is executable.

use serde_json::{Value, json};
use transcript::{Item, StopReason, Usage};

use super::{Decoder, args_object, image, in_stream_error, parse_json, sorted_tools, u64_at};
use crate::assemble::Assembler;
use crate::error::LlmError;
use crate::event::Request;

const PROVIDER: &str = "anthropic";
/// The `anthropic-version` header value.
pub(crate) const API_VERSION: &str = "2023-06-01";
/// The prompt-cache breakpoint marker.
fn ephemeral() -> Value {
    json!({"type": "ephemeral"})
}

/// Anthropic requires `max_tokens`; used when the config sets none.
const DEFAULT_MAX_TOKENS: u32 = 8192;

/// The request body.
pub(crate) fn body(req: &Request) -> Value {
    let mut messages: Vec<Value> = Vec::new();
    // Consecutive items of one role are blocks of one message (the API requires
    // alternating roles, and thinking must stay in the assistant message it came with).
    let mut push = |role: &str, block: Value| match messages.last_mut() {
        Some(m) if m["role"] == role => {
            if let Some(c) = m["content"].as_array_mut() {
                c.push(block);
            }
        }
        _ => messages.push(json!({"role": role, "content": [block]})),
    };
    for item in &req.history {
        match item {
            Item::UserMessage { text } | Item::Notice { text } => {
                push("user", json!({"type": "text", "text": text}))
            }
            Item::Image { image: r } => match image(req, r) {
                Ok((media_type, data)) => push(
                    "user",
                    json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
                ),
                Err(text) => push("user", json!({"type": "text", "text": text})),
            },
            // A refusal goes back as what it was on the wire: assistant text.
            Item::AssistantMessage { text } | Item::Refusal { text } => {
                push("assistant", json!({"type": "text", "text": text}))
            }
            Item::ToolCall(c) => push(
                "assistant",
                json!({"type": "tool_use", "id": c.call_id, "name": c.name, "input": args_object(&c.arguments)}),
            ),
            Item::ToolResult(r) => {
                let mut b =
                    json!({"type": "tool_result", "tool_use_id": r.call_id, "content": r.output});
                if r.is_error {
                    b["is_error"] = json!(true);
                }
                push("user", b)
            }
            Item::Reasoning(r) => {
                if let Some(data) = &r.redacted_data {
                    push(
                        "assistant",
                        json!({"type": "redacted_thinking", "data": data}),
                    );
                } else if let Some(sig) = &r.signature {
                    push(
                        "assistant",
                        json!({"type": "thinking", "thinking": r.text, "signature": sig}),
                    );
                }
                // Unsigned reasoning (another provider's) cannot be verified by
                // Anthropic and is rejected; it is dropped.
            }
        }
    }
    let mut body = json!({
        "model": req.config.model,
        "max_tokens": req.config.max_output_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
        "stream": true,
    });
    // Prompt caching: Anthropic caches only up to explicit breakpoints. One on the
    // system prompt caches tools + system; one on the last block of the conversation
    // caches the history, so the next call (same prefix, byte for byte) reads it.
    if !req.system.is_empty() {
        body["system"] =
            json!([{"type": "text", "text": req.system, "cache_control": ephemeral()}]);
    }
    if let Some(last) = body["messages"]
        .as_array_mut()
        .and_then(|m| m.last_mut())
        .and_then(|m| m["content"].as_array_mut())
        .and_then(|c| c.last_mut())
        // Thinking blocks cannot carry a breakpoint.
        && matches!(last["type"].as_str(), Some("text" | "tool_result" | "tool_use"))
    {
        last["cache_control"] = ephemeral();
    }
    let tools = sorted_tools(&req.tools);
    if !tools.is_empty() {
        body["tools"] = tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
    }
    if let Some(t) = req.config.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(b) = req.config.reasoning_budget {
        body["thinking"] = json!({"type": "enabled", "budget_tokens": b});
    }
    body
}

fn map_usage(u: &Value) -> Usage {
    Usage {
        input_tokens: u64_at(u, "input_tokens"),
        output_tokens: u64_at(u, "output_tokens"),
        cache_read_tokens: u64_at(u, "cache_read_input_tokens"),
        cache_write_tokens: u64_at(u, "cache_creation_input_tokens"),
        reasoning_tokens: 0,
    }
}

fn map_stop(s: &str) -> StopReason {
    match s {
        "end_turn" => StopReason::EndTurn,
        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
        "tool_use" => StopReason::ToolUse,
        "stop_sequence" => StopReason::StopSequence,
        "refusal" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_owned()),
    }
}

/// Stream state of one Messages response (all state lives in the assembler).
#[derive(Debug, Default)]
pub(crate) struct AnthropicDecoder;

impl Decoder for AnthropicDecoder {
    fn event(&mut self, name: &str, data: &str, asm: &mut Assembler) -> Result<bool, LlmError> {
        if data.trim().is_empty() {
            return Ok(false);
        }
        let v = parse_json(PROVIDER, data)?;
        // The JSON `type` is authoritative; the SSE event name is a copy of it.
        let ty = v.get("type").and_then(Value::as_str).unwrap_or(name);
        let index = u64_at(&v, "index");
        match ty {
            "message_start" => {
                if let Some(u) = v.pointer("/message/usage") {
                    asm.usage(&map_usage(u));
                }
            }
            "content_block_start" => {
                let b = &v["content_block"];
                match b.get("type").and_then(Value::as_str).unwrap_or("") {
                    "text" => asm.text(index, b["text"].as_str().unwrap_or("")),
                    "thinking" => {
                        asm.reasoning_text(index, b["thinking"].as_str().unwrap_or(""));
                        let r = asm.reasoning(index);
                        if let Some(s) = b["signature"].as_str().filter(|s| !s.is_empty()) {
                            r.signature = Some(s.to_owned());
                        }
                    }
                    "redacted_thinking" => {
                        asm.reasoning(index).redacted_data =
                            Some(b["data"].as_str().unwrap_or("").to_owned());
                    }
                    "tool_use" | "server_tool_use" => {
                        asm.tool_start(index, b["id"].as_str(), b["name"].as_str().unwrap_or(""))
                    }
                    other => {
                        tracing::debug!(block = other, "anthropic: ignoring unknown content block")
                    }
                }
            }
            "content_block_delta" => {
                let d = &v["delta"];
                match d.get("type").and_then(Value::as_str).unwrap_or("") {
                    "text_delta" => asm.text(index, d["text"].as_str().unwrap_or("")),
                    "thinking_delta" => {
                        asm.reasoning_text(index, d["thinking"].as_str().unwrap_or(""))
                    }
                    "signature_delta" => {
                        let r = asm.reasoning(index);
                        r.signature
                            .get_or_insert_with(String::new)
                            .push_str(d["signature"].as_str().unwrap_or(""));
                    }
                    // The guard appends the fragment; it fails only when no such call is open.
                    "input_json_delta"
                        if !asm.tool_args(index, d["partial_json"].as_str().unwrap_or("")) =>
                    {
                        return Err(LlmError::Protocol {
                            provider: PROVIDER,
                            message: format!(
                                "input_json_delta for block {index}, which is not an open tool_use block"
                            ),
                        });
                    }
                    _ => {}
                }
            }
            "content_block_stop" => asm.close(index),
            "message_delta" => {
                if let Some(u) = v.get("usage") {
                    asm.usage(&map_usage(u));
                }
                if let Some(s) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    asm.stop(map_stop(s));
                }
            }
            "message_stop" => return Ok(true),
            "error" => return Err(in_stream_error(PROVIDER, &v["error"])),
            _ => {} // ping and future event types
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::tests::run;
    use transcript::Reasoning;

    const THINKING_THEN_TOOL: &str = "event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":7,\"cache_read_input_tokens\":100,\"output_tokens\":1}}}\n\n\
event: content_block_start\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n\
event: ping\ndata: {\"type\":\"ping\"}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Need the file.\"}}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBsig==\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: content_block_start\n\
data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"OPAQUE==\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n\
event: content_block_start\n\
data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"read_file\",\"input\":{}}}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"path\\\": \"}}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"/a\\\"}\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n\
event: message_delta\n\
data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    #[test]
    fn thinking_signature_redacted_and_tool_in_order_with_merged_usage() {
        let (_, done) = run(crate::ProviderKind::Anthropic, THINKING_THEN_TOOL);
        let done = done.unwrap();
        assert_eq!(done.stop, StopReason::ToolUse);
        assert_eq!(
            done.items[0],
            Item::Reasoning(Reasoning {
                text: "Need the file.".into(),
                signature: Some("EqQBsig==".into()),
                ..Default::default()
            })
        );
        assert_eq!(
            done.items[1],
            Item::Reasoning(Reasoning {
                redacted_data: Some("OPAQUE==".into()),
                ..Default::default()
            })
        );
        assert!(matches!(&done.items[2], Item::ToolCall(c) if c.arguments == "{\"path\": \"/a\"}"));
        assert_eq!(
            done.usage,
            Usage {
                input_tokens: 25,
                output_tokens: 42,
                cache_read_tokens: 100,
                cache_write_tokens: 7,
                reasoning_tokens: 0
            }
        );
        // Round trip: the next request carries both blocks verbatim, in order.
        let req = Request {
            history: done.items.clone(),
            ..Default::default()
        };
        let b = body(&req);
        assert_eq!(
            b["messages"][0]["content"][0],
            json!({"type":"thinking","thinking":"Need the file.","signature":"EqQBsig=="})
        );
        assert_eq!(
            b["messages"][0]["content"][1],
            json!({"type":"redacted_thinking","data":"OPAQUE=="})
        );
        assert_eq!(
            b["messages"][0]["content"][2]["input"],
            json!({"path":"/a"})
        );
    }

    #[test]
    fn overloaded_error_event_is_retryable() {
        let raw = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let (_, done) = run(crate::ProviderKind::Anthropic, raw);
        let err = done.unwrap_err();
        assert!(matches!(err, LlmError::Overloaded { .. }), "{err:?}");
        assert!(err.is_retryable());
    }
}
