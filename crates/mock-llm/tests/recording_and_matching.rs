//! Requests are recorded with secrets masked; matchers pick responses from what was sent.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{frames, post, post_with, serve};
use serde_json::{Value, json};

const KEY: &str = "sk-RECOGNISABLE-fake-key-WXYZ";

#[tokio::test]
async fn requests_are_recorded_with_secrets_masked() {
    let server = serve("responses: [{output: [{text: a}], times: 4}]").await;
    let base = server.base_url();
    let bearer = format!("Bearer {KEY}");
    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    post_with(
        &format!("{base}/v1/chat/completions"),
        &body,
        &[("authorization", bearer.as_str())],
    )
    .await;
    post_with(
        &format!("{base}/v1/messages"),
        &body,
        &[("x-api-key", KEY), ("anthropic-version", "2023-06-01")],
    )
    .await;
    post_with(&format!("{base}/v1/responses"), &body, &[("api-key", KEY)]).await;
    let gem = format!("{base}/v1beta/models/gemini-x:streamGenerateContent?alt=sse");
    post_with(&gem, &json!({"contents": []}), &[("x-goog-api-key", KEY)]).await;

    let recorded = server.requests();
    assert_eq!(recorded.len(), 4);
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].path, "/v1/chat/completions");
    assert_eq!(recorded[0].headers["authorization"], "****WXYZ");
    assert_eq!(recorded[0].body["messages"][0]["content"], "hi");
    assert_eq!(recorded[1].headers["x-api-key"], "****WXYZ");
    assert_eq!(recorded[1].headers["anthropic-version"], "2023-06-01");
    assert_eq!(recorded[2].headers["api-key"], "****WXYZ");
    assert_eq!(recorded[3].headers["x-goog-api-key"], "****WXYZ");
    assert_eq!(recorded[3].query.as_deref(), Some("alt=sse"));
    assert_eq!(
        recorded[3].path,
        "/v1beta/models/gemini-x:streamGenerateContent"
    );

    let served = reqwest::get(format!("{base}/__requests"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !served.contains("RECOGNISABLE"),
        "an unmasked key was served"
    );
    assert!(!format!("{recorded:?}").contains("RECOGNISABLE"));
    let list: Vec<mock_llm::RecordedRequest> = serde_json::from_str(&served).unwrap();
    assert_eq!(list, recorded);
}

