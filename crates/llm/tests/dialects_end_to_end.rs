//! Every dialect end to end through the real HTTP client and parser against
//! `mock-llm`: plain text, one call, interleaved parallel calls, the follow-up request's
//! exact wire shape, reasoning round-trips and usage mapping.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use llm::{ProviderKind, StreamEvent};
use serde_json::{Value, json};
use transcript::{Item, Reasoning, StopReason, ToolResult, Usage};

#[tokio::test]
async fn plain_text_in_every_dialect_even_with_split_frames() {
    for kind in ALL {
        let srv = server(
            r#"
responses:
  - output:
      - text: "Hello, world! This is plain text."
        chunk_size: 5
  - output:
      - text: "Split frames work too."
    split_frames: true
"#,
        )
        .await;
        let c = client(kind, &srv);
        for expected in [
            "Hello, world! This is plain text.",
            "Split frames work too.",
        ] {
            let (events, done) = run(&c, &user("hi")).await;
            let done = done.unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert_eq!(text_of(&events), expected, "{kind:?}");
            assert_eq!(done.stop, StopReason::EndTurn, "{kind:?}");
            assert_eq!(
                done.items,
                vec![Item::AssistantMessage {
                    text: expected.into()
                }],
                "{kind:?}"
            );
            assert!(
                events.iter().any(|e| matches!(e, StreamEvent::ItemDone(_))),
                "{kind:?}"
            );
        }
    }
}

#[tokio::test]
async fn one_tool_call_in_every_dialect() {
    for kind in ALL {
        let srv = server(
            r#"
responses:
  - output:
      - text: "Reading."
      - tool_call: read_file
        id: call_1
        arguments: {"path": "src/main.rs"}
        chunks: 4
"#,
        )
        .await;
        let (events, done) = run(&client(kind, &srv), &user("read it")).await;
        let done = done.unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(done.stop, StopReason::ToolUse, "{kind:?}");
        let calls = calls(&done);
        assert_eq!(calls.len(), 1, "{kind:?}");
        assert_eq!(calls[0].name, "read_file");
        let args: Value = serde_json::from_str(&calls[0].arguments).unwrap();
        assert_eq!(args, json!({"path": "src/main.rs"}), "{kind:?}");
        let finished = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::ToolCallFinished { .. }))
            .count();
        assert_eq!(
            finished, 1,
            "{kind:?}: every dialect emits the finished event"
        );
    }
}

const PARALLEL: &str = r#"
responses:
  - output:
      - tool_call: read_file
        id: call_a
        arguments: {"path": "a.txt"}
        chunks: 3
      - tool_call: grep
        id: call_b
        arguments: {"pattern": "fn main", "path": "src"}
        chunks: 3
    interleave: true
  - when:
      last_tool_result: grep
    output:
      - text: "Both done."
"#;

#[tokio::test]
async fn interleaved_parallel_calls_then_follow_up_in_exact_wire_shape() {
    for kind in ALL {
        let srv = server(PARALLEL).await;
        let c = client(kind, &srv);
        let mut req = user("do both");
        let (events, done) = run(&c, &req).await;
        let done = done.unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        let calls = calls(&done);
        assert_eq!(calls.len(), 2, "{kind:?}");
        let a: Value = serde_json::from_str(&calls[0].arguments).unwrap();
        let b: Value = serde_json::from_str(&calls[1].arguments).unwrap();
        assert_eq!(a, json!({"path": "a.txt"}), "{kind:?}");
        assert_eq!(b, json!({"pattern": "fn main", "path": "src"}), "{kind:?}");
        if kind != ProviderKind::Gemini {
            // The wire really interleaved: a delta of call 1 arrives before call 0's last.
            let idx: Vec<usize> = events
                .iter()
                .filter_map(|e| match e {
                    StreamEvent::ToolCallArgsDelta { index, .. } => Some(*index),
                    _ => None,
                })
                .collect();
            let last0 = idx.iter().rposition(|i| *i == 0).unwrap();
            let first1 = idx.iter().position(|i| *i == 1).unwrap();
            assert!(first1 < last0, "{kind:?}: {idx:?}");
        }

        req.history.extend(done.items.clone());
        for c in &calls {
            req.history.push(Item::ToolResult(ToolResult {
                call_id: c.call_id.clone(),
                name: c.name.clone(),
                output: format!("result of {}", c.name),
                is_error: false,
            }));
        }
        let (_, done2) = run(&c, &req).await;
        assert_eq!(
            done2.unwrap_or_else(|e| panic!("{kind:?}: {e}")).items,
            vec![Item::AssistantMessage {
                text: "Both done.".into()
            }]
        );
        let body = srv.requests()[1].body.clone();
        assert_follow_up_shape(kind, &body, &calls);
    }
}

