//! OpenAI Chat Completions (and the compatible servers: Ollama, vLLM, llama.cpp,
//! LM Studio, OpenRouter).
//!
//! Wire facts this module relies on: text arrives as `choices[0].delta.content`;
//! reasoning (DeepSeek, vLLM, OpenRouter, Ollama) as `delta.reasoning_content` or
//! `delta.reasoning`, and on OpenRouter also as `delta.reasoning_details[]` entries
//! (some services send reasoning text only there); a refusal as `delta.refusal`;
//! tool calls as `delta.tool_calls[]` fragments keyed by `index`, whose first
//! fragment carries `id` and `function.name`; there is no per-call end event, so calls
//! end at `finish_reason`; with `stream_options.include_usage` a last chunk with empty
//! `choices` carries `usage`; `data: [DONE]` ends the stream.
//!
//! Reasoning goes back only as the configured [`ReasoningEcho`] says: plain Chat
//! servers never see it; DeepSeek and Kimi get `reasoning_content` on every assistant
//! message that carries tool calls (without it they answer 400 "Missing
//! reasoning_content field"); OpenRouter gets `reasoning_details` back unchanged.

use serde_json::{Value, json};
use transcript::{Item, StopReason, Usage};

use super::reasoning_details::DetailsAccumulator;
use super::{Decoder, image, in_stream_error, parse_json, sorted_tools, u64_at};
use crate::assemble::{Assembler, Key};
use crate::error::LlmError;
use crate::event::Request;
use crate::preset::ReasoningEcho;

const PROVIDER: &str = "openai";
const TEXT_KEY: Key = u64::MAX;
const REASONING_KEY: Key = u64::MAX - 1;
const REFUSAL_KEY: Key = u64::MAX - 2;

/// The assistant-side items between two user/tool messages: one wire message.
#[derive(Default)]
struct AssistantTurn {
    text: String,
    calls: Vec<Value>,
    reasoning: String,
    details: Vec<Value>,
}

impl AssistantTurn {
    fn flush(&mut self, echo: ReasoningEcho, messages: &mut Vec<Value>) {
        let turn = std::mem::take(self);
        if turn.text.is_empty() && turn.calls.is_empty() {
            return;
        }
        let mut m = json!({"role": "assistant"});
        m["content"] = if turn.text.is_empty() {
            Value::Null
        } else {
            Value::String(turn.text)
        };
        match echo {
            ReasoningEcho::None => {}
            // Required on tool-call turns only (DeepSeek "Thinking Mode": reasoning of
            // turns without calls is ignored). Sent even when empty: the check is for
            // the field's presence, and history from another provider has none.
            ReasoningEcho::ReasoningContent if !turn.calls.is_empty() => {
                m["reasoning_content"] = Value::String(turn.reasoning);
            }
            ReasoningEcho::ReasoningContent => {}
            ReasoningEcho::ReasoningDetails if !turn.details.is_empty() => {
                m["reasoning_details"] = Value::Array(turn.details);
            }
            ReasoningEcho::ReasoningDetails => {}
        }
        if !turn.calls.is_empty() {
            m["tool_calls"] = Value::Array(turn.calls);
        }
        messages.push(m);
    }
}

