//! A two-request tool loop through the real `Client` against `mock-llm` replaying
//! recorded service bodies (`raw_sse`): the first answer is a service's real stream,
//! the runtime's next request goes back to the mock, and mock-llm's recorded second
//! request must carry the reasoning exactly as that service requires.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use llm::{ApiKey, Client, Preset, Provider, ProviderConfig, ProviderKind, Request, RetryPolicy};
use mock_llm::{MockServer, Response, Script};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use transcript::{Item, ToolResult, ToolSpec};

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/corpus/{name}.sse"))
}

fn expect(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/corpus/{name}.json"));
    serde_json::from_str::<Value>(&std::fs::read_to_string(p).unwrap()).unwrap()["expect"].clone()
}

struct Loop {
    /// Items the client decoded from the first (recorded) answer.
    first: Vec<Item>,
    /// The bodies mock-llm recorded, in order.
    requests: Vec<Value>,
}

/// Runs: request 1 → recorded `first`; request 2 (history + tool results, or a user
/// follow-up when there were no calls) → recorded `second`.
async fn tool_loop(preset: &str, first: &str, second: &str) -> Loop {
    let script = Script {
        responses: [first, second]
            .iter()
            .map(|n| Response {
                raw_sse: Some(corpus(n)),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let srv = MockServer::start(script).await.unwrap();
    let preset = Preset::lookup(preset).unwrap();
    let mut cfg = ProviderConfig::from_preset(preset, Some(ApiKey::new("sk-test")));
    // The preset's reasoning rule stays; only the address is the mock's.
    cfg.base_url = match preset.kind {
        ProviderKind::OpenAiChat | ProviderKind::OpenAiResponses => {
            format!("{}/v1", srv.base_url())
        }
        ProviderKind::Anthropic => srv.base_url(),
        ProviderKind::Gemini => format!("{}/v1beta", srv.base_url()),
    };
    cfg.retry = RetryPolicy {
        max_attempts: 1,
        ..Default::default()
    };
    cfg.timeouts.first_byte = Duration::from_secs(10);
    let client = Client::new(cfg).unwrap();

    let mut req = Request {
        system: "You are a test.".into(),
        tools: vec![ToolSpec {
            name: "weather".into(),
            description: "Weather for a location.".into(),
            parameters: serde_json::json!({"type": "object", "properties": {"location": {"type": "string"}}}),
        }],
        ..Default::default()
    };
    req.config.model = "recorded-model".into();
    req.history.push(Item::UserMessage {
        text: "What is the weather in San Francisco?".into(),
    });
    let done = client
        .stream(&req, CancellationToken::new())
        .unwrap()
        .complete()
        .await
        .unwrap_or_else(|e| panic!("{first}: first call failed: {e}"));
    req.history.extend(done.items.iter().cloned());
    let mut called = false;
    for i in &done.items {
        if let Item::ToolCall(c) = i {
            called = true;
            req.history.push(Item::ToolResult(ToolResult {
                call_id: c.call_id.clone(),
                name: c.name.clone(),
                output: "{\"temperature\": 18}".into(),
                is_error: false,
            }));
        }
    }
    if !called {
        req.history.push(Item::UserMessage {
            text: "Are you sure?".into(),
        });
    }
    client
        .stream(&req, CancellationToken::new())
        .unwrap()
        .complete()
        .await
        .unwrap_or_else(|e| panic!("{second}: second call failed: {e}"));
    let requests = srv.requests().into_iter().map(|r| r.body).collect();
    srv.shutdown().await;
    Loop {
        first: done.items,
        requests,
    }
}

fn assistant_messages(body: &Value) -> Vec<&Value> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .collect()
}

#[tokio::test]
async fn deepseek_second_request_echoes_reasoning_content_on_the_tool_call_message() {
    let exp = expect("deepseek_reasoner_tool_call");
    let l = tool_loop(
        "deepseek",
        "deepseek_reasoner_tool_call",
        "deepseek_reasoner_text",
    )
    .await;
    assert_eq!(l.requests.len(), 2);
    let msgs = assistant_messages(&l.requests[1]);
    assert_eq!(msgs.len(), 1);
    let m = msgs[0];
    // DeepSeek "Thinking Mode": the assistant message with tool_calls must carry the
    // reasoning_content that preceded the calls, or the request is rejected with 400.
    assert_eq!(m["reasoning_content"], exp["reasoning"]);
    assert_eq!(m["tool_calls"][0]["id"], exp["calls"][0]["id"]);
    assert_eq!(m["tool_calls"][0]["function"]["name"], "weather");
    let tool = &l.requests[1]["messages"].as_array().unwrap()[3];
    assert_eq!(tool["role"], "tool");
    assert_eq!(tool["tool_call_id"], exp["calls"][0]["id"]);
    assert!(l.requests[1].get("reasoning_details").is_none());
}

#[tokio::test]
async fn kimi_preset_uses_the_same_reasoning_content_rule() {
    // No recorded Kimi stream was found; Kimi streams the DeepSeek shape
    // (`delta.reasoning_content`), so the DeepSeek recording stands in for the wire.
    let exp = expect("deepseek_reasoner_tool_call");
    let l = tool_loop(
        "kimi",
        "deepseek_reasoner_tool_call",
        "deepseek_reasoner_text",
    )
    .await;
    assert_eq!(
        assistant_messages(&l.requests[1])[0]["reasoning_content"],
        exp["reasoning"]
    );
}

#[tokio::test]
async fn openrouter_second_request_returns_reasoning_details_unchanged() {
    // Claude via OpenRouter: reasoning.text fragments joined, signature kept.
    let exp = expect("openrouter_claude_reasoning_details");
    let l = tool_loop(
        "openrouter",
        "openrouter_claude_reasoning_details",
        "openrouter_o3_encrypted_details",
    )
    .await;
    let m = assistant_messages(&l.requests[1])[0];
    assert_eq!(m["reasoning_details"], exp["reasoning_details"]);
    assert!(m.get("reasoning_content").is_none());
    assert_eq!(m["content"], exp["text"]);
    let sig = m["reasoning_details"][0]["signature"].as_str().unwrap();
    assert!(sig.starts_with("Et0B"), "{sig}");

    // Encrypted reasoning (OpenAI o3 via OpenRouter): the opaque entry goes back whole.
    let exp = expect("openrouter_o3_encrypted_details");
    let l = tool_loop(
        "openrouter",
        "openrouter_o3_encrypted_details",
        "openrouter_claude_reasoning_details",
    )
    .await;
    let m = assistant_messages(&l.requests[1])[0];
    assert_eq!(m["reasoning_details"], exp["reasoning_details"]);
    assert_eq!(m["reasoning_details"][0]["type"], "reasoning.encrypted");
    assert_eq!(
        m["reasoning_details"][0]["id"],
        exp["reasoning_details"][0]["id"]
    );
}

#[tokio::test]
async fn services_without_a_reasoning_rule_never_get_reasoning_back() {
    for (preset, first, second) in [
        (
            "xai",
            "xai_grok_reasoning_tool_call",
            "openai_chat_text_usage_chunk",
        ),
        (
            "groq",
            "groq_gpt_oss_reasoning_tool_call",
            "groq_llama_tool_call",
        ),
        (
            "mistral",
            "mistral_tool_call_without_index",
            "mistral_magistral_thinking_chunks",
        ),
        ("ollama", "ollama_parallel_tool_calls", "ollama_text"),
        ("vllm", "vllm_fragmented_tool_call", "ollama_text"),
        (
            "openai",
            "openai_chat_tool_call_usage_chunk",
            "openai_chat_text_usage_chunk",
        ),
    ] {
        let exp = expect(first);
        let l = tool_loop(preset, first, second).await;
        let m = assistant_messages(&l.requests[1])[0];
        assert!(
            m.get("reasoning_content").is_none() && m.get("reasoning_details").is_none(),
            "{preset}: {m}"
        );
        let ids: Vec<_> = m["tool_calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect();
        let want: Vec<_> = exp["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect();
        assert_eq!(ids, want, "{preset}");
        // One tool message per call, in order.
        let results: Vec<_> = l.requests[1]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "tool")
            .map(|m| m["tool_call_id"].clone())
            .collect();
        assert_eq!(results, want, "{preset}");
    }
}

#[tokio::test]
async fn anthropic_responses_and_gemini_loops_keep_their_opaque_reasoning() {
    // Gemini: the thought signature that came on the functionCall part goes back on it.
    let l = tool_loop(
        "gemini",
        "gemini_call_empty_args_thought_signature",
        "gemini_text",
    )
    .await;
    let model = l.requests[1]["contents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["role"] == "model")
        .unwrap();
    let call_part = model["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p.get("functionCall").is_some())
        .unwrap();
    assert!(
        call_part["thoughtSignature"]
            .as_str()
            .unwrap()
            .starts_with("EpwICpkIAXLI")
    );
    assert!(
        call_part["functionCall"].get("id").is_none(),
        "synthesised ids are never sent"
    );

    // Responses: encrypted reasoning goes back as a reasoning input item before the call.
    let l = tool_loop(
        "responses",
        "responses_gpt5_encrypted_function_call",
        "responses_gpt4o_function_call",
    )
    .await;
    let input = l.requests[1]["input"].as_array().unwrap();
    let r = input.iter().position(|i| i["type"] == "reasoning").unwrap();
    let c = input
        .iter()
        .position(|i| i["type"] == "function_call")
        .unwrap();
    assert!(r < c);
    assert!(
        input[r]["encrypted_content"]
            .as_str()
            .unwrap()
            .starts_with("gAAAAA")
    );
    assert!(input.iter().any(|i| i["type"] == "function_call_output"));

    // Anthropic: tool_use with empty input, then its result.
    let l = tool_loop(
        "anthropic",
        "anthropic_tool_no_args_ping",
        "anthropic_thinking_signature",
    )
    .await;
    let msgs = l.requests[1]["messages"].as_array().unwrap();
    let tool_use = msgs[1]["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap();
    assert_eq!(tool_use["input"], serde_json::json!({}));
    assert_eq!(msgs[2]["content"][0]["type"], "tool_result");
    assert!(!l.first.is_empty());
}
