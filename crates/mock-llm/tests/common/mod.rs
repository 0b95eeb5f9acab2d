//! Shared helpers for the integration tests: raw HTTP calls and SSE frame parsing.
#![allow(dead_code)]

use mock_llm::{MockServer, Script};
use serde_json::Value;

/// Starts a server on a YAML script.
pub async fn serve(yaml: &str) -> MockServer {
    MockServer::start(Script::from_yaml_str(yaml).unwrap())
        .await
        .unwrap()
}

/// A POST with a JSON body; returns status, headers and the whole body text.
pub async fn post(url: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, String) {
    post_with(url, body, &[]).await
}

/// A POST with extra headers.
pub async fn post_with(
    url: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = reqwest::Client::new().post(url).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (status, headers, text)
}

/// One SSE frame: the `event:` name (if any) and the `data:` payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub event: Option<String>,
    pub data: String,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("frame data is not JSON ({e}): {}", self.data))
    }
}

/// Parses a complete SSE body into frames (blank-line separated, as the providers send them).
pub fn frames(body: &str) -> Vec<Frame> {
    body.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            let mut event = None;
            let mut data = Vec::new();
            for line in f.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = Some(e.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push(d);
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            Frame {
                event,
                data: data.join("\n"),
            }
        })
        .collect()
}
