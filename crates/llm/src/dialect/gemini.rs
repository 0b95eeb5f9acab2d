//! Gemini `streamGenerateContent?alt=sse`.
//!
//! Wire facts: every SSE event is a whole `GenerateContentResponse` whose
//! `candidates[0].content.parts` hold new text, thought text (`thought: true`) or whole
//! `functionCall`s (arguments arrive complete, never as deltas). Any part may carry a
//! `thoughtSignature` that must go back on the same part; we keep it as a
//! signature-only [`Reasoning`](transcript::Reasoning) item placed just before that
//! part, and re-attach it to the following part when building the next request.
//! `usageMetadata` is cumulative; the stream ends with the connection after a chunk
//! with `finishReason`. The API key goes in `x-goog-api-key`, never in the URL.

use serde_json::{Value, json};
use transcript::{Item, StopReason, Usage};

use super::{Decoder, args_object, image, in_stream_error, parse_json, sorted_tools, u64_at};
use crate::assemble::{Assembler, Key, SYNTH_ID_PREFIX};
use crate::error::LlmError;
use crate::event::Request;

const PROVIDER: &str = "gemini";

/// The request body.
pub(crate) fn body(req: &Request) -> Value {
    let mut contents: Vec<Value> = Vec::new();
    let mut pending_sig: Option<String> = None;
    for item in &req.history {
        match item {
            Item::UserMessage { text } | Item::Notice { text } => {
                flush_sig(&mut contents, &mut pending_sig);
                contents_push(&mut contents, "user", json!({"text": text}));
            }
            Item::Image { image: r } => {
                flush_sig(&mut contents, &mut pending_sig);
                let part = match image(req, r) {
                    Ok((media_type, data)) => {
                        json!({"inlineData": {"mimeType": media_type, "data": data}})
                    }
                    Err(text) => json!({"text": text}),
                };
                contents_push(&mut contents, "user", part);
            }
            Item::AssistantMessage { text } | Item::Refusal { text } => {
                model_part(&mut contents, &mut pending_sig, json!({"text": text}))
            }
            Item::ToolCall(c) => {
                let mut call = json!({"name": c.name, "args": args_object(&c.arguments)});
                if !c.call_id.starts_with(SYNTH_ID_PREFIX) {
                    call["id"] = json!(c.call_id);
                }
                model_part(
                    &mut contents,
                    &mut pending_sig,
                    json!({"functionCall": call}),
                )
            }
            Item::ToolResult(r) => {
                flush_sig(&mut contents, &mut pending_sig);
                let key = if r.is_error { "error" } else { "output" };
                let mut resp = json!({"name": r.name, "response": {key: r.output}});
                if !r.call_id.starts_with(SYNTH_ID_PREFIX) {
                    resp["id"] = json!(r.call_id);
                }
                contents_push(&mut contents, "user", json!({"functionResponse": resp}));
            }
            Item::Reasoning(r) => {
                if !r.text.is_empty() {
                    let mut part = json!({"text": r.text, "thought": true});
                    if let Some(s) = &r.signature {
                        part["thoughtSignature"] = json!(s);
                    }
                    contents_push(&mut contents, "model", part);
                } else if let Some(s) = &r.signature {
                    pending_sig = Some(s.clone());
                }
            }
        }
    }
    flush_sig(&mut contents, &mut pending_sig);

    let mut body = json!({"contents": contents});
    if !req.system.is_empty() {
        body["systemInstruction"] = json!({"parts": [{"text": req.system}]});
    }
    let tools = sorted_tools(&req.tools);
    if !tools.is_empty() {
        let decls: Vec<Value> = tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "parameters": t.parameters}))
            .collect();
        body["tools"] = json!([{"functionDeclarations": decls}]);
    }
    let mut generation = serde_json::Map::new();
    if let Some(n) = req.config.max_output_tokens {
        generation.insert("maxOutputTokens".into(), json!(n));
    }
    if let Some(t) = req.config.temperature {
        generation.insert("temperature".into(), json!(t));
    }
    if let Some(b) = req.config.reasoning_budget {
        generation.insert(
            "thinkingConfig".into(),
            json!({"thinkingBudget": b, "includeThoughts": true}),
        );
    }
    if !generation.is_empty() {
        body["generationConfig"] = Value::Object(generation);
    }
    body
}

fn flush_sig(contents: &mut Vec<Value>, sig: &mut Option<String>) {
    if let Some(s) = sig.take() {
        contents_push(
            contents,
            "model",
            json!({"text": "", "thoughtSignature": s}),
        );
    }
}

fn model_part(contents: &mut Vec<Value>, sig: &mut Option<String>, mut part: Value) {
    if let Some(s) = sig.take() {
        part["thoughtSignature"] = json!(s);
    }
    contents_push(contents, "model", part);
}

fn contents_push(contents: &mut Vec<Value>, role: &str, part: Value) {
    match contents.last_mut() {
        Some(c) if c["role"] == role => {
            if let Some(p) = c["parts"].as_array_mut() {
                p.push(part);
            }
        }
        _ => contents.push(json!({"role": role, "parts": [part]})),
    }
}

fn map_usage(u: &Value) -> Usage {
    let cached = u64_at(u, "cachedContentTokenCount");
    let thoughts = u64_at(u, "thoughtsTokenCount");
    Usage {
        input_tokens: u64_at(u, "promptTokenCount").saturating_sub(cached),
        output_tokens: u64_at(u, "candidatesTokenCount") + thoughts,
        cache_read_tokens: cached,
        cache_write_tokens: 0,
        reasoning_tokens: thoughts,
    }
}

