//! A Pod against real service shapes (issue 12): mock-llm replays bodies recorded
//! from the real services (crates/llm/tests/corpus, provenance in each sidecar), the
//! Pod runs its tool loop through them with the service's preset, and mock-llm's
//! recorded next request shows the reasoning going back exactly as each service
//! requires (DeepSeek: `reasoning_content` on the tool-call message; OpenRouter:
//! `reasoning_details` unchanged).
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::{Env, Mock};
use serde_json::Value;
use session_store::EntryKind;
use transcript::Item;

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../llm/tests/corpus/{name}.sse"))
}

fn expect(name: &str) -> Value {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../llm/tests/corpus/{name}.json"));
    serde_json::from_str::<Value>(&std::fs::read_to_string(p).unwrap()).unwrap()["expect"].clone()
}

/// The base URL of mock-llm for a dialect (README of mock-llm).
fn base(mock: &Mock, dialect: &str) -> String {
    let root = mock.server.as_ref().unwrap().base_url();
    match dialect {
        "anthropic" => root,
        "gemini" => format!("{root}/v1beta"),
        _ => format!("{root}/v1"),
    }
}

/// The key variables of every preset used below, set to dummies.
const KEYS: &[&str] = &[
    "DEEPSEEK_API_KEY",
    "OPENROUTER_API_KEY",
    "GROQ_API_KEY",
    "XAI_API_KEY",
    "MISTRAL_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
];

fn pod(env: &Env, args: &[&str]) -> std::process::Output {
    let mut c = env.pod();
    for k in KEYS {
        c.env(k, "recorded-test-key");
    }
    c.args(args).output().unwrap()
}

/// Recording with tool calls → the Pod's tool loop: the recorded calls are logged
/// with their ids and names, answered (with an error: the recorded tools are not
/// ours), and the loop's second request goes out; returns that request's body.
fn tool_loop(recording: &str, provider: &str, dialect: &str) -> Value {
    let env = Env::new();
    let yaml = format!(
        "responses:\n  - raw_sse: '{}'\n  - output: [{{text: 'loop done'}}]\n",
        corpus(recording).display()
    );
    let mock = Mock::start(&yaml);
    let out = pod(
        &env,
        &[
            "run",
            "go",
            "--name",
            "p",
            "--provider",
            provider,
            "--model",
            "recorded",
            "--base-url",
            &base(&mock, dialect),
            "--print",
        ],
    );
    assert!(out.status.success(), "{recording}: {out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "loop done",
        "{recording}"
    );
    let exp = expect(recording);
    let logged: Vec<(String, String)> = env
        .log("p")
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::AssistantItem {
                item: Item::ToolCall(c),
            } => Some((c.call_id.clone(), c.name.clone())),
            _ => None,
        })
        .collect();
    let wanted: Vec<(String, String)> = exp["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_owned(),
                c["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(logged.len(), wanted.len(), "{recording}: {logged:?}");
    for ((id, name), (wid, wname)) in logged.iter().zip(&wanted) {
        assert_eq!(name, wname, "{recording}");
        if !wid.is_empty() {
            assert_eq!(id, wid, "{recording}");
        }
    }
    let requests = mock.requests();
    assert_eq!(requests.len(), 2, "{recording}");
    requests[1].body.clone()
}

#[test]
fn a_pod_completes_its_tool_loop_against_each_services_recorded_shape() {
    for (recording, provider, dialect) in [
        ("openai_chat_tool_call_usage_chunk", "openai", "openai"),
        ("groq_llama_tool_call", "groq", "openai"),
        ("groq_gpt_oss_reasoning_tool_call", "groq", "openai"),
        ("xai_grok_reasoning_tool_call", "xai", "openai"),
        ("mistral_tool_call_without_index", "mistral", "openai"),
        ("vllm_fragmented_tool_call", "vllm", "openai"),
        ("ollama_parallel_tool_calls", "ollama", "openai"),
        ("anthropic_input_json_delta_ping", "anthropic", "anthropic"),
        ("responses_gpt4o_function_call", "responses", "responses"),
        (
            "responses_gpt5_encrypted_function_call",
            "responses",
            "responses",
        ),
        ("gemini_function_call", "gemini", "gemini"),
        ("gemini3_call_thought_signature", "gemini", "gemini"),
    ] {
        let body = tool_loop(recording, provider, dialect);
        // Services without a reasoning rule never get reasoning back in chat messages.
        if dialect == "openai" {
            for m in body["messages"].as_array().unwrap() {
                assert!(
                    m.get("reasoning_content").is_none() && m.get("reasoning_details").is_none(),
                    "{recording}: {m}"
                );
            }
        }
    }
}

#[test]
fn deepseek_gets_its_reasoning_content_back_on_the_tool_call_message() {
    let body = tool_loop("deepseek_reasoner_tool_call", "deepseek", "openai");
    let exp = expect("deepseek_reasoner_tool_call");
    let with_calls: Vec<&Value> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant" && m.get("tool_calls").is_some())
        .collect();
    assert_eq!(with_calls.len(), 1, "{body}");
    assert_eq!(with_calls[0]["reasoning_content"], exp["reasoning"]);
}

#[test]
fn openrouter_gets_its_reasoning_details_back_unchanged_after_a_restore() {
    let env = Env::new();
    let yaml = format!(
        "responses:\n  - raw_sse: '{}'\n  - output: [{{text: 'second'}}]\n",
        corpus("openrouter_claude_reasoning_details").display()
    );
    let mock = Mock::start(&yaml);
    let url = base(&mock, "openai");
    let first = pod(
        &env,
        &[
            "run",
            "first",
            "--name",
            "or",
            "--provider",
            "openrouter",
            "--model",
            "anthropic/claude",
            "--base-url",
            &url,
            "--print",
        ],
    );
    assert!(first.status.success(), "{first:?}");
    // The Pod stopped (one-shot); the next request comes from a restored Pod, so
    // what goes back is what the log kept, not what was in memory.
    let second = pod(&env, &["resume", "or", "second", "--print"]);
    assert!(second.status.success(), "{second:?}");
    assert_eq!(String::from_utf8_lossy(&second.stdout).trim(), "second");
    let body = &mock.requests()[1].body;
    let assistant: Vec<&Value> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .collect();
    assert_eq!(assistant.len(), 1, "{body}");
    let exp = expect("openrouter_claude_reasoning_details");
    assert_eq!(assistant[0]["reasoning_details"], exp["reasoning_details"]);
    assert!(assistant[0].get("reasoning_content").is_none());
    // The reasoning was stored as a reasoning item (shown collapsed by the TUI).
    assert!(env.log("or").iter().any(|e| matches!(
        &e.kind,
        EntryKind::AssistantItem { item: Item::Reasoning(r) } if !r.details.is_empty()
    )));
}
