//! Shared helpers for the end-to-end tests against `mock-llm`.
#![allow(dead_code)]

use std::time::Duration;

use futures::StreamExt;
use llm::{
    ApiKey, Client, Completed, LlmError, Provider, ProviderConfig, ProviderKind, Request,
    RetryPolicy, StreamEvent, Timeouts,
};
use mock_llm::{MockServer, Script};
use tokio_util::sync::CancellationToken;
use transcript::Item;

pub const ALL: [ProviderKind; 4] = [
    ProviderKind::OpenAiChat,
    ProviderKind::Anthropic,
    ProviderKind::OpenAiResponses,
    ProviderKind::Gemini,
];

pub const FAKE_KEY: &str = "sk-FAKE-KEY-do-not-leak-0123456789";

pub async fn server(yaml: &str) -> MockServer {
    MockServer::start(Script::from_yaml_str(yaml).unwrap())
        .await
        .unwrap()
}

/// A client for `kind` against the mock, with fast retries for tests.
pub fn client(kind: ProviderKind, srv: &MockServer) -> Client {
    let base = srv.base_url();
    let base = match kind {
        ProviderKind::OpenAiChat | ProviderKind::OpenAiResponses => format!("{base}/v1"),
        ProviderKind::Anthropic => base,
        ProviderKind::Gemini => format!("{base}/v1beta"),
    };
    let mut cfg = ProviderConfig::new(kind, base, Some(ApiKey::new(FAKE_KEY)));
    cfg.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        total_budget: Duration::from_secs(20),
    };
    cfg.timeouts = Timeouts {
        connect: Duration::from_secs(2),
        first_byte: Duration::from_secs(5),
        idle: Duration::from_secs(5),
        total: Duration::from_secs(60),
    };
    Client::new(cfg).unwrap()
}

pub fn client_with(
    kind: ProviderKind,
    srv: &MockServer,
    f: impl FnOnce(&mut ProviderConfig),
) -> Client {
    let mut cfg = client(kind, srv).config().clone();
    f(&mut cfg);
    Client::new(cfg).unwrap()
}

pub fn user(text: &str) -> Request {
    let mut r = Request {
        system: "You are a test.".into(),
        ..Default::default()
    };
    r.config.model = "test-model".into();
    r.history.push(Item::UserMessage { text: text.into() });
    r
}

/// Runs one call to the end, returning every event and the outcome.
pub async fn run(c: &Client, req: &Request) -> (Vec<StreamEvent>, Result<Completed, LlmError>) {
    let mut s = c.stream(req, CancellationToken::new()).unwrap();
    let mut events = Vec::new();
    while let Some(ev) = s.next().await {
        match ev {
            Ok(StreamEvent::Completed(done)) => return (events, Ok(done)),
            Ok(ev) => events.push(ev),
            Err(e) => return (events, Err(e)),
        }
    }
    panic!("stream ended without Completed or error");
}

pub fn text_of(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

pub fn calls(done: &Completed) -> Vec<transcript::ToolCall> {
    done.items
        .iter()
        .filter_map(|i| match i {
            Item::ToolCall(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}