fn assert_follow_up_shape(kind: ProviderKind, body: &Value, calls: &[transcript::ToolCall]) {
    match kind {
        ProviderKind::OpenAiChat => {
            let m = body["messages"].as_array().unwrap();
            assert_eq!(
                m[0],
                json!({"role": "system", "content": "You are a test."})
            );
            assert_eq!(m[1], json!({"role": "user", "content": "do both"}));
            assert_eq!(
                m[2],
                json!({"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "read_file", "arguments": calls[0].arguments}},
                    {"id": "call_b", "type": "function", "function": {"name": "grep", "arguments": calls[1].arguments}},
                ]})
            );
            assert_eq!(
                m[3],
                json!({"role": "tool", "tool_call_id": "call_a", "content": "result of read_file"})
            );
            assert_eq!(
                m[4],
                json!({"role": "tool", "tool_call_id": "call_b", "content": "result of grep"})
            );
            assert_eq!(body["stream_options"], json!({"include_usage": true}));
        }
        ProviderKind::Anthropic => {
            let m = body["messages"].as_array().unwrap();
            assert_eq!(
                body["system"],
                json!([{"type": "text", "text": "You are a test.", "cache_control": {"type": "ephemeral"}}])
            );
            assert_eq!(m.len(), 3);
            assert_eq!(
                m[1],
                json!({"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_a", "name": "read_file", "input": {"path": "a.txt"}},
                    {"type": "tool_use", "id": "call_b", "name": "grep", "input": {"pattern": "fn main", "path": "src"}},
                ]})
            );
            assert_eq!(
                m[2],
                json!({"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_a", "content": "result of read_file"},
                    {"type": "tool_result", "tool_use_id": "call_b", "content": "result of grep",
                     "cache_control": {"type": "ephemeral"}},
                ]})
            );
        }
        ProviderKind::OpenAiResponses => {
            let input = body["input"].as_array().unwrap();
            assert_eq!(body["instructions"], "You are a test.");
            assert_eq!(
                input[1],
                json!({"type": "function_call", "call_id": "call_a", "name": "read_file", "arguments": calls[0].arguments})
            );
            assert_eq!(
                input[2],
                json!({"type": "function_call", "call_id": "call_b", "name": "grep", "arguments": calls[1].arguments})
            );
            assert_eq!(
                input[3],
                json!({"type": "function_call_output", "call_id": "call_a", "output": "result of read_file"})
            );
            assert_eq!(
                input[4],
                json!({"type": "function_call_output", "call_id": "call_b", "output": "result of grep"})
            );
        }
        ProviderKind::Gemini => {
            let c = body["contents"].as_array().unwrap();
            assert_eq!(
                body["systemInstruction"],
                json!({"parts": [{"text": "You are a test."}]})
            );
            assert_eq!(
                c[1],
                json!({"role": "model", "parts": [
                    {"functionCall": {"name": "read_file", "args": {"path": "a.txt"}}},
                    {"functionCall": {"name": "grep", "args": {"pattern": "fn main", "path": "src"}}},
                ]})
            );
            assert_eq!(
                c[2],
                json!({"role": "user", "parts": [
                    {"functionResponse": {"name": "read_file", "response": {"output": "result of read_file"}}},
                    {"functionResponse": {"name": "grep", "response": {"output": "result of grep"}}},
                ]})
            );
        }
    }
}

#[tokio::test]
async fn anthropic_thinking_and_redacted_thinking_go_back_verbatim_in_order() {
    let srv = server(
        r#"
responses:
  - output:
      - reasoning: "Let me think about the file."
        signature: "sig-abc=="
      - redacted_reasoning: "opaque-blob=="
      - text: "Reading it."
      - tool_call: read_file
        id: toolu_1
        arguments: {"path": "a.txt"}
  - output:
      - text: "ok"
"#,
    )
    .await;
    let c = client(ProviderKind::Anthropic, &srv);
    let mut req = user("go");
    req.config.reasoning_budget = Some(2048);
    let (_, done) = run(&c, &req).await;
    let done = done.unwrap();
    assert_eq!(
        done.items[0],
        Item::Reasoning(Reasoning {
            text: "Let me think about the file.".into(),
            signature: Some("sig-abc==".into()),
            ..Default::default()
        })
    );
    assert_eq!(
        done.items[1],
        Item::Reasoning(Reasoning {
            redacted_data: Some("opaque-blob==".into()),
            ..Default::default()
        })
    );
    req.history.extend(done.items.clone());
    req.history.push(Item::ToolResult(ToolResult {
        call_id: "toolu_1".into(),
        name: "read_file".into(),
        output: "contents".into(),
        is_error: false,
    }));
    run(&c, &req).await.1.unwrap();
    let body = &srv.requests()[1].body;
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "Let me think about the file.", "signature": "sig-abc=="},
            {"type": "redacted_thinking", "data": "opaque-blob=="},
            {"type": "text", "text": "Reading it."},
            {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "a.txt"}},
        ])
    );
}

