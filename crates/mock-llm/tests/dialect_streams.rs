//! Each dialect's stream has the providers' wire shape, driven with raw HTTP.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{frames, post, serve};
use serde_json::{Value, json};

const TOOLS_SCRIPT: &str = r#"
responses:
  - output:
      - reasoning: "Thinking hard."
        signature: "sig-1"
        encrypted_content: "enc-1"
      - redacted_reasoning: "opaque-1"
      - text: "Looking."
        chunks: ["Loo", "king."]
        thought_signature: "ts-text"
      - tool_call: read_file
        id: call_a
        arguments: '{"path":"a.txt"}'
        chunks: 3
        thought_signature: "ts-a"
      - tool_call: grep
        id: call_b
        arguments: '{"pattern":"fn main"}'
        chunks: 3
    interleave: true
    usage: {input: 100, output: 20, cache_read: 60, cache_write: 7, reasoning: 5}
"#;

#[tokio::test]
async fn openai_chat_streams_text_interleaved_tool_calls_and_usage_chunk() {
    let server = serve(TOOLS_SCRIPT).await;
    let body = json!({"model": "gpt-test", "stream": true, "stream_options": {"include_usage": true}, "messages": []});
    let (status, headers, text) =
        post(&format!("{}/v1/chat/completions", server.base_url()), &body).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/event-stream");
    let fr = frames(&text);
    assert_eq!(fr.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = fr[..fr.len() - 1].iter().map(|f| f.json()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk" && c["model"] == "gpt-test")
    );

    let mut content = String::new();
    let mut reasoning = String::new();
    let mut args: BTreeMap<u64, String> = BTreeMap::new();
    let mut names: BTreeMap<u64, (String, String)> = BTreeMap::new();
    let mut arg_order = Vec::new();
    for c in &chunks[..chunks.len() - 1] {
        let delta = &c["choices"][0]["delta"];
        content.push_str(delta["content"].as_str().unwrap_or(""));
        reasoning.push_str(delta["reasoning_content"].as_str().unwrap_or(""));
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = call["index"].as_u64().unwrap();
            if let Some(id) = call["id"].as_str() {
                assert_eq!(call["type"], "function");
                names.insert(
                    index,
                    (
                        id.to_owned(),
                        call["function"]["name"].as_str().unwrap().to_owned(),
                    ),
                );
            }
            let piece = call["function"]["arguments"].as_str().unwrap();
            if !piece.is_empty() {
                arg_order.push(index);
            }
            args.entry(index).or_default().push_str(piece);
        }
    }
    assert_eq!(content, "Looking.");
    assert_eq!(reasoning, "Thinking hard.");
    assert_eq!(names[&0], ("call_a".to_owned(), "read_file".to_owned()));
    assert_eq!(names[&1], ("call_b".to_owned(), "grep".to_owned()));
    assert_eq!(args[&0], r#"{"path":"a.txt"}"#);
    assert_eq!(args[&1], r#"{"pattern":"fn main"}"#);
    assert_eq!(arg_order, [0, 1, 0, 1, 0, 1], "argument deltas interleave");

    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 100);
    assert_eq!(usage["usage"]["completion_tokens"], 20);
    assert_eq!(usage["usage"]["prompt_tokens_details"]["cached_tokens"], 60);
    server.shutdown().await;
}

#[tokio::test]
async fn openai_chat_without_include_usage_has_no_usage_chunk_and_non_stream_is_json() {
    let server = serve(
        "responses: [{output: [{text: hi}]}, {output: [{text: whole}, {tool_call: t, id: c9}]}]",
    )
    .await;
    let url = format!("{}/v1/chat/completions", server.base_url());
    let (_, _, text) = post(&url, &json!({"model": "m", "stream": true, "messages": []})).await;
    let fr = frames(&text);
    assert!(fr.iter().all(|f| !f.data.contains("usage")), "{text}");
    let finish = fr[fr.len() - 2].json();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");

    let (status, headers, text) = post(&url, &json!({"model": "m", "messages": []})).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "whole");
    assert_eq!(v["choices"][0]["message"]["tool_calls"][0]["id"], "c9");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn anthropic_streams_thinking_signature_redacted_and_tool_use() {
    let server = serve(TOOLS_SCRIPT).await;
    let body = json!({"model": "claude-test", "stream": true, "max_tokens": 100, "messages": []});
    let (status, _, text) = post(&format!("{}/v1/messages", server.base_url()), &body).await;
    assert_eq!(status, 200);
    let fr = frames(&text);
    for f in &fr {
        assert_eq!(
            Some(f.json()["type"].as_str().unwrap()),
            f.event.as_deref(),
            "event name = data.type"
        );
    }
    let names: Vec<&str> = fr.iter().map(|f| f.event.as_deref().unwrap()).collect();
    assert_eq!(
        &names[..3],
        ["message_start", "ping", "content_block_start"]
    );
    assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"]);

    let start = fr[0].json();
    assert_eq!(start["message"]["usage"]["input_tokens"], 100);
    assert_eq!(start["message"]["usage"]["cache_read_input_tokens"], 60);
    assert_eq!(start["message"]["usage"]["cache_creation_input_tokens"], 7);

    let events: Vec<Value> = fr.iter().map(|f| f.json()).collect();
    let block_start = |i: u64| {
        events
            .iter()
            .find(|e| e["type"] == "content_block_start" && e["index"] == i)
            .unwrap()["content_block"]
            .clone()
    };
    assert_eq!(block_start(0)["type"], "thinking");
    assert_eq!(
        block_start(1),
        json!({"type": "redacted_thinking", "data": "opaque-1"})
    );
    assert_eq!(
        block_start(3),
        json!({"type": "tool_use", "id": "call_a", "name": "read_file", "input": {}})
    );
    let deltas = |i: u64, kind: &str, field: &str| -> String {
        events
            .iter()
            .filter(|e| {
                e["type"] == "content_block_delta" && e["index"] == i && e["delta"]["type"] == kind
            })
            .map(|e| e["delta"][field].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(deltas(0, "thinking_delta", "thinking"), "Thinking hard.");
    assert_eq!(deltas(0, "signature_delta", "signature"), "sig-1");
    assert_eq!(deltas(2, "text_delta", "text"), "Looking.");
    assert_eq!(
        deltas(3, "input_json_delta", "partial_json"),
        r#"{"path":"a.txt"}"#
    );
    assert_eq!(
        deltas(4, "input_json_delta", "partial_json"),
        r#"{"pattern":"fn main"}"#
    );
    // The signature is the thinking block's last delta, right before its stop.
    let sig_pos = events
        .iter()
        .position(|e| e["delta"]["type"] == "signature_delta")
        .unwrap();
    assert_eq!(
        events[sig_pos + 1],
        json!({"type": "content_block_stop", "index": 0})
    );

    let md = &events[events.len() - 2];
    assert_eq!(md["delta"]["stop_reason"], "tool_use");
    assert_eq!(md["usage"]["output_tokens"], 20);
}

#[tokio::test]
async fn responses_streams_reasoning_function_calls_and_completed_usage() {
    let server = serve(TOOLS_SCRIPT).await;
    let body = json!({"model": "o-test", "stream": true, "input": "hi"});
    let (status, _, text) = post(&format!("{}/v1/responses", server.base_url()), &body).await;
    assert_eq!(status, 200);
    let events: Vec<Value> = frames(&text).iter().map(|f| f.json()).collect();
    assert_eq!(events[0]["type"], "response.created");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["sequence_number"], i as u64);
    }
    let added: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "response.output_item.added")
        .collect();
    assert_eq!(added[0]["item"]["type"], "reasoning");
    assert_eq!(added[0]["item"]["encrypted_content"], "enc-1");
    assert_eq!(added[3]["item"]["type"], "function_call");
    assert_eq!(added[3]["item"]["call_id"], "call_a");
    assert_eq!(added[3]["item"]["name"], "read_file");
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
    {
        assert!(e["output_index"].is_u64());
        args.entry(e["item_id"].as_str().unwrap().to_owned())
            .or_default()
            .push_str(e["delta"].as_str().unwrap());
    }
    assert_eq!(
        args[added[3]["item"]["id"].as_str().unwrap()],
        r#"{"path":"a.txt"}"#
    );
    assert_eq!(
        args[added[4]["item"]["id"].as_str().unwrap()],
        r#"{"pattern":"fn main"}"#
    );
    let summary: String = events
        .iter()
        .filter(|e| e["type"] == "response.reasoning_summary_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(summary, "Thinking hard.");
    let text: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Looking.");
    let done = events.last().unwrap();
    assert_eq!(done["type"], "response.completed");
    assert_eq!(done["response"]["status"], "completed");
    let usage = &done["response"]["usage"];
    assert_eq!(usage["input_tokens"], 100);
    assert_eq!(usage["input_tokens_details"]["cached_tokens"], 60);
    assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], 5);
    assert_eq!(done["response"]["output"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn responses_max_tokens_is_incomplete() {
    let server =
        serve(r#"responses: [{output: [{tool_call: w, arguments: '{"pa'}], stop: max_tokens}]"#)
            .await;
    let body = json!({"model": "o", "stream": true, "input": []});
    let (_, _, text) = post(&format!("{}/v1/responses", server.base_url()), &body).await;
    let last = frames(&text).last().unwrap().clone();
    assert_eq!(last.event.as_deref(), Some("response.incomplete"));
    let v = last.json();
    assert_eq!(v["response"]["status"], "incomplete");
    assert_eq!(
        v["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
    assert_eq!(v["response"]["output"][0]["arguments"], r#"{"pa"#);
}

#[tokio::test]
async fn gemini_streams_thoughts_whole_function_calls_and_usage_metadata() {
    let server = serve(TOOLS_SCRIPT).await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let url = format!(
        "{}/v1beta/models/gemini-test:streamGenerateContent?alt=sse",
        server.base_url()
    );
    let (status, _, text) = post(&url, &body).await;
    assert_eq!(status, 200);
    let chunks: Vec<Value> = frames(&text).iter().map(|f| f.json()).collect();
    let parts: Vec<Value> = chunks
        .iter()
        .flat_map(|c| {
            c["candidates"][0]["content"]["parts"]
                .as_array()
                .unwrap()
                .clone()
        })
        .collect();
    let thought: String = parts
        .iter()
        .filter(|p| p["thought"] == true)
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(thought, "Thinking hard.");
    assert!(
        parts
            .iter()
            .any(|p| p["thought"] == true && p["thoughtSignature"] == "sig-1")
    );
    let calls: Vec<&Value> = parts
        .iter()
        .filter(|p| p.get("functionCall").is_some())
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0]["functionCall"],
        json!({"name": "read_file", "args": {"path": "a.txt"}})
    );
    assert_eq!(calls[0]["thoughtSignature"], "ts-a");
    assert_eq!(
        calls[1]["functionCall"]["args"],
        json!({"pattern": "fn main"})
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["modelVersion"], "gemini-test");
    let u = &last["usageMetadata"];
    assert_eq!(
        (
            u["promptTokenCount"].as_u64(),
            u["candidatesTokenCount"].as_u64()
        ),
        (Some(100), Some(20))
    );
    assert_eq!(u["cachedContentTokenCount"], 60);
    assert_eq!(u["thoughtsTokenCount"], 5);
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c.get("usageMetadata").is_none())
    );
}
