//! Scripted faults behave as a client would see them from a real provider.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{frames, post, serve};
use futures::StreamExt;
use serde_json::{Value, json};

fn anthropic_body() -> Value {
    json!({"model": "claude-test", "stream": true, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})
}

/// Reads a streamed body chunk by chunk until it ends or fails.
async fn read_chunks(resp: reqwest::Response) -> (Vec<Vec<u8>>, Option<reqwest::Error>) {
    let mut stream = resp.bytes_stream();
    let mut chunks = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(b) => chunks.push(b.to_vec()),
            Err(e) => return (chunks, Some(e)),
        }
    }
    (chunks, None)
}

#[tokio::test]
async fn error_statuses_carry_retry_after_and_provider_shaped_bodies() {
    let server = serve(
        r#"
responses:
  - {status: 429, retry_after: 1}
  - {status: 503, retry_after: "Wed, 21 Oct 2015 07:28:00 GMT", times: 2}
  - {status: 400, message: "prompt is too long"}
  - {status: 400, body: "not json at all"}
"#,
    )
    .await;
    let url = format!("{}/v1/messages", server.base_url());
    let (status, headers, text) = post(&url, &anthropic_body()).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "1");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "rate_limit_error");
    for _ in 0..2 {
        let (status, headers, _) = post(&url, &anthropic_body()).await;
        assert_eq!(status, 503);
        assert_eq!(headers["retry-after"], "Wed, 21 Oct 2015 07:28:00 GMT");
    }
    let (status, headers, text) = post(&url, &anthropic_body()).await;
    assert_eq!(status, 400);
    assert!(headers.get("retry-after").is_none());
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["error"],
        json!({"type": "invalid_request_error", "message": "prompt is too long"})
    );
    let (status, _, text) = post(&url, &anthropic_body()).await;
    assert_eq!((status, text.as_str()), (400, "not json at all"));
}

#[tokio::test]
async fn openai_and_gemini_error_bodies_use_their_own_shapes() {
    let server =
        serve("responses: [{status: 429, message: slow down}, {status: 429, message: slow down}]")
            .await;
    let (_, _, text) = post(
        &format!("{}/v1/chat/completions", server.base_url()),
        &json!({"messages": []}),
    )
    .await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"]["message"], "slow down");
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    let url = format!(
        "{}/v1beta/models/g:streamGenerateContent?alt=sse",
        server.base_url()
    );
    let (_, _, text) = post(&url, &json!({"contents": []})).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["error"],
        json!({"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"})
    );
}

#[tokio::test]
async fn exhausted_script_answers_500_naming_the_exhaustion() {
    let server = serve("responses: [{output: [{text: once}]}]").await;
    let url = format!("{}/v1/chat/completions", server.base_url());
    let (status, _, _) = post(&url, &json!({"messages": [], "stream": true})).await;
    assert_eq!(status, 200);
    assert_eq!(server.remaining_responses(), 0);
    let (status, _, text) = post(&url, &json!({"messages": [], "stream": true})).await;
    assert_eq!(status, 500);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with(mock_llm::EXHAUSTED_MESSAGE),
        "{text}"
    );
}

#[tokio::test]
async fn cut_stream_delivers_n_events_then_fails_the_body() {
    let server = serve(
        "responses: [{output: [{text: 'abcdefghijklmnop', chunk_size: 2}], cut_after_events: 4}]",
    )
    .await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/messages", server.base_url()))
        .json(&anthropic_body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (chunks, err) = read_chunks(resp).await;
    assert!(
        err.is_some(),
        "a cut stream must end in a body error, not a clean end"
    );
    let text = String::from_utf8(chunks.concat()).unwrap();
    let fr = frames(&text);
    let names: Vec<_> = fr.iter().map(|f| f.event.clone().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta"
        ]
    );
}

#[tokio::test]
async fn stall_without_duration_holds_the_connection_silent() {
    let server = serve("responses: [{output: [{text: hello}], stall_after_events: 1}]").await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.base_url()))
        .json(&json!({"messages": [], "stream": true}))
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(frames(std::str::from_utf8(&first).unwrap()).len(), 1);
    // Asserting an absence: nothing may arrive while the stall lasts.
    let next = tokio::time::timeout(Duration::from_millis(400), stream.next()).await;
    assert!(
        next.is_err(),
        "no bytes may arrive during a stall, got {next:?}"
    );
    drop(stream);
    server.shutdown().await;
}

