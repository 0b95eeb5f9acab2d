//! Nothing a provider sends is unbounded (issue 19): an endless stream ends at the
//! response-size cap with bounded memory, a trickle ends at the total deadline, a huge
//! delta reaches the caller in bounded pieces, and no provider error ever carries the
//! API key (or another configured secret) to the terminal or the log.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use llm::{LlmError, Provider, ProviderKind, StreamEvent, TimeoutKind};
use mock_llm::{MockServer, Part, Response, Script};
use tokio_util::sync::CancellationToken;

/// Held by the tests that measure memory, so one's allocations do not count in the
/// other's (tests of one file share a process).
static MEMORY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Resident set size of this process in bytes (Linux), for the memory bound.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Drains a call, failing early (instead of eating the machine) if it grows the process
/// by more than `max_growth` or runs longer than `max_time`. Returns the final error
/// and the peak RSS growth.
async fn drain_bounded(
    c: &llm::Client,
    max_growth: u64,
    max_time: Duration,
) -> (Result<(), LlmError>, u64, Vec<StreamEvent>) {
    let base = rss_bytes();
    let mut peak = 0;
    let started = Instant::now();
    let mut s = c.stream(&user("go"), CancellationToken::new()).unwrap();
    let mut n = 0u64;
    let mut kept = Vec::new();
    while let Some(ev) = s.next().await {
        n += 1;
        if n.is_multiple_of(256) {
            peak = peak.max(rss_bytes().saturating_sub(base));
            assert!(
                peak < max_growth,
                "no size cap: the process grew by {} MiB while streaming",
                peak >> 20
            );
            assert!(
                started.elapsed() < max_time,
                "no cap: still streaming after {:?}",
                started.elapsed()
            );
        }
        match ev {
            Ok(StreamEvent::Completed(_)) => return (Ok(()), peak, kept),
            Ok(ev @ (StreamEvent::Retrying { .. } | StreamEvent::Restarted)) => kept.push(ev),
            Ok(_) => {}
            Err(e) => return (Err(e), peak.max(rss_bytes().saturating_sub(base)), kept),
        }
    }
    panic!("stream ended without Completed or error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_stream_ends_at_the_size_cap_with_bounded_memory_in_every_dialect() {
    const CAP: u64 = 8 << 20;
    // 1000-byte deltas: the text is most of each event, so a client that keeps what it
    // received grows with the stream.
    let text: String = "0123456789".repeat(200);
    let yaml = format!(
        "responses:\n  - endless: true\n    times: 8\n    output:\n      - text: \"{text}\"\n        chunk_size: 1000\n"
    );
    let _alone = MEMORY.lock().await;
    for kind in ALL {
        let srv = server(&yaml).await;
        let c = client_with(kind, &srv, |cfg| cfg.limits.max_response_bytes = CAP);
        let (done, peak, kept) = drain_bounded(&c, 512 << 20, Duration::from_secs(60)).await;
        let err = done.unwrap_err();
        assert!(
            matches!(err, LlmError::ResponseTooLarge { limit: CAP, .. }),
            "{kind:?}: {err:?}"
        );
        assert!(err.to_string().contains("max_response_bytes"), "{err}");
        // Not retried: a runaway answer would run away again, and each try is billed.
        assert!(!err.is_retryable() && kept.is_empty(), "{kind:?}: {kept:?}");
        assert_eq!(srv.requests().len(), 1, "{kind:?}");
        // What the client holds is bounded by the cap (the text it received, kept for
        // the final items and for replay), not by how long the server goes on.
        assert!(peak < 12 * CAP, "{kind:?}: grew by {} MiB", peak >> 20);
        eprintln!(
            "{kind:?}: cap {} MiB, peak RSS growth {} MiB",
            CAP >> 20,
            peak >> 20
        );
    }
}

#[tokio::test]
async fn a_trickling_endless_stream_ends_at_the_total_deadline() {
    let srv = server(
        "responses:\n  - endless: true\n    pace_ms: 20\n    times: 3\n    output: [{text: \"tick\"}]\n",
    )
    .await;
    let c = client_with(ProviderKind::Anthropic, &srv, |cfg| {
        cfg.timeouts.total = Duration::from_secs(1);
    });
    let t = Instant::now();
    let (done, _, kept) = drain_bounded(&c, 512 << 20, Duration::from_secs(15)).await;
    let err = done.unwrap_err();
    assert!(
        matches!(
            err,
            LlmError::Timeout {
                which: TimeoutKind::Total,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("total"), "{err}");
    assert!(
        t.elapsed() >= Duration::from_millis(950) && t.elapsed() < Duration::from_secs(3),
        "{:?}",
        t.elapsed()
    );
    // No time is left for a retry: the deadline covers the whole call.
    assert!(!err.is_retryable() && kept.is_empty(), "{kept:?}");
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn the_total_deadline_covers_retries_and_their_waits() {
    // Three quick 503s would be retried; the deadline ends the call while it waits.
    let srv = server("responses:\n  - status: 503\n    times: 10\n    retry_after: 1\n").await;
    let c = client_with(ProviderKind::OpenAiChat, &srv, |cfg| {
        cfg.timeouts.total = Duration::from_millis(1500);
        cfg.retry.max_attempts = 10;
    });
    let t = Instant::now();
    let (_, done) = run(&c, &user("hi")).await;
    let err = done.unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // The last provider error is reported (it says more than "deadline").
    assert!(matches!(err, LlmError::Overloaded { .. }), "{err:?}");
    assert!(srv.requests().len() <= 2, "{}", srv.requests().len());
}

#[tokio::test]
async fn a_huge_text_delta_reaches_the_caller_in_bounded_pieces() {
    let text: String = "é0123456789".repeat(100_000); // 1.2 MB in one event
    let r = Response {
        output: vec![Part::text_pieces([text.clone()])],
        ..Default::default()
    };
    let script = Script {
        responses: vec![r],
        ..Default::default()
    };
    let srv = MockServer::start(script).await.unwrap();
    let (events, done) = run(&client(ProviderKind::OpenAiChat, &srv), &user("hi")).await;
    done.unwrap();
    let pieces: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta(t) => Some(t),
            _ => None,
        })
        .collect();
    assert!(pieces.len() >= 16, "{} pieces", pieces.len());
    assert!(pieces.iter().all(|p| p.len() <= llm::MAX_DELTA_BYTES));
    assert_eq!(text_of(&events), text);
}

// --- API keys never leave in an error --------------------------------------------

/// The texts a user or a log could see of an error.
fn shown(err: &LlmError, kept: &[StreamEvent]) -> Vec<String> {
    let mut t = vec![err.to_string(), format!("{err:?}")];
    for ev in kept {
        if let StreamEvent::Retrying { reason, .. } = ev {
            t.push(reason.clone());
        }
    }
    t
}

fn assert_no_secret(texts: &[String], secret: &str, what: &str) {
    for t in texts {
        assert!(!t.contains(secret), "{what} leaked the secret: {t}");
        // Nor a telling part of it (a message cut in the middle of the key).
        assert!(!t.contains(&secret[..12]), "{what} leaked part of it: {t}");
    }
}

#[tokio::test]
async fn a_provider_echoing_the_key_in_a_401_does_not_put_it_in_the_error() {
    for kind in ALL {
        let srv = server(&format!(
            "responses:\n  - status: 401\n    message: \"Incorrect API key provided: {FAKE_KEY}. You can find your API key at https://example.invalid.\"\n"
        ))
        .await;
        let (done, _, kept) =
            drain_bounded(&client(kind, &srv), 512 << 20, Duration::from_secs(15)).await;
        let err = done.unwrap_err();
        assert!(matches!(err, LlmError::Auth { .. }), "{kind:?}: {err:?}");
        let texts = shown(&err, &kept);
        assert_no_secret(&texts, FAKE_KEY, &format!("{kind:?}"));
        // The message stays useful: the provider's words and where the key was.
        assert!(
            texts[0].contains("Incorrect API key provided: [redacted]"),
            "{}",
            texts[0]
        );
    }
}

#[tokio::test]
async fn echoed_keys_are_redacted_from_retry_notes_cut_messages_and_raw_bodies() {
    // A 500 whose JSON echoes the key (retried: the Retrying note must be clean too),
    // a 400 whose message is cut by the 2000-character limit in the middle of the key,
    // and a non-JSON body that is the key itself.
    let long = format!("{}{FAKE_KEY}", "x".repeat(1980));
    let srv = server(&format!(
        "responses:\n  - status: 500\n    message: \"upstream saw key={FAKE_KEY}\"\n  - status: 400\n    message: \"{long}\"\n  - status: 400\n    body: \"Bearer {FAKE_KEY}\"\n"
    ))
    .await;
    let c = client_with(ProviderKind::OpenAiChat, &srv, |cfg| {
        cfg.retry.max_attempts = 2;
    });
    let (done, _, kept) = drain_bounded(&c, 512 << 20, Duration::from_secs(15)).await;
    let err = done.unwrap_err();
    assert!(matches!(err, LlmError::BadRequest { .. }), "{err:?}");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_no_secret(&shown(&err, &kept), FAKE_KEY, "500 then 400");
    let (_, done) = run(&c, &user("hi")).await;
    let err = done.unwrap_err();
    assert_no_secret(&shown(&err, &[]), FAKE_KEY, "raw body");
    assert!(err.to_string().contains("Bearer [redacted]"), "{err}");
}

#[tokio::test]
async fn an_in_stream_error_echoing_the_key_is_redacted() {
    let r = Response {
        raw_sse_body: Some(
        format!(
            "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"m\",\"usage\":{{\"input_tokens\":1,\"output_tokens\":1}}}}}}\n\nevent: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"invalid_request_error\",\"message\":\"key {FAKE_KEY} is not allowed\"}}}}\n\n"
        )
        .into(),
    ),
        ..Default::default()
    };
    let srv = MockServer::start(Script {
        responses: vec![r],
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, done) = run(&client(ProviderKind::Anthropic, &srv), &user("hi")).await;
    let err = done.unwrap_err();
    assert_no_secret(&shown(&err, &[]), FAKE_KEY, "in-stream error");
}

#[tokio::test]
async fn secret_extra_header_values_are_redacted_too() {
    // Azure-style `api-key` header instead of the usual auth header.
    let secret = "azure-SECRET-value-9876543210";
    let srv = server(&format!(
        "responses:\n  - status: 403\n    message: \"api-key {secret} has no access\"\n"
    ))
    .await;
    let c = client_with(ProviderKind::OpenAiChat, &srv, |cfg| {
        cfg.api_key = None;
        cfg.extra_headers.push(("api-key".into(), secret.into()));
    });
    let (_, done) = run(&c, &user("hi")).await;
    let err = done.unwrap_err();
    assert_no_secret(&shown(&err, &[]), secret, "extra header");
}

#[tokio::test]
async fn timeouts_of_duration_max_mean_never_and_do_not_overflow() {
    let srv = server("responses:\n  - output: [{text: \"fine\"}]\n").await;
    let c = client_with(ProviderKind::Gemini, &srv, |cfg| {
        cfg.timeouts.first_byte = Duration::MAX;
        cfg.timeouts.idle = Duration::MAX;
        cfg.timeouts.total = Duration::MAX;
    });
    let (events, done) = run(&c, &user("hi")).await;
    done.unwrap();
    assert_eq!(text_of(&events), "fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_64_mib_event_passes_the_default_limits_whole_and_in_pieces() {
    let _alone = MEMORY.lock().await;
    let text = "y".repeat(64 << 20);
    let srv = MockServer::start(Script {
        responses: vec![Response {
            output: vec![Part::text_pieces([text.clone()])],
            ..Default::default()
        }],
        ..Default::default()
    })
    .await
    .unwrap();
    let c = client_with(ProviderKind::Anthropic, &srv, |cfg| {
        cfg.limits = llm::Limits::default();
        // A debug build on a loaded CI machine moves 64 MiB slowly: the test is about
        // sizes, not speed, so no timeout may cut it and no retry may hide a failure.
        cfg.timeouts.first_byte = Duration::from_secs(300);
        cfg.timeouts.idle = Duration::from_secs(300);
        cfg.timeouts.total = Duration::from_secs(900);
        cfg.retry.max_attempts = 1;
    });
    let base = rss_bytes();
    let mut s = c.stream(&user("hi"), CancellationToken::new()).unwrap();
    let (mut pieces, mut got, mut peak) = (0usize, 0usize, 0u64);
    let done = loop {
        match s.next().await {
            Some(Ok(StreamEvent::TextDelta(t))) => {
                assert!(t.len() <= llm::MAX_DELTA_BYTES);
                pieces += 1;
                got += t.len();
                peak = peak.max(rss_bytes().saturating_sub(base));
            }
            Some(Ok(StreamEvent::Completed(done))) => break done,
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("{e}"),
            None => panic!("no Completed"),
        }
    };
    assert_eq!(got, text.len());
    assert_eq!(pieces, text.len() / llm::MAX_DELTA_BYTES);
    // The log keeps the item whole.
    assert!(
        matches!(&done.items[..], [transcript::Item::AssistantMessage { text: t, .. }] if t.len() == text.len())
    );
    eprintln!(
        "64 MiB event: {pieces} pieces, peak RSS growth while streaming {} MiB",
        peak >> 20
    );
}
