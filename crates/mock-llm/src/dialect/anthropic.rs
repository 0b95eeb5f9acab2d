//! Anthropic Messages: `message_start` … `content_block_*` … `message_delta`, `message_stop`.

use serde_json::{Value, json};

use super::{Ctx, RequestView, content_text, sse_event, str_at};
use crate::plan::{Block, Plan, Step};
use crate::script::{InStreamError, Stop};

fn stop_reason(stop: Stop) -> &'static str {
    match stop {
        Stop::EndTurn => "end_turn",
        Stop::ToolUse => "tool_use",
        Stop::MaxTokens => "max_tokens",
    }
}

fn tool_id(id: &Option<String>, ctx: &Ctx, call_index: usize) -> String {
    id.clone()
        .unwrap_or_else(|| format!("toolu_mock{}x{call_index}", ctx.serial))
}

/// The block as it appears in `content_block_start` (empty) or in a full message (`full`).
fn block_json(block: &Block, ctx: &Ctx, full: bool) -> Value {
    match block {
        Block::Text { text, .. } => {
            json!({"type": "text", "text": if full { text.as_str() } else { "" }})
        }
        Block::Reasoning {
            text, signature, ..
        } => {
            if full {
                json!({"type": "thinking", "thinking": text, "signature": signature.clone().unwrap_or_default()})
            } else {
                json!({"type": "thinking", "thinking": ""})
            }
        }
        Block::Redacted { data } => json!({"type": "redacted_thinking", "data": data}),
        Block::ToolCall {
            id,
            name,
            arguments,
            call_index,
            ..
        } => {
            let input = if full {
                serde_json::from_str(arguments).unwrap_or_else(|_| json!({}))
            } else {
                json!({})
            };
            json!({"type": "tool_use", "id": tool_id(id, ctx, *call_index), "name": name, "input": input})
        }
    }
}

/// The stream of one answer.
pub(crate) fn frames(plan: &Plan, ctx: &Ctx) -> Vec<String> {
    let u = &plan.usage;
    let mut out = vec![
        sse_event(
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": format!("msg_mock{}", ctx.serial),
                "type": "message",
                "role": "assistant",
                "model": ctx.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {
                    "input_tokens": u.input,
                    "cache_creation_input_tokens": u.cache_write,
                    "cache_read_input_tokens": u.cache_read,
                    "output_tokens": 1,
                },
            }}),
        ),
        sse_event("ping", &json!({"type": "ping"})),
    ];
    for step in &plan.steps {
        match *step {
            Step::Start(b) => out.push(sse_event(
                "content_block_start",
                &json!({"type": "content_block_start", "index": b, "content_block": block_json(&plan.blocks[b], ctx, false)}),
            )),
            Step::Delta(b, p) => {
                let piece = &plan.blocks[b].pieces()[p];
                let delta = match &plan.blocks[b] {
                    Block::Text { .. } => json!({"type": "text_delta", "text": piece}),
                    Block::Reasoning { .. } => json!({"type": "thinking_delta", "thinking": piece}),
                    Block::ToolCall { .. } => json!({"type": "input_json_delta", "partial_json": piece}),
                    Block::Redacted { .. } => continue,
                };
                out.push(sse_event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": b, "delta": delta}),
                ));
            }
            Step::End(b) => {
                // The signature arrives as the thinking block's last delta, as Anthropic sends it.
                if let Block::Reasoning {
                    signature: Some(sig), ..
                } = &plan.blocks[b]
                {
                    out.push(sse_event(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": b, "delta": {"type": "signature_delta", "signature": sig}}),
                    ));
                }
                out.push(sse_event(
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": b}),
                ));
            }
        }
    }
    out.push(sse_event(
        "message_delta",
        &json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason(plan.stop), "stop_sequence": null},
            "usage": {"output_tokens": u.output}}),
    ));
    out.push(sse_event("message_stop", &json!({"type": "message_stop"})));
    out
}

/// The non-streamed `message` object.
pub(crate) fn json_body(plan: &Plan, ctx: &Ctx) -> Value {
    let u = &plan.usage;
    json!({
        "id": format!("msg_mock{}", ctx.serial),
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": plan.blocks.iter().map(|b| block_json(b, ctx, true)).collect::<Vec<_>>(),
        "stop_reason": stop_reason(plan.stop),
        "stop_sequence": null,
        "usage": {
            "input_tokens": u.input,
            "cache_creation_input_tokens": u.cache_write,
            "cache_read_input_tokens": u.cache_read,
            "output_tokens": u.output,
        },
    })
}

/// `{"type": "error", "error": {type, message}}` with Anthropic's error type names.
pub(crate) fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// `event: error`, which Anthropic sends mid-stream when overloaded.
pub(crate) fn in_stream_error(kind: InStreamError) -> String {
    match kind {
        InStreamError::Overloaded => sse_event(
            "error",
            &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ),
    }
}

/// Matcher view: the last `user` message's `tool_result` blocks name calls via `tool_use` ids.
pub(crate) fn view(body: &Value) -> RequestView {
    let empty = Vec::new();
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let blocks_of = |m: &Value| {
        m.get("content")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let last_user_text = messages
        .iter()
        .rev()
        .filter(|m| str_at(m, "role") == Some("user"))
        .find_map(|m| match m.get("content") {
            Some(Value::Array(blocks)) => {
                let texts: Vec<Value> = blocks
                    .iter()
                    .filter(|b| str_at(b, "type") == Some("text"))
                    .cloned()
                    .collect();
                content_text(&Value::Array(texts))
            }
            Some(other) => content_text(other),
            None => None,
        });
    let name_of = |id: &str| {
        messages
            .iter()
            .flat_map(blocks_of)
            .find(|b| str_at(b, "type") == Some("tool_use") && str_at(b, "id") == Some(id))
            .and_then(|b| str_at(&b, "name").map(str::to_owned))
    };
    let last_tool_results = messages
        .last()
        .filter(|m| str_at(m, "role") == Some("user"))
        .map(blocks_of)
        .unwrap_or_default()
        .iter()
        .filter(|b| str_at(b, "type") == Some("tool_result"))
        .filter_map(|b| str_at(b, "tool_use_id").and_then(name_of))
        .collect();
    RequestView {
        model: str_at(body, "model").map(str::to_owned),
        last_user_text,
        last_tool_results,
    }
}