#[tokio::test]
async fn stall_with_duration_resumes_and_completes() {
    let server =
        serve("responses: [{output: [{text: hello}], stall_after_events: 2, stall_ms: 300}]").await;
    let started = Instant::now();
    let (_, _, text) = post(
        &format!("{}/v1/chat/completions", server.base_url()),
        &json!({"messages": [], "stream": true}),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(frames(&text).last().unwrap().data, "[DONE]");
}

#[tokio::test]
async fn in_stream_overloaded_error_follows_the_first_event() {
    let server = serve("responses: [{output: [{text: hello}], in_stream_error: overloaded}]").await;
    let (status, _, text) = post(
        &format!("{}/v1/messages", server.base_url()),
        &anthropic_body(),
    )
    .await;
    assert_eq!(status, 200);
    let fr = frames(&text);
    assert_eq!(fr.len(), 2);
    assert_eq!(fr[0].event.as_deref(), Some("message_start"));
    assert_eq!(fr[1].event.as_deref(), Some("error"));
    assert_eq!(
        fr[1].json(),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
}

#[tokio::test]
async fn split_frames_arrive_in_pieces_with_identical_bytes() {
    let script = r#"
conversations:
  whole: [{output: [{text: "héllo wörld, split me", chunk_size: 3}]}]
  split: [{output: [{text: "héllo wörld, split me", chunk_size: 3}], split_frames: true}]
"#;
    let server = serve(script).await;
    let client = reqwest::Client::new();
    let mut bodies = Vec::new();
    let mut split_chunks = Vec::new();
    for conv in ["whole", "split"] {
        let resp = client
            .post(format!("{}/v1/messages", server.base_url()))
            .header(mock_llm::CONVERSATION_HEADER, conv)
            .json(&anthropic_body())
            .send()
            .await
            .unwrap();
        let (chunks, err) = read_chunks(resp).await;
        assert!(err.is_none());
        // Message ids carry the request number; normalise it to compare the rest byte for byte.
        let body = String::from_utf8(chunks.concat())
            .unwrap()
            .replace("msg_mock1", "msg_mockN")
            .replace("msg_mock2", "msg_mockN");
        bodies.push(body);
        split_chunks = chunks;
    }
    assert_eq!(bodies[0], bodies[1]);
    let frame_count = frames(&bodies[1]).len();
    assert!(
        split_chunks.len() > frame_count,
        "split frames must arrive in more reads ({}) than frames ({frame_count})",
        split_chunks.len()
    );
    assert!(split_chunks.iter().any(|c| !c.ends_with(b"\n\n")));
}

#[tokio::test]
async fn paced_stream_takes_at_least_pace_times_events() {
    let server = serve("responses: [{output: [{text: abcdef, chunk_size: 2}], pace_ms: 30}]").await;
    let started = Instant::now();
    let (_, _, text) = post(
        &format!("{}/v1/chat/completions", server.base_url()),
        &json!({"messages": [], "stream": true}),
    )
    .await;
    let n = frames(&text).len() as u32;
    assert_eq!(n, 6); // role, 3 deltas, finish, [DONE]
    assert!(started.elapsed() >= Duration::from_millis(30) * n);
}

#[tokio::test]
async fn stall_before_the_first_event_sends_the_head_but_no_body_byte() {
    let server = serve("responses: [{output: [{text: hello}], stall_after_events: 0}]").await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/messages", server.base_url()))
        .json(&anthropic_body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let first = tokio::time::timeout(Duration::from_millis(400), stream.next()).await;
    assert!(first.is_err(), "no body byte may arrive, got {first:?}");
}

#[tokio::test]
async fn delay_holds_back_the_response_head() {
    let server = serve("responses: [{status: 503, delay_ms: 300}]").await;
    let started = Instant::now();
    let (status, _, _) = post(
        &format!("{}/v1/messages", server.base_url()),
        &anthropic_body(),
    )
    .await;
    assert_eq!(status, 503);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn shutdown_ends_a_stalled_stream_promptly() {
    let server = serve("responses: [{output: [{text: hello}], stall_after_events: 1}]").await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.base_url()))
        .json(&json!({"messages": [], "stream": true}))
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    let reader = tokio::spawn(read_chunks(resp));
    server.shutdown().await;
    let (_, err) = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .unwrap()
        .unwrap();
    assert!(err.is_some(), "the aborted stream ends in a body error");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown must not wait for the stall"
    );
}

/// Reads at most `limit` bytes of a streamed body (the body may never end).
async fn read_prefix(resp: reqwest::Response, limit: usize) -> (Vec<u8>, bool) {
    let mut stream = resp.bytes_stream();
    let mut got = Vec::new();
    while got.len() < limit {
        match stream.next().await {
            Some(Ok(b)) => got.extend_from_slice(&b),
            Some(Err(_)) | None => return (got, true),
        }
    }
    (got, false)
}

#[tokio::test]
async fn endless_repeats_the_last_delta_and_never_closes_in_every_dialect() {
    let yaml = "responses:\n  - endless: true\n    times: 4\n    output:\n      - text: \"abcdefgh\"\n        chunk_size: 4\n";
    let server = serve(yaml).await;
    let base = server.base_url();
    let cases = [
        (
            format!("{base}/v1/chat/completions"),
            json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
            "[DONE]",
        ),
        (
            format!("{base}/v1/messages"),
            anthropic_body(),
            "message_stop",
        ),
        (
            format!("{base}/v1/responses"),
            json!({"model": "m", "stream": true, "input": "hi"}),
            "response.completed",
        ),
        (
            format!("{base}/v1beta/models/g:streamGenerateContent?alt=sse"),
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
            "finishReason",
        ),
    ];
    for (url, body, end_marker) in cases {
        let resp = reqwest::Client::new()
            .post(&url)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        // 1 MiB of a 9-byte answer: only an endless body gets this far.
        let (got, ended) = read_prefix(resp, 1 << 20).await;
        assert!(!ended, "{url}: the body ended after {} bytes", got.len());
        let text = String::from_utf8_lossy(&got);
        assert!(!text.contains(end_marker), "{url}: closing event sent");
        // The head is the normal answer's start; the repeated delta is its last piece.
        assert!(text.contains("abcd"), "{url}");
        assert!(text.matches("efgh").count() > 100, "{url}");
    }
}

#[tokio::test]
async fn endless_with_pace_is_paced_and_a_cut_ends_it() {
    let server = serve(
        "responses:\n  - endless: true\n    pace_ms: 20\n    output: [{text: \"xy\", chunk_size: 1}]\n  - endless: true\n    cut_after_events: 6\n    output: [{text: \"xy\", chunk_size: 1}]\n",
    )
    .await;
    let url = format!("{}/v1/messages", server.base_url());
    let resp = reqwest::Client::new()
        .post(&url)
        .json(&anthropic_body())
        .send()
        .await
        .unwrap();
    let t = Instant::now();
    let (got, ended) = read_prefix(resp, 2000).await;
    assert!(!ended);
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    assert!(String::from_utf8_lossy(&got).contains("\"y\""));
    let resp = reqwest::Client::new()
        .post(&url)
        .json(&anthropic_body())
        .send()
        .await
        .unwrap();
    let (chunks, err) = read_chunks(resp).await;
    assert!(err.is_some(), "a cut ends with a body error");
    let body = String::from_utf8(chunks.concat()).unwrap();
    // message_start, ping, block start, delta x, delta y, then one repeat of y.
    assert_eq!(frames(&body).len(), 6, "{body}");
}

#[test]
fn endless_needs_streamed_text_and_no_error_status() {
    for bad in [
        "responses: [{endless: true, output: [{tool_call: t}]}]",
        "responses: [{endless: true}]",
        "responses: [{endless: true, status: 500, output: [{text: a}]}]",
    ] {
        let err = mock_llm::Script::from_yaml_str(bad).unwrap_err();
        assert!(err.to_string().contains("endless"), "{bad}: {err}");
    }
}
