//! Every recording in `tests/corpus/` (raw response bodies captured from the real
//! services, provenance in each sidecar) decodes to the outcome its sidecar states,
//! whole and in 7-byte chunks; for the services with a reasoning round-trip rule the
//! next request's body carries the reasoning as that service requires; and what is
//! decoded, stored (serde, as the session log does) and restored rebuilds the same
//! request body.
//!
//! The sidecar's `expect` was computed from the raw bytes by an independent reading of
//! each wire format (not by this crate), then checked by hand.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use llm::{ApiKey, Client, Completed, Preset, ProviderConfig, ProviderKind, StreamEvent};
use serde_json::{Value, json};
use transcript::{Item, ToolResult};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

struct Recording {
    name: String,
    meta: Value,
    body: String,
}

fn recordings() -> Vec<Recording> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let meta: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let body = std::fs::read_to_string(path.with_extension("sse"))
            .unwrap_or_else(|e| panic!("{}: no .sse next to it: {e}", path.display()));
        out.push(Recording {
            name: path.file_stem().unwrap().to_string_lossy().into_owned(),
            meta,
            body,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(out.len() >= 30, "corpus shrank: {} recordings", out.len());
    out
}

fn kind(dialect: &str) -> ProviderKind {
    match dialect {
        "openai" => ProviderKind::OpenAiChat,
        "anthropic" => ProviderKind::Anthropic,
        "responses" => ProviderKind::OpenAiResponses,
        "gemini" => ProviderKind::Gemini,
        other => panic!("unknown dialect {other}"),
    }
}

fn decode(r: &Recording, chunk: usize) -> (Vec<StreamEvent>, Completed) {
    let k = kind(r.meta["dialect"].as_str().unwrap());
    let (events, done) = llm::parse_sse(k, r.body.as_bytes().chunks(chunk));
    let done = done.unwrap_or_else(|e| panic!("{}: decoding failed: {e}", r.name));
    (events, done)
}

fn joined(items: &[Item], f: impl Fn(&Item) -> Option<&str>) -> String {
    items.iter().filter_map(f).collect()
}

fn reasoning_items(items: &[Item]) -> impl Iterator<Item = &transcript::Reasoning> {
    items.iter().filter_map(|i| match i {
        Item::Reasoning(r) => Some(r),
        _ => None,
    })
}

#[test]
fn every_recording_has_provenance() {
    for r in recordings() {
        let src = &r.meta["source"];
        for key in ["repository", "path", "commit"] {
            assert!(
                src[key].as_str().is_some_and(|s| !s.is_empty()),
                "{}: source.{key} missing",
                r.name
            );
        }
        assert_eq!(
            src["commit"].as_str().unwrap().len(),
            40,
            "{}: commit must be a full hash",
            r.name
        );
        assert!(r.meta["conversion"].is_string(), "{}: conversion", r.name);
        assert!(r.meta["service"].is_string(), "{}: service", r.name);
        assert!(r.meta["expect"].is_object(), "{}: expect", r.name);
    }
}

#[test]
fn every_recording_decodes_to_its_expected_outcome() {
    let mut failures = Vec::new();
    for r in recordings() {
        if let Err(e) = check_decode(&r) {
            failures.push(format!("{}: {e}", r.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn check_decode(r: &Recording) -> Result<(), String> {
    let exp = &r.meta["expect"];
    let (events, done) = decode(r, 7);
    // Chunking must not matter (ids this layer synthesises differ per decode).
    let (_, whole) = decode(r, r.body.len().max(1));
    if without_synth_ids(&whole.items) != without_synth_ids(&done.items) || whole.stop != done.stop
    {
        return Err("7-byte chunks and the whole body decode differently".into());
    }
    let text = joined(&done.items, |i| match i {
        Item::AssistantMessage { text } => Some(text),
        _ => None,
    });
    check_eq("text", &text, exp["text"].as_str().unwrap_or(""))?;
    let refusal = joined(&done.items, |i| match i {
        Item::Refusal { text } => Some(text),
        _ => None,
    });
    check_eq("refusal", &refusal, exp["refusal"].as_str().unwrap_or(""))?;
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    check_eq("streamed text", &streamed, &format!("{text}{refusal}"))?;
    let reasoning: String = reasoning_items(&done.items)
        .map(|r| r.text.as_str())
        .collect();
    check_eq(
        "reasoning",
        &reasoning,
        exp["reasoning"].as_str().unwrap_or(""),
    )?;
    let streamed_reasoning: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ReasoningDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    check_eq("streamed reasoning", &streamed_reasoning, &reasoning)?;

    let calls: Vec<_> = done
        .items
        .iter()
        .filter_map(|i| match i {
            Item::ToolCall(c) => Some(c),
            _ => None,
        })
        .collect();
    let want = exp["calls"].as_array().cloned().unwrap_or_default();
    if calls.len() != want.len() {
        return Err(format!("{} calls, expected {}", calls.len(), want.len()));
    }
    for (c, w) in calls.iter().zip(&want) {
        if c.name != w["name"].as_str().unwrap_or_default() {
            return Err(format!("call name {:?}, expected {}", c.name, w["name"]));
        }
        let args: Value = serde_json::from_str(&c.arguments)
            .map_err(|e| format!("call {} arguments {:?}: {e}", c.name, c.arguments))?;
        if args != w["arguments"] {
            return Err(format!(
                "call {} arguments {args}, expected {}",
                c.name, w["arguments"]
            ));
        }
        match w["id"].as_str() {
            Some(id) if c.call_id != id => {
                return Err(format!("call id {:?}, expected {id}", c.call_id));
            }
            None if !c.call_id.starts_with("pods_synth_") => {
                return Err(format!("call id {:?} should be synthesised", c.call_id));
            }
            _ => {}
        }
    }
    let stop = serde_json::to_value(&done.stop).map_err(|e| e.to_string())?;
    if stop != exp["stop"] {
        return Err(format!("stop {stop}, expected {}", exp["stop"]));
    }
    if !done.truncated_calls.is_empty() {
        return Err(format!("truncated calls {:?}", done.truncated_calls));
    }
    let count = |f: &dyn Fn(&transcript::Reasoning) -> bool| {
        reasoning_items(&done.items).filter(|r| f(r)).count() as u64
    };
    for (key, n) in [
        ("signatures", count(&|r| r.signature.is_some())),
        ("redacted", count(&|r| r.redacted_data.is_some())),
        ("encrypted", count(&|r| r.encrypted_content.is_some())),
    ] {
        if let Some(want) = exp[key].as_u64()
            && want != n
        {
            return Err(format!("{key}: {n}, expected {want}"));
        }
    }
    let details: Vec<Value> = reasoning_items(&done.items)
        .flat_map(|r| r.details.iter().cloned())
        .collect();
    let want_details = exp["reasoning_details"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if details != want_details {
        return Err(format!(
            "reasoning_details differ:\n got  {}\n want {}",
            Value::Array(details),
            Value::Array(want_details)
        ));
    }
    Ok(())
}

fn without_synth_ids(items: &[Item]) -> Vec<Item> {
    items
        .iter()
        .cloned()
        .map(|mut i| {
            if let Item::ToolCall(c) = &mut i
                && c.call_id.starts_with("pods_synth_")
            {
                c.call_id.clear();
            }
            i
        })
        .collect()
}

fn check_eq(what: &str, got: &str, want: &str) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, expected {want:?}"))
    }
}

/// The config the recording's service would be used with: its preset (for the
/// reasoning rule), else the plain dialect.
fn config_for(r: &Recording) -> ProviderConfig {
    let k = kind(r.meta["dialect"].as_str().unwrap());
    match r.meta["preset"].as_str() {
        Some(p) => ProviderConfig::from_preset(Preset::lookup(p).unwrap(), Some(ApiKey::new("k"))),
        None => ProviderConfig::new(k, "http://127.0.0.1:9/v1", None),
    }
}

/// The next request of a tool loop: the user's question, the decoded items, a result
/// for every call.
fn next_request(items: &[Item]) -> llm::Request {
    let mut req = llm::Request {
        system: "You are a test.".into(),
        ..Default::default()
    };
    req.config.model = "m".into();
    req.history.push(Item::UserMessage { text: "q".into() });
    req.history.extend(items.iter().cloned());
    for i in items {
        if let Item::ToolCall(c) = i {
            req.history.push(Item::ToolResult(ToolResult {
                call_id: c.call_id.clone(),
                name: c.name.clone(),
                output: "42".into(),
                is_error: false,
            }));
        }
    }
    req
}

fn body_of(cfg: &ProviderConfig, req: &llm::Request) -> Value {
    let bytes = Client::new(cfg.clone()).unwrap().request_body(req).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn assistant_messages(body: &Value) -> Vec<&Value> {
    body["messages"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["role"] == "assistant").collect())
        .unwrap_or_default()
}

#[test]
fn next_request_carries_reasoning_as_each_service_requires() {
    let mut failures = Vec::new();
    for r in recordings() {
        let (_, done) = decode(&r, 7);
        let cfg = config_for(&r);
        let body = body_of(&cfg, &next_request(&done.items));
        let exp = &r.meta["expect"];
        let has_calls = exp["calls"].as_array().is_some_and(|c| !c.is_empty());
        let check = match r.meta["dialect"].as_str().unwrap() {
            "openai" => check_chat_echo(&cfg, &body, exp, has_calls),
            "anthropic" => check_anthropic_echo(&body, exp),
            "responses" => check_responses_echo(&body, exp),
            "gemini" => check_gemini_echo(&body, exp),
            _ => unreachable!(),
        };
        if let Err(e) = check {
            failures.push(format!("{}: {e}\n body: {body}", r.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn check_chat_echo(
    cfg: &ProviderConfig,
    body: &Value,
    exp: &Value,
    has_calls: bool,
) -> Result<(), String> {
    let msgs = assistant_messages(body);
    let details = exp["reasoning_details"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for m in &msgs {
        let rc = m.get("reasoning_content");
        let rd = m.get("reasoning_details");
        match cfg.reasoning_echo {
            llm::ReasoningEcho::None => {
                if rc.is_some() || rd.is_some() {
                    return Err("reasoning sent to a service that takes none".into());
                }
            }
            llm::ReasoningEcho::ReasoningContent => {
                let carries_calls = m.get("tool_calls").is_some();
                match (carries_calls, rc) {
                    (true, Some(Value::String(s)))
                        if s == exp["reasoning"].as_str().unwrap_or("") => {}
                    (true, other) => {
                        return Err(format!(
                            "tool-call message needs reasoning_content = the reasoning, has {other:?}"
                        ));
                    }
                    (false, Some(_)) => {
                        return Err("reasoning_content on a message without calls".into());
                    }
                    (false, None) => {}
                }
                if rd.is_some() {
                    return Err("reasoning_details sent to a reasoning_content service".into());
                }
            }
            llm::ReasoningEcho::ReasoningDetails => {
                if rc.is_some() {
                    return Err("reasoning_content sent to OpenRouter".into());
                }
                let got = rd.and_then(Value::as_array).cloned().unwrap_or_default();
                if got != details {
                    return Err(format!(
                        "reasoning_details sent back {got:?}, expected exactly {details:?}"
                    ));
                }
            }
        }
    }
    if has_calls && msgs.iter().all(|m| m.get("tool_calls").is_none()) {
        return Err("no assistant message carries the calls".into());
    }
    Ok(())
}

fn check_anthropic_echo(body: &Value, exp: &Value) -> Result<(), String> {
    let blocks: Vec<&Value> = assistant_messages(body)
        .iter()
        .flat_map(|m| m["content"].as_array().into_iter().flatten())
        .collect();
    let thinking: Vec<_> = blocks.iter().filter(|b| b["type"] == "thinking").collect();
    let redacted = blocks
        .iter()
        .filter(|b| b["type"] == "redacted_thinking")
        .count() as u64;
    if thinking.len() as u64 != exp["signatures"].as_u64().unwrap_or(0) {
        return Err(format!(
            "{} signed thinking blocks sent back",
            thinking.len()
        ));
    }
    if thinking.iter().any(|b| !b["signature"].is_string()) {
        return Err("thinking block without its signature".into());
    }
    let text: String = thinking
        .iter()
        .filter_map(|b| b["thinking"].as_str())
        .collect();
    check_eq(
        "thinking sent back",
        &text,
        exp["reasoning"].as_str().unwrap_or(""),
    )?;
    if redacted != exp["redacted"].as_u64().unwrap_or(0) {
        return Err(format!("{redacted} redacted_thinking blocks sent back"));
    }
    // Thinking goes first in its assistant message, as Anthropic requires.
    if let Some(first) = assistant_messages(body).first()
        && (!thinking.is_empty() || redacted > 0)
        && !matches!(
            first["content"][0]["type"].as_str(),
            Some("thinking" | "redacted_thinking")
        )
    {
        return Err("thinking is not the first block of the assistant message".into());
    }
    Ok(())
}

fn check_responses_echo(body: &Value, exp: &Value) -> Result<(), String> {
    let input = body["input"].as_array().ok_or("no input")?;
    let reasoning: Vec<_> = input.iter().filter(|i| i["type"] == "reasoning").collect();
    let enc = reasoning
        .iter()
        .filter(|i| i["encrypted_content"].is_string())
        .count() as u64;
    if enc != exp["encrypted"].as_u64().unwrap_or(0) {
        return Err(format!("{enc} encrypted reasoning items sent back"));
    }
    // Reasoning precedes the calls it led to.
    let first_call = input.iter().position(|i| i["type"] == "function_call");
    let last_reasoning = input.iter().rposition(|i| i["type"] == "reasoning");
    if let (Some(c), Some(r)) = (first_call, last_reasoning)
        && r > c
    {
        return Err("reasoning item after the function call".into());
    }
    Ok(())
}

fn check_gemini_echo(body: &Value, exp: &Value) -> Result<(), String> {
    let parts: Vec<&Value> = body["contents"]
        .as_array()
        .ok_or("no contents")?
        .iter()
        .filter(|c| c["role"] == "model")
        .flat_map(|c| c["parts"].as_array().into_iter().flatten())
        .collect();
    let sigs = parts
        .iter()
        .filter(|p| p["thoughtSignature"].is_string())
        .count() as u64;
    if sigs != exp["signatures"].as_u64().unwrap_or(0) {
        return Err(format!("{sigs} thoughtSignatures sent back"));
    }
    // A call's signature stays on the call's part.
    let calls_with_sig = parts
        .iter()
        .filter(|p| p.get("functionCall").is_some() && p["thoughtSignature"].is_string())
        .count();
    let want_on_calls = exp["calls_with_signature"].as_u64().unwrap_or(0) as usize;
    if calls_with_sig != want_on_calls {
        return Err(format!(
            "{calls_with_sig} functionCall parts carry a signature, expected {want_on_calls}"
        ));
    }
    Ok(())
}

/// Round trip for all four dialects: decode, store as the session log does (serde
/// JSON), restore, rebuild: the request body is byte-identical.
#[test]
fn decoded_items_replayed_after_restore_give_the_same_request_body() {
    let mut dialects_seen = std::collections::BTreeSet::new();
    for r in recordings() {
        let (_, done) = decode(&r, 7);
        let cfg = config_for(&r);
        let before = Client::new(cfg.clone())
            .unwrap()
            .request_body(&next_request(&done.items))
            .unwrap();
        let stored: Vec<String> = done
            .items
            .iter()
            .map(|i| serde_json::to_string(i).unwrap())
            .collect();
        let restored: Vec<Item> = stored
            .iter()
            .map(|s| serde_json::from_str(s).unwrap())
            .collect();
        assert_eq!(restored, done.items, "{}: items changed in the log", r.name);
        let after = Client::new(cfg)
            .unwrap()
            .request_body(&next_request(&restored))
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&before),
            String::from_utf8_lossy(&after),
            "{}: request body changed after restore",
            r.name
        );
        dialects_seen.insert(r.meta["dialect"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        dialects_seen.into_iter().collect::<Vec<_>>(),
        ["anthropic", "gemini", "openai", "responses"]
    );
}

#[test]
fn a_refusal_is_visible_text_marked_as_refusal() {
    // Hand-written, not a recording: the corpus has no real `delta.refusal` stream
    // (see the README). Shape per the OpenAI Chat streaming reference.
    let raw = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"I can't \"},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"help with that.\"},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let (events, done) = llm::parse_sse(ProviderKind::OpenAiChat, raw.as_bytes().chunks(5));
    let done = done.unwrap();
    assert_eq!(
        done.items,
        vec![Item::Refusal {
            text: "I can't help with that.".into()
        }]
    );
    let shown: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(shown, "I can't help with that.");
    // Sent back as the assistant's text.
    let cfg = ProviderConfig::new(ProviderKind::OpenAiChat, "http://x/v1", None);
    let body = body_of(&cfg, &next_request(&done.items));
    assert_eq!(
        body["messages"][2],
        json!({"role": "assistant", "content": "I can't help with that."})
    );
}