/// The request body.
pub(crate) fn body(req: &Request, echo: ReasoningEcho) -> Value {
    let mut messages = Vec::new();
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    // Consecutive assistant-side items form one assistant message.
    let mut turn = AssistantTurn::default();
    for item in &req.history {
        match item {
            Item::UserMessage { text: t } | Item::Notice { text: t } => {
                turn.flush(echo, &mut messages);
                messages.push(json!({"role": "user", "content": t}));
            }
            Item::Image { image: r } => {
                turn.flush(echo, &mut messages);
                let part = match image(req, r) {
                    Ok((media_type, data)) => json!({"type": "image_url",
                        "image_url": {"url": format!("data:{media_type};base64,{data}")}}),
                    Err(text) => json!({"type": "text", "text": text}),
                };
                messages.push(json!({"role": "user", "content": [part]}));
            }
            // A refusal is sent back as the assistant's text: compatible servers know
            // no `refusal` input field.
            Item::AssistantMessage { text: t } | Item::Refusal { text: t } => turn.text.push_str(t),
            Item::ToolCall(c) => turn.calls.push(json!({
                "id": c.call_id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            })),
            Item::ToolResult(r) => {
                turn.flush(echo, &mut messages);
                messages.push(json!({
                    "role": "tool",
                    "tool_call_id": r.call_id,
                    "content": r.output,
                }));
            }
            Item::Reasoning(r) => {
                turn.reasoning.push_str(&r.text);
                turn.details.extend(r.details.iter().cloned());
            }
        }
    }
    turn.flush(echo, &mut messages);

    let mut body = json!({
        "model": req.config.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let tools = sorted_tools(&req.tools);
    if !tools.is_empty() {
        body["tools"] = tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters,
                }})
            })
            .collect();
    }
    // `max_tokens` rather than `max_completion_tokens`: every compatible local server
    // understands it; OpenAI reasoning models are better served by the Responses dialect.
    if let Some(n) = req.config.max_output_tokens {
        body["max_tokens"] = json!(n);
    }
    if let Some(t) = req.config.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(e) = &req.config.reasoning_effort {
        body["reasoning_effort"] = json!(e);
    }
    body
}

/// Stream state of one Chat Completions response.
#[derive(Debug, Default)]
pub(crate) struct ChatDecoder {
    /// Provider call id of the open call per tool index, to spot servers that reuse
    /// index 0 for every parallel call.
    ids: Vec<(Key, String)>,
    /// OpenRouter `reasoning_details` of this response, assembled per entry.
    details: DetailsAccumulator,
}

pub(crate) fn map_usage(u: &Value) -> Usage {
    let cached = u
        .pointer("/prompt_tokens_details/cached_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Usage {
        input_tokens: u64_at(u, "prompt_tokens").saturating_sub(cached),
        output_tokens: u64_at(u, "completion_tokens"),
        cache_read_tokens: cached,
        cache_write_tokens: 0,
        reasoning_tokens: u
            .pointer("/completion_tokens_details/reasoning_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    }
}

fn map_stop(s: &str) -> StopReason {
    match s {
        "stop" => StopReason::EndTurn,
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_owned()),
    }
}

impl Decoder for ChatDecoder {
    fn event(&mut self, _name: &str, data: &str, asm: &mut Assembler) -> Result<bool, LlmError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.flush_details(asm);
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let v = parse_json(PROVIDER, data)?;
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            asm.usage(&map_usage(u));
        }
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            // OpenRouter follows a `length` finish with an error chunk ("Token limit
            // reached", code 400; tests/corpus/openrouter_minimax_length). The response
            // is already complete and its stop reason says why; failing the call
            // would lose the output and misreport a token limit as a bad request.
            if asm.stop_reason() == Some(&StopReason::MaxTokens) {
                // Only the code: the message is provider text that may echo a secret.
                let code = err.get("code").map(Value::to_string).unwrap_or_default();
                tracing::debug!(code, "in-stream error after a max-tokens stop ignored");
                return Ok(false);
            }
            return Err(in_stream_error(PROVIDER, err));
        }
        let Some(choice) = v.pointer("/choices/0") else {
            return Ok(false);
        };
        if let Some(delta) = choice.get("delta") {
            let reasoning = delta
                .get("reasoning_content")
                .or_else(|| delta.get("reasoning"))
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty());
            if let Some(r) = reasoning {
                asm.reasoning_text(REASONING_KEY, r);
            }
            if let Some(entries) = delta.get("reasoning_details").and_then(Value::as_array) {
                let visible = self.details.feed(entries);
                // OpenRouter repeats the text of `reasoning.text` entries in
                // `delta.reasoning`; only when that is absent is the entry text the
                // reasoning text (some services send it nowhere else).
                if reasoning.is_none() {
                    asm.reasoning_text(REASONING_KEY, &visible);
                }
            }
            match delta.get("content") {
                Some(Value::String(t)) if !t.is_empty() => {
                    self.close_reasoning(asm);
                    asm.text(TEXT_KEY, t);
                }
                // Mistral's reasoning models send content as typed chunks:
                // `[{"type":"thinking","thinking":[{"type":"text","text":..}]}]` and
                // `[{"type":"text","text":..}]`.
                Some(Value::Array(chunks)) => {
                    for chunk in chunks {
                        self.content_chunk(chunk, asm);
                    }
                }
                _ => {}
            }
            if let Some(t) = delta.get("refusal").and_then(Value::as_str)
                && !t.is_empty()
            {
                self.close_reasoning(asm);
                asm.refusal(REFUSAL_KEY, t);
            }
            if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                for tc in calls {
                    self.tool_fragment(tc, asm);
                }
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.flush_details(asm);
            asm.close_text_and_reasoning();
            asm.stop(map_stop(reason));
        }
        Ok(false)
    }
}

