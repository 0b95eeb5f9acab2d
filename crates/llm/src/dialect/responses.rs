//! OpenAI Responses.
//!
//! Wire facts: every output item is announced by `response.output_item.added` and
//! completed by `response.output_item.done` (with the whole item), both carrying
//! `output_index`, which keys the deltas (`response.output_text.delta`,
//! `response.function_call_arguments.delta`, `response.reasoning_summary_text.delta`).
//! With `store: false` and `include: ["reasoning.encrypted_content"]` reasoning items
//! come back with `encrypted_content`, which must be sent back as a `reasoning` input
//! item. The end is `response.completed`, `response.incomplete` (token limit) or
//! `response.failed`.

use serde_json::{Value, json};
use transcript::{Item, StopReason, Usage};

use super::{Decoder, image, in_stream_error, parse_json, sorted_tools, u64_at};
use crate::assemble::Assembler;
use crate::error::LlmError;
use crate::event::Request;

const PROVIDER: &str = "responses";

/// The request body.
pub(crate) fn body(req: &Request) -> Value {
    let mut input = Vec::new();
    for item in &req.history {
        match item {
            Item::UserMessage { text } | Item::Notice { text } => input.push(json!({
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": text}],
            })),
            Item::Image { image: r } => input.push(json!({
                "type": "message", "role": "user",
                "content": [match image(req, r) {
                    Ok((media_type, data)) => json!({"type": "input_image",
                        "image_url": format!("data:{media_type};base64,{data}")}),
                    Err(text) => json!({"type": "input_text", "text": text}),
                }],
            })),
            Item::AssistantMessage { text } | Item::Refusal { text } => input.push(json!({
                "type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": text}],
            })),
            Item::ToolCall(c) => input.push(json!({
                "type": "function_call", "call_id": c.call_id, "name": c.name, "arguments": c.arguments,
            })),
            Item::ToolResult(r) => input.push(json!({
                "type": "function_call_output", "call_id": r.call_id, "output": r.output,
            })),
            Item::Reasoning(r) => {
                // Only reasoning this API produced (it has an id or encrypted content)
                // can be sent back.
                if r.id.is_none() && r.encrypted_content.is_none() {
                    continue;
                }
                let summary: Vec<Value> = if r.text.is_empty() {
                    vec![]
                } else {
                    vec![json!({"type": "summary_text", "text": r.text})]
                };
                let mut v = json!({"type": "reasoning", "summary": summary});
                if let Some(id) = &r.id {
                    v["id"] = json!(id);
                }
                if let Some(e) = &r.encrypted_content {
                    v["encrypted_content"] = json!(e);
                }
                input.push(v);
            }
        }
    }
    let mut body = json!({
        "model": req.config.model,
        "input": input,
        "stream": true,
        // Stateless: the session log is the authority for history, not OpenAI's store;
        // encrypted reasoning is how reasoning survives between calls then.
        "store": false,
        "include": ["reasoning.encrypted_content"],
    });
    if !req.system.is_empty() {
        body["instructions"] = json!(req.system);
    }
    let tools = sorted_tools(&req.tools);
    if !tools.is_empty() {
        body["tools"] = tools
            .iter()
            .map(|t| json!({"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters}))
            .collect();
    }
    if let Some(n) = req.config.max_output_tokens {
        body["max_output_tokens"] = json!(n);
    }
    if let Some(t) = req.config.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(e) = &req.config.reasoning_effort {
        body["reasoning"] = json!({"effort": e, "summary": "auto"});
    }
    body
}

fn map_usage(u: &Value) -> Usage {
    let cached = u
        .pointer("/input_tokens_details/cached_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Usage {
        input_tokens: u64_at(u, "input_tokens").saturating_sub(cached),
        output_tokens: u64_at(u, "output_tokens"),
        cache_read_tokens: cached,
        cache_write_tokens: 0,
        reasoning_tokens: u
            .pointer("/output_tokens_details/reasoning_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    }
}

/// Stream state of one Responses response (all state lives in the assembler).
#[derive(Debug, Default)]
pub(crate) struct ResponsesDecoder;

impl Decoder for ResponsesDecoder {
    fn event(&mut self, name: &str, data: &str, asm: &mut Assembler) -> Result<bool, LlmError> {
        if data.trim().is_empty() {
            return Ok(false);
        }
        let v = parse_json(PROVIDER, data)?;
        let ty = v.get("type").and_then(Value::as_str).unwrap_or(name);
        let key = u64_at(&v, "output_index");
        match ty {
            "response.output_item.added" => {
                let item = &v["item"];
                if item["type"] == "function_call" {
                    asm.tool_start(
                        key,
                        item["call_id"].as_str(),
                        item["name"].as_str().unwrap_or(""),
                    );
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                asm.text(key, v["delta"].as_str().unwrap_or(""))
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                asm.reasoning_text(key, v["delta"].as_str().unwrap_or(""))
            }
            // The guard appends the fragment; it fails only when no such call is open.
            "response.function_call_arguments.delta"
                if !asm.tool_args(key, v["delta"].as_str().unwrap_or("")) =>
            {
                return Err(LlmError::Protocol {
                    provider: PROVIDER,
                    message: format!(
                        "function_call_arguments.delta for output {key}, which is not an open function call"
                    ),
                });
            }
            "response.output_item.done" => {
                let item = &v["item"];
                match item["type"].as_str().unwrap_or("") {
                    "function_call" => {
                        if let Some(a) = item["arguments"].as_str() {
                            asm.tool_set_args(key, a);
                        }
                    }
                    "reasoning" => {
                        let summary: String = item["summary"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|s| s["text"].as_str())
                                    .collect::<Vec<_>>()
                                    .join("\n\n")
                            })
                            .unwrap_or_default();
                        let r = asm.reasoning(key);
                        r.id = item["id"].as_str().map(str::to_owned);
                        r.encrypted_content = item["encrypted_content"].as_str().map(str::to_owned);
                        if !summary.is_empty() {
                            r.text = summary;
                        }
                    }
                    _ => {}
                }
                asm.close(key);
            }
            "response.completed" | "response.incomplete" => {
                let resp = &v["response"];
                if let Some(u) = resp.get("usage").filter(|u| u.is_object()) {
                    asm.usage(&map_usage(u));
                }
                let reason = resp
                    .pointer("/incomplete_details/reason")
                    .and_then(Value::as_str);
                let stop = match reason {
                    Some("max_output_tokens") => StopReason::MaxTokens,
                    Some("content_filter") => StopReason::ContentFilter,
                    Some(other) => StopReason::Other(other.to_owned()),
                    None if asm.call_count() > 0 => StopReason::ToolUse,
                    None => StopReason::EndTurn,
                };
                asm.stop(stop);
                return Ok(true);
            }
            "response.failed" => {
                let err = v.pointer("/response/error").cloned().unwrap_or(Value::Null);
                return Err(in_stream_error(PROVIDER, &err));
            }
            "error" => {
                return Err(in_stream_error(PROVIDER, v.get("error").unwrap_or(&v)));
            }
            _ => {}
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::tests::run;

    #[test]
    fn encrypted_reasoning_and_interleaved_calls_round_trip() {
        let raw = concat!(
            "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\"}}\n\n",
            "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]}}\n\n",
            "event: response.reasoning_summary_text.delta\ndata: {\"type\":\"response.reasoning_summary_text.delta\",\"output_index\":0,\"summary_index\":0,\"delta\":\"Plan.\"}\n\n",
            "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"Plan.\"}],\"encrypted_content\":\"gAAAAENC\"}}\n\n",
            "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":1,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"name\":\"a\",\"arguments\":\"\"}}\n\n",
            "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":2,\"item\":{\"type\":\"function_call\",\"id\":\"fc_2\",\"call_id\":\"call_2\",\"name\":\"b\",\"arguments\":\"\"}}\n\n",
            "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"output_index\":2,\"item_id\":\"fc_2\",\"delta\":\"{\\\"y\\\":\"}\n\n",
            "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"output_index\":1,\"item_id\":\"fc_1\",\"delta\":\"{\\\"x\\\":1}\"}\n\n",
            "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"output_index\":2,\"item_id\":\"fc_2\",\"delta\":\"2}\"}\n\n",
            "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":1,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"name\":\"a\",\"arguments\":\"{\\\"x\\\":1}\"}}\n\n",
            "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":2,\"item\":{\"type\":\"function_call\",\"id\":\"fc_2\",\"call_id\":\"call_2\",\"name\":\"b\",\"arguments\":\"{\\\"y\\\":2}\"}}\n\n",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":50,\"input_tokens_details\":{\"cached_tokens\":30},\"output_tokens\":9,\"output_tokens_details\":{\"reasoning_tokens\":4}}}}\n\n",
        );
        let (_, done) = run(crate::ProviderKind::OpenAiResponses, raw);
        let done = done.unwrap();
        assert_eq!(done.stop, StopReason::ToolUse);
        assert_eq!(done.usage.input_tokens, 20);
        assert_eq!(done.usage.cache_read_tokens, 30);
        assert_eq!(done.usage.reasoning_tokens, 4);
        let b = body(&Request {
            history: done.items,
            ..Default::default()
        });
        assert_eq!(
            b["input"][0],
            json!({"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Plan."}],"encrypted_content":"gAAAAENC"})
        );
        assert_eq!(b["input"][1]["arguments"], "{\"x\":1}");
        assert_eq!(b["input"][2]["arguments"], "{\"y\":2}");
        assert_eq!(b["include"], json!(["reasoning.encrypted_content"]));
        assert_eq!(b["store"], json!(false));
    }

    #[test]
    fn incomplete_mid_call_is_truncated() {
        let raw = concat!(
            "data: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"w\",\"arguments\":\"\"}}\n\n",
            "data: {\"type\":\"response.function_call_arguments.delta\",\"output_index\":0,\"delta\":\"{\\\"a\\\":\"}\n\n",
            "data: {\"type\":\"response.incomplete\",\"response\":{\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"}}}\n\n",
        );
        let (_, done) = run(crate::ProviderKind::OpenAiResponses, raw);
        let done = done.unwrap();
        assert_eq!(done.stop, StopReason::MaxTokens);
        assert!(done.items.is_empty());
        assert_eq!(done.truncated_calls.len(), 1);
    }
}
