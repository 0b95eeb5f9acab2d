//! `raw_sse`: a recorded body is served byte for byte (comment lines, CRLF, odd
//! spacing and all), relative paths resolve against the script file, and stream
//! faults count the recording's events.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mock_llm::{MockServer, Response, Script};
use serde_json::json;

/// Not a provider recording: bytes chosen to catch any re-rendering (a comment line,
/// `data:` without a space, CRLF endings, no final blank line).
const BODY: &str = ": PROCESSING\r\n\r\ndata:{\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\r\n\r\ndata: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]";

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mock-llm-raw-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn raw_body_is_served_verbatim_from_a_path_relative_to_the_script() {
    let dir = temp_dir("verbatim");
    std::fs::write(dir.join("rec.sse"), BODY).unwrap();
    std::fs::write(
        dir.join("script.yaml"),
        "responses:\n  - raw_sse: rec.sse\n  - raw_sse: rec.sse\n",
    )
    .unwrap();
    let server = MockServer::start(Script::from_file(dir.join("script.yaml")).unwrap())
        .await
        .unwrap();
    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "x"}]});
    let (status, headers, text) =
        post(&format!("{}/v1/chat/completions", server.base_url()), &body).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(text, BODY);
    // Any dialect's route replays the same bytes, and the request is still recorded.
    let (_, _, text) = post(&format!("{}/v1/messages", server.base_url()), &body).await;
    assert_eq!(text, BODY);
    assert_eq!(server.requests().len(), 2);
    assert_eq!(server.requests()[0].body["model"], "m");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn faults_count_the_recorded_events() {
    let script = Script {
        responses: vec![Response {
            raw_sse_body: Some(BODY.into()),
            cut_after_events: Some(2),
            ..Default::default()
        }],
        ..Default::default()
    };
    let server = MockServer::start(script).await.unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.base_url()))
        .json(&json!({"model": "m", "stream": true}))
        .send()
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut resp = resp;
    let mut failed = false;
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => got.extend_from_slice(&c),
            Ok(None) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "a cut must end in a body error");
    assert_eq!(
        String::from_utf8(got).unwrap(),
        ": PROCESSING\r\n\r\ndata:{\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\r\n\r\n"
    );
}

#[test]
fn raw_sse_rejects_output_and_missing_files() {
    let err = Script::from_yaml_str("responses: [{raw_sse: x.sse, output: [{text: a}]}]")
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot be combined with `output`"), "{err}");
    let err = Script::from_yaml_str("responses: [{raw_sse: /nonexistent/pods/rec.sse}]")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/pods/rec.sse"), "{err}");
}