#[tokio::test]
async fn unknown_paths_and_conversations_are_clear_errors() {
    let server = serve("responses: [{output: [{text: a}]}]").await;
    let (status, _, text) = post(&format!("{}/v1/embeddings", server.base_url()), &json!({})).await;
    assert_eq!(status, 404);
    assert!(text.contains("/v1/chat/completions"), "{text}");
    let (status, _, text) = post_with(
        &format!("{}/v1/messages", server.base_url()),
        &json!({"messages": []}),
        &[(mock_llm::CONVERSATION_HEADER, "nobody")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("unknown conversation"), "{text}");
    assert_eq!(
        server.requests().len(),
        2,
        "failed requests are recorded too"
    );
}

const MATCH_SCRIPT: &str = r#"
responses:
  - when: {last_tool_result: read_file}
    output: [{text: "after read"}]
    times: 4
  - when: {last_user_contains: "weather"}
    output: [{text: "sunny"}]
    times: 4
  - output: [{text: "default"}]
    times: 8
"#;

/// The streamed text of a response, whatever the dialect.
fn streamed_text(body: &str) -> String {
    frames(body)
        .iter()
        .filter(|f| f.data != "[DONE]")
        .map(|f| {
            let v = f.json();
            let pick = [
                v.pointer("/choices/0/delta/content"),
                v.pointer("/delta/text"),
                (v["type"] == "response.output_text.delta")
                    .then(|| &v["delta"])
                    .filter(|d| d.is_string()),
                v.pointer("/candidates/0/content/parts/0/text"),
            ];
            pick.into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<String>()
        })
        .collect()
}

#[tokio::test]
async fn matchers_read_each_dialects_tool_results_and_user_text() {
    let server = serve(MATCH_SCRIPT).await;
    let base = server.base_url();
    let chat = format!("{base}/v1/chat/completions");
    let anth = format!("{base}/v1/messages");
    let resp = format!("{base}/v1/responses");
    let gem = format!("{base}/v1beta/models/g:streamGenerateContent?alt=sse");

    let chat_tool = json!({"stream": true, "messages": [
        {"role": "user", "content": "read it"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "file body"}]});
    let anth_tool = json!({"stream": true, "messages": [
        {"role": "user", "content": "read it"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "read_file", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "file body"}]}]});
    let resp_tool = json!({"stream": true, "input": [
        {"role": "user", "content": "read it"},
        {"type": "function_call", "call_id": "f1", "name": "read_file", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "f1", "output": "file body"}]});
    let gem_tool = json!({"contents": [
        {"role": "user", "parts": [{"text": "read it"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "read_file", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "read_file", "response": {"content": "x"}}}]}]});
    for (url, body) in [
        (&chat, &chat_tool),
        (&anth, &anth_tool),
        (&resp, &resp_tool),
        (&gem, &gem_tool),
    ] {
        let (status, _, text) = post(url, body).await;
        assert_eq!(status, 200, "{url}: {text}");
        assert_eq!(streamed_text(&text), "after read", "{url}");
    }

    let chat_user = json!({"stream": true, "messages": [{"role": "user", "content": [{"type": "text", "text": "what is the weather?"}]}]});
    let anth_user = json!({"stream": true, "messages": [{"role": "user", "content": [{"type": "text", "text": "weather please"}]}]});
    let resp_user = json!({"stream": true, "input": [{"role": "user", "content": [{"type": "input_text", "text": "weather?"}]}]});
    let gem_user = json!({"contents": [{"role": "user", "parts": [{"text": "the weather"}]}]});
    for (url, body) in [
        (&chat, &chat_user),
        (&anth, &anth_user),
        (&resp, &resp_user),
        (&gem, &gem_user),
    ] {
        let (_, _, text) = post(url, body).await;
        assert_eq!(streamed_text(&text), "sunny", "{url}");
    }

    // Neither matcher holds: the unconditioned response is served, although it comes last.
    let (_, _, text) = post(
        &chat,
        &json!({"stream": true, "messages": [{"role": "user", "content": "hello"}]}),
    )
    .await;
    assert_eq!(streamed_text(&text), "default");
}

#[tokio::test]
async fn model_and_dialect_matchers_select_and_conversations_are_separate_queues() {
    let server = serve(
        r#"
responses:
  - when: {model: big}
    output: [{text: big-answer}]
  - when: {dialect: anthropic}
    output: [{text: anthropic-answer}]
conversations:
  side:
    - output: [{text: side-answer}]
"#,
    )
    .await;
    let base = server.base_url();
    let (_, _, text) = post(
        &format!("{base}/v1/messages"),
        &json!({"model": "small", "stream": true, "messages": []}),
    )
    .await;
    assert_eq!(streamed_text(&text), "anthropic-answer");
    let (_, _, text) = post(
        &format!("{base}/v1/chat/completions"),
        &json!({"model": "big", "stream": true, "messages": []}),
    )
    .await;
    assert_eq!(streamed_text(&text), "big-answer");
    let (_, _, text) = post_with(
        &format!("{base}/v1/chat/completions"),
        &json!({"stream": true, "messages": []}),
        &[(mock_llm::CONVERSATION_HEADER, "side")],
    )
    .await;
    assert_eq!(streamed_text(&text), "side-answer");
}

#[tokio::test]
async fn responses_can_be_appended_and_the_log_taken_or_cleared() {
    let server = serve("responses: []").await;
    let url = format!("{}/v1/chat/completions", server.base_url());
    let body = json!({"stream": true, "messages": []});
    let (status, _, _) = post(&url, &body).await;
    assert_eq!(status, 500, "empty script is exhausted");
    server
        .append_responses(None, vec![mock_llm::Response::text("added")])
        .unwrap();
    let (_, _, text) = post(&url, &body).await;
    assert_eq!(streamed_text(&text), "added");
    assert!(
        server
            .append_responses(None, vec![mock_llm::Response::status(200)])
            .is_err()
    );

    assert_eq!(server.take_requests().len(), 2);
    assert!(server.requests().is_empty());
    post(&url, &body).await;
    let client = reqwest::Client::new();
    let del = client
        .delete(format!("{}/__requests", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    assert!(server.requests().is_empty());
}
