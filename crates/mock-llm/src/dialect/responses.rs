//! OpenAI Responses: `response.created` … output item events … `response.completed`.

use serde_json::{Value, json};

use super::{Ctx, RequestView, content_text, sse_event, str_at};
use crate::plan::{Block, Plan, Step};
use crate::script::{InStreamError, Stop, Usage};

fn usage_json(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input,
        "input_tokens_details": {"cached_tokens": u.cache_read},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": u.input + u.output,
    })
}

fn item_id(block: &Block, ctx: &Ctx, index: usize) -> String {
    let prefix = match block {
        Block::Text { .. } => "msg",
        Block::Reasoning { .. } | Block::Redacted { .. } => "rs",
        Block::ToolCall { .. } => "fc",
    };
    format!("{prefix}_mock{}x{index}", ctx.serial)
}

/// The output item, either as first announced (`done == false`) or complete.
fn item_json(block: &Block, ctx: &Ctx, index: usize, done: bool, incomplete: bool) -> Value {
    let id = item_id(block, ctx, index);
    let status = match (done, incomplete) {
        (false, _) => "in_progress",
        (true, true) => "incomplete",
        (true, false) => "completed",
    };
    match block {
        Block::Text { text, .. } => {
            let content = if done {
                json!([{"type": "output_text", "text": text, "annotations": []}])
            } else {
                json!([])
            };
            json!({"id": id, "type": "message", "status": status, "role": "assistant", "content": content})
        }
        Block::Reasoning {
            text,
            encrypted_content,
            ..
        } => {
            let summary = if done && !text.is_empty() {
                json!([{"type": "summary_text", "text": text}])
            } else {
                json!([])
            };
            let mut v = json!({"id": id, "type": "reasoning", "summary": summary});
            if let Some(enc) = encrypted_content {
                v["encrypted_content"] = json!(enc);
            }
            v
        }
        Block::Redacted { data } => {
            json!({"id": id, "type": "reasoning", "summary": [], "encrypted_content": data})
        }
        Block::ToolCall {
            id: call_id,
            name,
            arguments,
            call_index,
            ..
        } => json!({
            "id": id,
            "type": "function_call",
            "status": status,
            "call_id": call_id.clone().unwrap_or_else(|| format!("call_mock{}x{call_index}", ctx.serial)),
            "name": name,
            "arguments": if done { arguments.as_str() } else { "" },
        }),
    }
}

fn response_json(plan: &Plan, ctx: &Ctx, finished: bool) -> Value {
    let truncated = plan.stop == Stop::MaxTokens;
    let last = plan.blocks.len().saturating_sub(1);
    let (status, output, usage) = if finished {
        let output: Vec<Value> = plan
            .blocks
            .iter()
            .enumerate()
            .map(|(i, b)| item_json(b, ctx, i, true, truncated && i == last))
            .collect();
        let status = if truncated { "incomplete" } else { "completed" };
        (status, json!(output), usage_json(&plan.usage))
    } else {
        ("in_progress", json!([]), Value::Null)
    };
    json!({
        "id": format!("resp_mock{}", ctx.serial),
        "object": "response",
        "created_at": ctx.created,
        "status": status,
        "error": null,
        "incomplete_details": if finished && truncated { json!({"reason": "max_output_tokens"}) } else { Value::Null },
        "model": ctx.model,
        "output": output,
        "parallel_tool_calls": true,
        "usage": usage,
    })
}

