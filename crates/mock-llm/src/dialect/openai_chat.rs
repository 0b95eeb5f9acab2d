//! OpenAI Chat Completions: `chat.completion.chunk` frames, `[DONE]`, usage-only chunk.

use serde_json::{Value, json};

use super::{Ctx, RequestView, content_text, sse_data, str_at};
use crate::plan::{Block, Plan, Step};
use crate::script::{InStreamError, Stop, Usage};

fn finish_reason(stop: Stop) -> &'static str {
    match stop {
        Stop::EndTurn => "stop",
        Stop::ToolUse => "tool_calls",
        Stop::MaxTokens => "length",
    }
}

fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input,
        "completion_tokens": u.output,
        "total_tokens": u.input + u.output,
        "prompt_tokens_details": {"cached_tokens": u.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning, "audio_tokens": 0},
    })
}

fn call_id(id: &Option<String>, ctx: &Ctx, call_index: usize) -> String {
    id.clone()
        .unwrap_or_else(|| format!("call_mock{}x{call_index}", ctx.serial))
}

/// The stream of one answer.
pub(crate) fn frames(plan: &Plan, ctx: &Ctx) -> Vec<String> {
    let id = format!("chatcmpl-mock{}", ctx.serial);
    let chunk = |choices: Value| {
        let mut v = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": ctx.model,
            "system_fingerprint": "fp_mock",
            "choices": choices,
        });
        // Real OpenAI puts `"usage": null` on every chunk once usage was requested.
        if ctx.include_usage {
            v["usage"] = Value::Null;
        }
        v
    };
    let choice = |delta: Value, finish: Option<&str>| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
    let has_text = plan.blocks.iter().any(|b| matches!(b, Block::Text { .. }));
    let mut out = vec![sse_data(&chunk(choice(
        json!({"role": "assistant", "content": if has_text { json!("") } else { Value::Null }, "refusal": null}),
        None,
    )))];
    // The chunk envelope is identical for every delta frame: serialise it once and splice
    // each delta in. Byte-identical to serialising the whole chunk, several times cheaper,
    // which keeps long streams from making the mock the bottleneck of client benchmarks.
    let hole = "\u{1}mock-llm-delta\u{1}";
    let template = chunk(choice(json!(hole), None))
        .to_string()
        .split_once(&json!(hole).to_string())
        .map(|(p, s)| (p.to_owned(), s.to_owned()));
    for step in &plan.steps {
        let delta = match *step {
            Step::Start(b) => match &plan.blocks[b] {
                Block::ToolCall {
                    id,
                    name,
                    call_index,
                    ..
                } => Some(json!({"tool_calls": [{
                    "index": call_index,
                    "id": call_id(id, ctx, *call_index),
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }]})),
                _ => None,
            },
            Step::Delta(b, p) => {
                let piece = &plan.blocks[b].pieces()[p];
                match &plan.blocks[b] {
                    Block::Text { .. } => Some(json!({"content": piece})),
                    // The vLLM / DeepSeek convention; OpenAI itself does not stream reasoning here.
                    Block::Reasoning { .. } => Some(json!({"reasoning_content": piece})),
                    Block::ToolCall { call_index, .. } => Some(
                        json!({"tool_calls": [{"index": call_index, "function": {"arguments": piece}}]}),
                    ),
                    Block::Redacted { .. } => None,
                }
            }
            Step::End(_) => None,
        };
        if let Some(delta) = delta {
            out.push(match &template {
                Some((prefix, suffix)) => format!("data: {prefix}{delta}{suffix}\n\n"),
                None => sse_data(&chunk(choice(delta, None))),
            });
        }
    }
    out.push(sse_data(&chunk(choice(
        json!({}),
        Some(finish_reason(plan.stop)),
    ))));
    if ctx.include_usage {
        let mut last = chunk(json!([]));
        last["usage"] = usage_json(&plan.usage);
        out.push(sse_data(&last));
    }
    out.push("data: [DONE]\n\n".to_owned());
    out
}

/// The non-streamed `chat.completion` object.
pub(crate) fn json_body(plan: &Plan, ctx: &Ctx) -> Value {
    let calls: Vec<Value> = plan
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::ToolCall {
                id,
                name,
                arguments,
                call_index,
                ..
            } => Some(json!({
                "id": call_id(id, ctx, *call_index),
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            })),
            _ => None,
        })
        .collect();
    let text = plan.full_text();
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() { Value::Null } else { json!(text) },
        "refusal": null,
    });
    if !calls.is_empty() {
        message["tool_calls"] = json!(calls);
    }
    let reasoning: String = plan
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Reasoning { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    json!({
        "id": format!("chatcmpl-mock{}", ctx.serial),
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason(plan.stop)}],
        "usage": usage_json(&plan.usage),
    })
}

/// `{"error": {message, type, param, code}}`, also used by the Responses dialect.
pub(crate) fn error_body(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        400 => ("invalid_request_error", Value::Null),
        401 => ("invalid_request_error", json!("invalid_api_key")),
        403 => ("permission_error", Value::Null),
        404 => ("invalid_request_error", json!("model_not_found")),
        408 => ("timeout", Value::Null),
        429 => ("requests", json!("rate_limit_exceeded")),
        _ => ("server_error", Value::Null),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// An error object sent as a `data:` frame, as OpenAI-compatible servers do mid-stream.
pub(crate) fn in_stream_error(kind: InStreamError) -> String {
    match kind {
        InStreamError::Overloaded => sse_data(&json!({"error": {
            "message": "The server is overloaded, please retry (mock-llm)",
            "type": "server_error",
            "param": null,
            "code": "overloaded",
        }})),
    }
}

/// Matcher view: trailing `role: "tool"` messages name their calls via the assistant's `tool_calls`.
pub(crate) fn view(body: &Value) -> RequestView {
    let empty = Vec::new();
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let last_user_text = messages
        .iter()
        .rev()
        .filter(|m| str_at(m, "role") == Some("user"))
        .find_map(|m| m.get("content").and_then(content_text));
    let name_of = |call_id: &str| {
        messages
            .iter()
            .filter_map(|m| m.get("tool_calls").and_then(Value::as_array))
            .flatten()
            .find(|c| str_at(c, "id") == Some(call_id))
            .and_then(|c| c.get("function").and_then(|f| str_at(f, "name")))
            .map(str::to_owned)
    };
    let last_tool_results = messages
        .iter()
        .rev()
        .take_while(|m| str_at(m, "role") == Some("tool"))
        .filter_map(|m| {
            str_at(m, "tool_call_id")
                .and_then(name_of)
                .or_else(|| str_at(m, "name").map(str::to_owned))
        })
        .collect();
    RequestView {
        model: str_at(body, "model").map(str::to_owned),
        last_user_text,
        last_tool_results,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{Part, Response};

    #[test]
    fn spliced_delta_frames_equal_whole_serialisation() {
        let r = Response {
            output: vec![
                Part::text("héllo \"quoted\" wörld"),
                Part::tool_call("c", "t", r#"{"a":"b"}"#),
            ],
            ..Default::default()
        };
        let ctx = Ctx {
            model: "m".into(),
            serial: 1,
            created: 2,
            include_usage: true,
        };
        for frame in frames(&Plan::of(&r), &ctx) {
            if let Some(data) = frame
                .strip_prefix("data: ")
                .and_then(|f| f.strip_suffix("\n\n"))
                && data != "[DONE]"
            {
                let v: Value = serde_json::from_str(data).unwrap();
                assert_eq!(v.to_string(), data);
            }
        }
    }
}
