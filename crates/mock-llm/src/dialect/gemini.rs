//! Gemini `streamGenerateContent?alt=sse`: `data:` frames of `GenerateContentResponse`.

use serde_json::{Value, json};

use super::{Ctx, RequestView, sse_data, str_at};
use crate::plan::{Block, Plan, Step};
use crate::script::{InStreamError, Stop, Usage};

fn finish_reason(stop: Stop) -> &'static str {
    match stop {
        // Gemini reports STOP for function calls too.
        Stop::EndTurn | Stop::ToolUse => "STOP",
        Stop::MaxTokens => "MAX_TOKENS",
    }
}

fn usage_json(u: &Usage) -> Value {
    json!({
        "promptTokenCount": u.input,
        "candidatesTokenCount": u.output,
        "cachedContentTokenCount": u.cache_read,
        "thoughtsTokenCount": u.reasoning,
        "totalTokenCount": u.input + u.output + u.reasoning,
    })
}

/// A `functionCall` part; `None` when the arguments are not JSON (Gemini cannot send partial arguments).
fn call_part(block: &Block) -> Option<Value> {
    let Block::ToolCall {
        name,
        arguments,
        thought_signature,
        ..
    } = block
    else {
        return None;
    };
    let args: Value = serde_json::from_str(arguments).ok()?;
    let mut part = json!({"functionCall": {"name": name, "args": args}});
    if let Some(sig) = thought_signature {
        part["thoughtSignature"] = json!(sig);
    }
    Some(part)
}

/// One part per streamed step, in stream order.
fn parts(plan: &Plan) -> Vec<Value> {
    let mut parts = Vec::new();
    for step in &plan.steps {
        match *step {
            Step::Start(_) => {}
            Step::Delta(b, p) => {
                let block = &plan.blocks[b];
                let piece = &block.pieces()[p];
                match block {
                    Block::Text {
                        pieces,
                        thought_signature,
                        ..
                    } => {
                        let mut part = json!({"text": piece});
                        if p + 1 == pieces.len()
                            && let Some(sig) = thought_signature
                        {
                            part["thoughtSignature"] = json!(sig);
                        }
                        parts.push(part);
                    }
                    Block::Reasoning {
                        pieces, signature, ..
                    } => {
                        let mut part = json!({"text": piece, "thought": true});
                        if p + 1 == pieces.len()
                            && let Some(sig) = signature
                        {
                            part["thoughtSignature"] = json!(sig);
                        }
                        parts.push(part);
                    }
                    // Arguments go out whole, at the end of the call.
                    Block::ToolCall { .. } | Block::Redacted { .. } => {}
                }
            }
            Step::End(b) => match &plan.blocks[b] {
                Block::Reasoning {
                    pieces,
                    signature: Some(sig),
                    ..
                } if pieces.is_empty() => {
                    parts.push(json!({"text": "", "thought": true, "thoughtSignature": sig}))
                }
                block @ Block::ToolCall { .. } => parts.extend(call_part(block)),
                _ => {}
            },
        }
    }
    parts
}

fn response_json(parts: Vec<Value>, plan: &Plan, ctx: &Ctx, last: bool) -> Value {
    let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    let mut v = json!({"candidates": [], "modelVersion": ctx.model, "responseId": format!("mock{}", ctx.serial)});
    if last {
        candidate["finishReason"] = json!(finish_reason(plan.stop));
        v["usageMetadata"] = usage_json(&plan.usage);
    }
    v["candidates"] = json!([candidate]);
    v
}

/// The stream of one answer: one part per frame, the last frame carrying finish reason and usage.
pub(crate) fn frames(plan: &Plan, ctx: &Ctx) -> Vec<String> {
    let mut parts = parts(plan);
    if parts.is_empty() {
        parts.push(json!({"text": ""}));
    }
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| sse_data(&response_json(vec![part], plan, ctx, i + 1 == n)))
        .collect()
}

/// The non-streamed `generateContent` answer: whole blocks as parts.
pub(crate) fn json_body(plan: &Plan, ctx: &Ctx) -> Value {
    let parts: Vec<Value> = plan
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text {
                text,
                thought_signature,
                ..
            } => {
                let mut part = json!({"text": text});
                if let Some(sig) = thought_signature {
                    part["thoughtSignature"] = json!(sig);
                }
                Some(part)
            }
            Block::Reasoning {
                text, signature, ..
            } => {
                let mut part = json!({"text": text, "thought": true});
                if let Some(sig) = signature {
                    part["thoughtSignature"] = json!(sig);
                }
                Some(part)
            }
            Block::ToolCall { .. } => call_part(b),
            Block::Redacted { .. } => None,
        })
        .collect();
    response_json(parts, plan, ctx, true)
}

/// `{"error": {code, message, status}}` with Google's status names.
pub(crate) fn error_body(status: u16, message: &str) -> Value {
    let name = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    };
    json!({"error": {"code": status, "message": message, "status": name}})
}

/// Gemini reports mid-stream failures as an error object in a `data:` frame.
pub(crate) fn in_stream_error(kind: InStreamError) -> String {
    match kind {
        InStreamError::Overloaded => sse_data(&error_body(
            503,
            "The model is overloaded. Please try again later. (mock-llm)",
        )),
    }
}

/// Matcher view: the last content's `functionResponse` parts carry the tool names.
pub(crate) fn view(body: &Value) -> RequestView {
    let empty = Vec::new();
    let contents = body
        .get("contents")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let parts_of = |c: &Value| {
        c.get("parts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let last_user_text = contents
        .iter()
        .rev()
        .filter(|c| str_at(c, "role").is_none_or(|r| r == "user"))
        .find_map(|c| {
            let texts: Vec<String> = parts_of(c)
                .iter()
                .filter_map(|p| str_at(p, "text").map(str::to_owned))
                .collect();
            (!texts.is_empty()).then(|| texts.concat())
        });
    let last_tool_results = contents
        .last()
        .map(parts_of)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| {
            p.get("functionResponse")
                .and_then(|f| str_at(f, "name"))
                .map(str::to_owned)
        })
        .collect();
    RequestView {
        model: str_at(body, "model").map(str::to_owned),
        last_user_text,
        last_tool_results,
    }
}