fn map_stop(s: &str) -> StopReason {
    match s {
        "STOP" => StopReason::EndTurn,
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            StopReason::ContentFilter
        }
        other => StopReason::Other(other.to_owned()),
    }
}

/// Stream state of one Gemini response.
#[derive(Debug, Default)]
pub(crate) struct GeminiDecoder {
    next_key: Key,
    text_key: Option<Key>,
    thought_key: Option<Key>,
}

impl GeminiDecoder {
    fn fresh(&mut self) -> Key {
        self.next_key += 1;
        self.next_key
    }

    fn end_text(&mut self, asm: &mut Assembler) {
        if let Some(k) = self.text_key.take() {
            asm.close(k);
        }
    }

    fn end_thought(&mut self, asm: &mut Assembler) {
        if let Some(k) = self.thought_key.take() {
            asm.close(k);
        }
    }

    /// A signature-only reasoning item placed before the part that carried it.
    fn signature(&mut self, asm: &mut Assembler, sig: &str) {
        let k = self.fresh();
        asm.reasoning(k).signature = Some(sig.to_owned());
        asm.close(k);
    }

    fn part(&mut self, p: &Value, asm: &mut Assembler) {
        let sig = p["thoughtSignature"].as_str().filter(|s| !s.is_empty());
        if p["thought"].as_bool() == Some(true) {
            self.end_text(asm);
            let k = match self.thought_key {
                Some(k) => k,
                None => {
                    let k = self.fresh();
                    self.thought_key = Some(k);
                    k
                }
            };
            asm.reasoning_text(k, p["text"].as_str().unwrap_or(""));
            if let Some(s) = sig {
                asm.reasoning(k).signature = Some(s.to_owned());
            }
        } else if let Some(fc) = p.get("functionCall") {
            self.end_text(asm);
            self.end_thought(asm);
            if let Some(s) = sig {
                self.signature(asm, s);
            }
            let k = self.fresh();
            asm.tool_start(k, fc["id"].as_str(), fc["name"].as_str().unwrap_or(""));
            let args = fc.get("args").cloned().unwrap_or_else(|| json!({}));
            asm.tool_args(k, &args.to_string());
            asm.close(k);
        } else if let Some(t) = p["text"].as_str() {
            self.end_thought(asm);
            if let Some(s) = sig {
                self.end_text(asm);
                self.signature(asm, s);
            }
            if t.is_empty() {
                return;
            }
            let k = match self.text_key {
                Some(k) => k,
                None => {
                    let k = self.fresh();
                    self.text_key = Some(k);
                    k
                }
            };
            asm.text(k, t);
        }
    }
}

impl Decoder for GeminiDecoder {
    fn event(&mut self, _name: &str, data: &str, asm: &mut Assembler) -> Result<bool, LlmError> {
        if data.trim().is_empty() {
            return Ok(false);
        }
        let v = parse_json(PROVIDER, data)?;
        if let Some(err) = v.get("error") {
            return Err(in_stream_error(PROVIDER, err));
        }
        if let Some(u) = v.get("usageMetadata") {
            asm.usage(&map_usage(u));
        }
        let cand = v.pointer("/candidates/0");
        if let Some(parts) = cand
            .and_then(|c| c.pointer("/content/parts"))
            .and_then(Value::as_array)
        {
            for p in parts {
                self.part(p, asm);
            }
        }
        let finish = cand.and_then(|c| c["finishReason"].as_str());
        if let Some(f) = finish {
            self.end_text(asm);
            self.end_thought(asm);
            asm.stop(map_stop(f));
        } else if cand.is_none() && v.pointer("/promptFeedback/blockReason").is_some() {
            asm.stop(StopReason::ContentFilter);
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::tests::run;
    use transcript::ToolResult;

    #[test]
    fn parallel_calls_signature_and_usage() {
        let raw = concat!(
            "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Checking\"}]}}]}\r\n\r\n",
            "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"read_file\",\"args\":{\"path\":\"/a\"}},\"thoughtSignature\":\"SIG1\"},{\"functionCall\":{\"name\":\"list_dir\",\"args\":{\"path\":\"/b\"}}}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":120,\"cachedContentTokenCount\":100,\"candidatesTokenCount\":12,\"thoughtsTokenCount\":5}}\r\n\r\n",
        );
        let (_, done) = run(crate::ProviderKind::Gemini, raw);
        let done = done.unwrap();
        assert_eq!(done.stop, StopReason::ToolUse);
        assert_eq!(done.usage.input_tokens, 20);
        assert_eq!(done.usage.cache_read_tokens, 100);
        assert_eq!(done.usage.output_tokens, 17);
        let calls: Vec<_> = done
            .items
            .iter()
            .filter_map(|i| match i {
                Item::ToolCall(c) => Some(c.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].arguments, "{\"path\":\"/a\"}");
        assert_eq!(calls[1].arguments, "{\"path\":\"/b\"}");
        assert_ne!(calls[0].call_id, calls[1].call_id);
        let mut history = done.items.clone();
        for c in &calls {
            history.push(Item::ToolResult(ToolResult {
                call_id: c.call_id.clone(),
                name: c.name.clone(),
                output: "ok".into(),
                is_error: false,
            }));
        }
        let b = body(&Request {
            history,
            ..Default::default()
        });
        assert_eq!(b["contents"][0]["role"], "model");
        assert_eq!(b["contents"][0]["parts"][1]["thoughtSignature"], "SIG1");
        assert_eq!(
            b["contents"][0]["parts"][1]["functionCall"],
            json!({"name":"read_file","args":{"path":"/a"}})
        );
        assert_eq!(
            b["contents"][1]["parts"][0],
            json!({"functionResponse":{"name":"read_file","response":{"output":"ok"}}})
        );
    }
}