#[tokio::test]
async fn responses_encrypted_reasoning_is_sent_back() {
    let srv = server(
        r#"
responses:
  - output:
      - reasoning: "Plan the read."
        encrypted_content: "enc-xyz"
      - tool_call: read_file
        id: call_1
        arguments: {"path": "a.txt"}
  - output:
      - text: "ok"
"#,
    )
    .await;
    let c = client(ProviderKind::OpenAiResponses, &srv);
    let mut req = user("go");
    let (_, done) = run(&c, &req).await;
    let done = done.unwrap();
    let Item::Reasoning(r) = &done.items[0] else {
        panic!("{:?}", done.items)
    };
    assert_eq!(r.encrypted_content.as_deref(), Some("enc-xyz"));
    req.history.extend(done.items.clone());
    req.history.push(Item::ToolResult(ToolResult {
        call_id: "call_1".into(),
        name: "read_file".into(),
        output: "x".into(),
        is_error: false,
    }));
    run(&c, &req).await.1.unwrap();
    let body = &srv.requests()[1].body;
    let sent = &body["input"][1];
    assert_eq!(sent["type"], "reasoning");
    assert_eq!(sent["encrypted_content"], "enc-xyz");
    assert_eq!(sent["id"], json!(r.id.clone().unwrap()));
    assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(body["store"], json!(false));
}

#[tokio::test]
async fn usage_with_cache_tokens_in_every_dialect() {
    for kind in ALL {
        // Script numbers go verbatim into each dialect's fields; OpenAI-style totals
        // include the cached tokens, Anthropic's input excludes them.
        let srv = server(
            r#"
responses:
  - output:
      - text: "hi"
    usage: {input: 100, output: 20, cache_read: 80, cache_write: 10, reasoning: 5}
"#,
        )
        .await;
        let (events, done) = run(&client(kind, &srv), &user("hi")).await;
        let u = done.unwrap().usage;
        let expected = match kind {
            ProviderKind::Anthropic => Usage {
                input_tokens: 100,
                output_tokens: 20,
                cache_read_tokens: 80,
                cache_write_tokens: 10,
                reasoning_tokens: 0,
            },
            ProviderKind::OpenAiChat | ProviderKind::OpenAiResponses => Usage {
                input_tokens: 20,
                output_tokens: 20,
                cache_read_tokens: 80,
                cache_write_tokens: 0,
                reasoning_tokens: 5,
            },
            ProviderKind::Gemini => Usage {
                input_tokens: 20,
                output_tokens: 25,
                cache_read_tokens: 80,
                cache_write_tokens: 0,
                reasoning_tokens: 5,
            },
        };
        assert_eq!(u, expected, "{kind:?}");
        assert!(events.contains(&StreamEvent::Usage(expected)), "{kind:?}");
    }
}

#[tokio::test]
async fn max_tokens_mid_tool_call_is_truncated_not_executable() {
    // Gemini sends calls whole, so it cannot be cut mid-call.
    for kind in [
        ProviderKind::OpenAiChat,
        ProviderKind::Anthropic,
        ProviderKind::OpenAiResponses,
    ] {
        let srv = server(
            r#"
responses:
  - output:
      - text: "Writing."
      - tool_call: write_file
        id: call_w
        arguments: '{"path": "a.txt", "content": "partial cont'
    stop: max_tokens
"#,
        )
        .await;
        let (events, done) = run(&client(kind, &srv), &user("write")).await;
        let done = done.unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(done.stop, StopReason::MaxTokens, "{kind:?}");
        assert!(calls(&done).is_empty(), "{kind:?}: {:?}", done.items);
        assert_eq!(done.truncated_calls.len(), 1, "{kind:?}");
        assert!(
            events.iter().any(
                |e| matches!(e, StreamEvent::ToolCallTruncated { name, .. } if name == "write_file")
            ),
            "{kind:?}"
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, StreamEvent::ToolCallFinished { .. })),
            "{kind:?}"
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, StreamEvent::ItemDone(Item::ToolCall(_)))),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn gemini_key_is_in_header_never_in_url() {
    let srv = server("responses:\n  - output:\n      - text: hi\n").await;
    run(&client(ProviderKind::Gemini, &srv), &user("hi"))
        .await
        .1
        .unwrap();
    let r = &srv.requests()[0];
    assert_eq!(r.path, "/v1beta/models/test-model:streamGenerateContent");
    assert_eq!(r.query.as_deref(), Some("alt=sse"));
    assert!(r.headers["x-goog-api-key"].ends_with("6789"));
}