/// The stream of one answer.
pub(crate) fn frames(plan: &Plan, ctx: &Ctx) -> Vec<String> {
    let mut out = Vec::new();
    let mut seq = 0u64;
    let mut ev = |kind: &str, mut data: Value| {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(seq);
        seq += 1;
        out.push(sse_event(kind, &data));
    };
    ev(
        "response.created",
        json!({"response": response_json(plan, ctx, false)}),
    );
    ev(
        "response.in_progress",
        json!({"response": response_json(plan, ctx, false)}),
    );
    let truncated = plan.stop == Stop::MaxTokens;
    let last = plan.blocks.len().saturating_sub(1);
    for step in &plan.steps {
        match *step {
            Step::Start(b) => {
                let block = &plan.blocks[b];
                let id = item_id(block, ctx, b);
                ev(
                    "response.output_item.added",
                    json!({"output_index": b, "item": item_json(block, ctx, b, false, false)}),
                );
                match block {
                    Block::Text { .. } => ev(
                        "response.content_part.added",
                        json!({"item_id": id, "output_index": b, "content_index": 0,
                               "part": {"type": "output_text", "text": "", "annotations": []}}),
                    ),
                    Block::Reasoning { text, .. } if !text.is_empty() => ev(
                        "response.reasoning_summary_part.added",
                        json!({"item_id": id, "output_index": b, "summary_index": 0,
                               "part": {"type": "summary_text", "text": ""}}),
                    ),
                    _ => {}
                }
            }
            Step::Delta(b, p) => {
                let block = &plan.blocks[b];
                let id = item_id(block, ctx, b);
                let piece = &block.pieces()[p];
                match block {
                    Block::Text { .. } => ev(
                        "response.output_text.delta",
                        json!({"item_id": id, "output_index": b, "content_index": 0, "delta": piece, "logprobs": []}),
                    ),
                    Block::Reasoning { .. } => ev(
                        "response.reasoning_summary_text.delta",
                        json!({"item_id": id, "output_index": b, "summary_index": 0, "delta": piece}),
                    ),
                    Block::ToolCall { .. } => ev(
                        "response.function_call_arguments.delta",
                        json!({"item_id": id, "output_index": b, "delta": piece}),
                    ),
                    Block::Redacted { .. } => {}
                }
            }
            Step::End(b) => {
                let block = &plan.blocks[b];
                let id = item_id(block, ctx, b);
                match block {
                    Block::Text { text, .. } => {
                        ev(
                            "response.output_text.done",
                            json!({"item_id": id, "output_index": b, "content_index": 0, "text": text, "logprobs": []}),
                        );
                        ev(
                            "response.content_part.done",
                            json!({"item_id": id, "output_index": b, "content_index": 0,
                                   "part": {"type": "output_text", "text": text, "annotations": []}}),
                        );
                    }
                    Block::Reasoning { text, .. } if !text.is_empty() => {
                        ev(
                            "response.reasoning_summary_text.done",
                            json!({"item_id": id, "output_index": b, "summary_index": 0, "text": text}),
                        );
                        ev(
                            "response.reasoning_summary_part.done",
                            json!({"item_id": id, "output_index": b, "summary_index": 0,
                                   "part": {"type": "summary_text", "text": text}}),
                        );
                    }
                    Block::ToolCall { arguments, .. } => ev(
                        "response.function_call_arguments.done",
                        json!({"item_id": id, "output_index": b, "arguments": arguments}),
                    ),
                    _ => {}
                }
                ev(
                    "response.output_item.done",
                    json!({"output_index": b, "item": item_json(block, ctx, b, true, truncated && b == last)}),
                );
            }
        }
    }
    let kind = if truncated {
        "response.incomplete"
    } else {
        "response.completed"
    };
    ev(kind, json!({"response": response_json(plan, ctx, true)}));
    out
}

/// The non-streamed `response` object.
pub(crate) fn json_body(plan: &Plan, ctx: &Ctx) -> Value {
    response_json(plan, ctx, true)
}

/// The Responses API streams errors as an `error` event.
pub(crate) fn in_stream_error(kind: InStreamError, _ctx: &Ctx) -> String {
    match kind {
        InStreamError::Overloaded => sse_event(
            "error",
            &json!({"type": "error", "code": "server_error", "param": null,
                    "message": "The server is overloaded, please retry (mock-llm)"}),
        ),
    }
}

/// Matcher view: trailing `function_call_output` items name calls via `function_call` items.
pub(crate) fn view(body: &Value) -> RequestView {
    let input = body.get("input");
    let empty = Vec::new();
    let items = input.and_then(Value::as_array).unwrap_or(&empty);
    let last_user_text = match input {
        Some(Value::String(s)) => Some(s.clone()),
        _ => items
            .iter()
            .rev()
            .filter(|i| str_at(i, "role") == Some("user"))
            .find_map(|i| i.get("content").and_then(content_text)),
    };
    let name_of = |call_id: &str| {
        items
            .iter()
            .find(|i| {
                str_at(i, "type") == Some("function_call") && str_at(i, "call_id") == Some(call_id)
            })
            .and_then(|i| str_at(i, "name").map(str::to_owned))
    };
    let last_tool_results = items
        .iter()
        .rev()
        .take_while(|i| str_at(i, "type") == Some("function_call_output"))
        .filter_map(|i| str_at(i, "call_id").and_then(name_of))
        .collect();
    RequestView {
        model: str_at(body, "model").map(str::to_owned),
        last_user_text,
        last_tool_results,
    }
}