impl ChatDecoder {
    fn content_chunk(&mut self, chunk: &Value, asm: &mut Assembler) {
        match chunk.get("type").and_then(Value::as_str) {
            Some("thinking") => {
                let parts = chunk.get("thinking").and_then(Value::as_array);
                for part in parts.into_iter().flatten() {
                    if let Some(t) = part.get("text").and_then(Value::as_str) {
                        asm.reasoning_text(REASONING_KEY, t);
                    }
                }
            }
            Some("text") => {
                if let Some(t) = chunk.get("text").and_then(Value::as_str)
                    && !t.is_empty()
                {
                    self.close_reasoning(asm);
                    asm.text(TEXT_KEY, t);
                }
            }
            _ => {}
        }
    }

    /// Ends the current reasoning block: entries arriving later (OpenRouter sends
    /// Gemini's encrypted signature after the text, next to the call) form a new
    /// reasoning item placed where they arrived, so the log keeps the stream order.
    fn close_reasoning(&mut self, asm: &mut Assembler) {
        self.flush_details(asm);
        asm.close(REASONING_KEY);
    }

    /// Hands the assembled `reasoning_details` to the current reasoning item. Done
    /// once per item (when it closes), not per delta: copying the growing entries on
    /// every fragment would be quadratic in the reasoning length.
    fn flush_details(&mut self, asm: &mut Assembler) {
        let entries = self.details.take();
        if !entries.is_empty() {
            asm.reasoning(REASONING_KEY).details.extend(entries);
        }
    }

    fn tool_fragment(&mut self, tc: &Value, asm: &mut Assembler) {
        let id = tc
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let key: Key = match tc.get("index").and_then(Value::as_u64) {
            Some(i) => i,
            // No index (some compatible servers): a fragment with a new id is a new
            // call, one without continues the latest.
            None => match id {
                Some(id) => self
                    .ids
                    .iter()
                    .find(|(_, known)| known == id)
                    .map(|(k, _)| *k)
                    .unwrap_or(self.ids.len() as Key),
                None => self.ids.last().map(|(k, _)| *k).unwrap_or(0),
            },
        };
        let known = self.ids.iter().position(|(k, _)| *k == key);
        let is_new_call = match (known, id) {
            (None, _) => true,
            // Same index, different id: the server reuses indexes; close the old call.
            (Some(p), Some(id)) => self.ids[p].1 != id,
            (Some(_), None) => !asm.has_open_tool(key),
        };
        if is_new_call {
            if known.is_some() {
                asm.close(key);
            }
            self.flush_details(asm);
            asm.close_text_and_reasoning();
            let name = tc
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            asm.tool_start(key, id, name);
            let id = id.map(str::to_owned).unwrap_or_default();
            match known {
                Some(p) => self.ids[p].1 = id,
                None => self.ids.push((key, id)),
            }
        }
        if let Some(a) = tc.pointer("/function/arguments").and_then(Value::as_str) {
            asm.tool_args(key, a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::tests::run;
    use crate::event::StreamEvent;

    #[test]
    fn interleaved_parallel_calls_and_usage_only_chunk() {
        let raw = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Let me\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"arguments\":\"\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"list_dir\",\"arguments\":\"{\\\"pa\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"path\\\":\\\"/a\\\"}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"th\\\":\\\"/b\\\"}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":20,\"prompt_tokens_details\":{\"cached_tokens\":60}}}\n\n",
            "data: [DONE]\n\n",
        );
        let (events, done) = run(crate::ProviderKind::OpenAiChat, raw);
        let done = done.unwrap();
        assert_eq!(done.stop, StopReason::ToolUse);
        let calls: Vec<_> = done
            .items
            .iter()
            .filter_map(|i| match i {
                Item::ToolCall(c) => Some((c.call_id.as_str(), c.arguments.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            calls,
            vec![
                ("call_a", "{\"path\":\"/a\"}"),
                ("call_b", "{\"path\":\"/b\"}")
            ]
        );
        assert_eq!(done.usage.input_tokens, 40);
        assert_eq!(done.usage.cache_read_tokens, 60);
        assert_eq!(done.usage.output_tokens, 20);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, StreamEvent::TextDelta(t) if t == "Let me"))
        );
    }

    #[test]
    fn length_stop_mid_call_is_truncated() {
        let raw = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"write_file\",\"arguments\":\"{\\\"path\\\":\\\"/a\\\",\\\"content\\\":\\\"abc\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let (events, done) = run(crate::ProviderKind::OpenAiChat, raw);
        let done = done.unwrap();
        assert!(done.items.is_empty());
        assert_eq!(done.truncated_calls.len(), 1);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, StreamEvent::ToolCallTruncated { .. }))
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, StreamEvent::ToolCallFinished { .. }))
        );
    }

    #[test]
    fn stream_cut_before_the_end_is_a_retryable_network_error() {
        let raw = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n";
        let (events, done) = run(crate::ProviderKind::OpenAiChat, raw);
        assert_eq!(events, vec![StreamEvent::TextDelta("Hel".into())]);
        let err = done.unwrap_err();
        assert!(matches!(err, LlmError::Network { .. }), "{err:?}");
        assert!(err.is_retryable());
    }

    #[test]
    fn server_reusing_index_zero_for_parallel_calls_keeps_them_apart() {
        let raw = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"x\",\"function\":{\"name\":\"a\",\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"y\",\"function\":{\"name\":\"b\",\"arguments\":\"{\\\"k\\\":1}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let (_, done) = run(crate::ProviderKind::OpenAiChat, raw);
        let done = done.unwrap();
        assert_eq!(done.items.len(), 2);
        // "stop" with calls present still means the model wants tool results.
        assert_eq!(done.stop, StopReason::ToolUse);
    }
}

#[cfg(test)]
mod echo_tests {
    use super::*;
    use serde_json::json;
    use transcript::{Reasoning, ToolCall, ToolResult};

    fn history(reasoning: Reasoning) -> Request {
        Request {
            history: vec![
                Item::UserMessage { text: "q".into() },
                Item::Reasoning(reasoning),
                Item::AssistantMessage {
                    text: "Let me look.".into(),
                },
                Item::ToolCall(ToolCall {
                    call_id: "c1".into(),
                    name: "read".into(),
                    arguments: "{}".into(),
                }),
                Item::ToolResult(ToolResult {
                    call_id: "c1".into(),
                    name: "read".into(),
                    output: "x".into(),
                    is_error: false,
                }),
                Item::Reasoning(Reasoning {
                    text: "done thinking".into(),
                    ..Default::default()
                }),
                Item::AssistantMessage {
                    text: "It is x.".into(),
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn reasoning_content_goes_on_tool_call_messages_only() {
        let req = history(Reasoning {
            text: "I should read.".into(),
            ..Default::default()
        });
        let b = body(&req, ReasoningEcho::ReasoningContent);
        assert_eq!(b["messages"][1]["reasoning_content"], "I should read.");
        assert!(b["messages"][3].get("reasoning_content").is_none());
        // Without the echo (plain Chat servers) reasoning never leaves.
        let b = body(&req, ReasoningEcho::None);
        assert!(b["messages"][1].get("reasoning_content").is_none());
        assert!(b["messages"][1].get("reasoning_details").is_none());
    }

    #[test]
    fn tool_call_message_without_reasoning_still_gets_the_field() {
        // History from another provider: DeepSeek checks for the field's presence.
        let b = body(
            &history(Reasoning::default()),
            ReasoningEcho::ReasoningContent,
        );
        assert_eq!(b["messages"][1]["reasoning_content"], "");
    }

    #[test]
    fn reasoning_details_go_back_verbatim_and_in_order() {
        let d = vec![
            json!({"type":"reasoning.text","text":"a","signature":"s","format":"anthropic-claude-v1","index":0}),
            json!({"type":"reasoning.encrypted","data":"E","id":"tool_c1","format":"google-gemini-v1","index":1}),
        ];
        let req = history(Reasoning {
            text: "a".into(),
            details: d.clone(),
            ..Default::default()
        });
        let b = body(&req, ReasoningEcho::ReasoningDetails);
        assert_eq!(b["messages"][1]["reasoning_details"], json!(d));
        assert!(b["messages"][1].get("reasoning_content").is_none());
        // The later turn had text-only reasoning: nothing to send back.
        assert!(b["messages"][3].get("reasoning_details").is_none());
    }

    #[test]
    fn reasoning_only_in_details_text_is_still_reasoning() {
        // Snowflake-style (tests/corpus/snowflake_claude_details_text_only): no
        // `delta.reasoning`, the text lives only in `reasoning_details[].text`.
        let raw = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\",\"reasoning_details\":[{\"type\":\"reasoning.text\",\"text\":\"1+1\",\"index\":0}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"2\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let (_, done) = crate::dialect::tests::run(crate::ProviderKind::OpenAiChat, raw);
        let done = done.unwrap();
        match &done.items[0] {
            Item::Reasoning(r) => {
                assert_eq!(r.text, "1+1");
                assert_eq!(r.details.len(), 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gemini_signature_arriving_with_the_call_goes_back_on_that_turn() {
        // Hand-written after OpenRouter's "Reasoning Tokens" guide (no recording of
        // this shape was found): text reasoning, then the encrypted thought signature
        // in the same chunk as the tool call.
        let raw = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"Need weather.\",\"reasoning_details\":[{\"type\":\"reasoning.text\",\"text\":\"Need weather.\",\"format\":\"google-gemini-v1\",\"index\":0}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"tool_w_1\",\"type\":\"function\",\"function\":{\"name\":\"weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}],\"reasoning_details\":[{\"type\":\"reasoning.encrypted\",\"data\":\"SIG\",\"id\":\"tool_w_1\",\"format\":\"google-gemini-v1\",\"index\":1}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let (_, done) = crate::dialect::tests::run(crate::ProviderKind::OpenAiChat, raw);
        let done = done.unwrap();
        assert!(matches!(&done.items[0], Item::Reasoning(_)));
        assert!(matches!(&done.items[1], Item::ToolCall(_)));
        let mut req = Request::default();
        req.history.push(Item::UserMessage { text: "q".into() });
        req.history.extend(done.items);
        let b = body(&req, ReasoningEcho::ReasoningDetails);
        let details = &b["messages"][1]["reasoning_details"];
        assert_eq!(details[0]["text"], "Need weather.");
        assert_eq!(
            details[1],
            json!({"type":"reasoning.encrypted","data":"SIG","id":"tool_w_1","format":"google-gemini-v1","index":1})
        );
        assert_eq!(b["messages"][1]["tool_calls"][0]["id"], "tool_w_1");
    }
}
