//! Reliability against `mock-llm`: retries with `Retry-After`, budgets, no retry on
//! 400, in-stream overload, idle timeout, cut streams replayed without duplicated text,
//! cancellation latency, and the API key never leaking.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use llm::{LlmError, Provider, ProviderKind, StreamEvent, TimeoutKind};
use tokio_util::sync::CancellationToken;

fn retries(events: &[StreamEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, StreamEvent::Retrying { .. }))
        .count()
}

#[tokio::test]
async fn status_429_with_retry_after_1_retries_once_after_at_least_1s() {
    let srv = server(
        r#"
responses:
  - status: 429
    retry_after: 1
    message: "slow down"
  - output:
      - text: "ok"
"#,
    )
    .await;
    let t = Instant::now();
    let (events, done) = run(&client(ProviderKind::Anthropic, &srv), &user("hi")).await;
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(text_of(&events), "ok");
    done.unwrap();
    assert_eq!(retries(&events), 1);
    assert_eq!(srv.requests().len(), 2);
}

#[tokio::test]
async fn retry_after_as_http_date_is_honoured() {
    let at = std::time::SystemTime::now() + Duration::from_secs(2);
    let srv = server(&format!(
        "responses:\n  - status: 503\n    retry_after: \"{}\"\n  - output:\n      - text: ok\n",
        httpdate::fmt_http_date(at)
    ))
    .await;
    let t = Instant::now();
    let (_, done) = run(&client(ProviderKind::OpenAiChat, &srv), &user("hi")).await;
    done.unwrap();
    // HTTP-dates have 1 s resolution: at least ~1 s must have been waited.
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn three_503s_then_success_in_every_dialect() {
    for kind in ALL {
        let srv = server(
            r#"
responses:
  - status: 503
    times: 3
  - output:
      - text: "finally"
"#,
        )
        .await;
        let (events, done) = run(&client(kind, &srv), &user("hi")).await;
        done.unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(text_of(&events), "finally");
        assert_eq!(retries(&events), 3, "{kind:?}");
        assert_eq!(srv.requests().len(), 4, "{kind:?}");
    }
}

#[tokio::test]
async fn attempts_exhausted_gives_typed_error_after_max_attempts() {
    let srv = server(
        r#"
responses:
  - status: 529
    times: 10
    message: "Overloaded"
"#,
    )
    .await;
    let c = client_with(ProviderKind::Anthropic, &srv, |c| c.retry.max_attempts = 3);
    let (_, done) = run(&c, &user("hi")).await;
    let err = done.unwrap_err();
    assert!(
        matches!(&err, LlmError::Overloaded { status: 529, attempts: 3, message, .. } if message.contains("Overloaded")),
        "{err:?}"
    );
    assert_eq!(srv.requests().len(), 3);
}

#[tokio::test]
async fn retry_after_beyond_the_budget_fails_fast_as_rate_limited() {
    let srv = server("responses:\n  - status: 429\n    retry_after: 30\n    times: 5\n").await;
    let c = client_with(ProviderKind::OpenAiResponses, &srv, |c| {
        c.retry.total_budget = Duration::from_secs(5)
    });
    let t = Instant::now();
    let (_, done) = run(&c, &user("hi")).await;
    let err = done.unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(err, LlmError::RateLimited { attempts: 1, retry_after: Some(d), .. } if d == Duration::from_secs(30)),
        "{err:?}"
    );
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn bad_request_is_not_retried_and_carries_the_provider_message() {
    for kind in ALL {
        let srv = server(
            r#"
responses:
  - status: 400
    message: "max_tokens: 999999 > 64000, which is the maximum allowed"
  - output:
      - text: "must not be reached"
"#,
        )
        .await;
        let (_, done) = run(&client(kind, &srv), &user("hi")).await;
        let err = done.unwrap_err();
        assert!(
            matches!(&err, LlmError::BadRequest { status: 400, message, .. } if message.contains("which is the maximum allowed")),
            "{kind:?}: {err:?}"
        );
        assert!(err.to_string().contains("which is the maximum allowed"));
        assert_eq!(srv.requests().len(), 1, "{kind:?}");
    }
}

#[tokio::test]
async fn in_stream_overloaded_error_is_retried_in_every_dialect() {
    for kind in ALL {
        let srv = server(
            r#"
responses:
  - output:
      - text: "never shown"
    in_stream_error: overloaded
    cut_after_events: 1
  - output:
      - text: "recovered"
"#,
        )
        .await;
        let (events, done) = run(&client(kind, &srv), &user("hi")).await;
        done.unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        // Gemini's first event already carries text, so the consumer saw a little
        // and is told to restart; the others failed before any text.
        let after_restart = events
            .iter()
            .rposition(|e| *e == StreamEvent::Restarted)
            .map_or(0, |i| i + 1);
        assert_eq!(text_of(&events[after_restart..]), "recovered", "{kind:?}");
        assert_eq!(retries(&events), 1, "{kind:?}");
    }
}

#[tokio::test]
async fn stall_after_one_event_trips_the_idle_timeout() {
    let srv = server(
        r#"
responses:
  - output:
      - text: "Hello there, this stalls"
    stall_after_events: 1
"#,
    )
    .await;
    let c = client_with(ProviderKind::Anthropic, &srv, |c| {
        c.timeouts.idle = Duration::from_millis(300);
        c.retry.max_attempts = 1;
    });
    let t = Instant::now();
    let (_, done) = run(&c, &user("hi")).await;
    let err = done.unwrap_err();
    assert!(
        matches!(
            err,
            LlmError::Timeout {
                which: TimeoutKind::Idle,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[tokio::test]
async fn stream_cut_mid_text_is_retried_without_duplicated_text() {
    for kind in ALL {
        let text = "The quick brown fox jumps over the lazy dog, twice over.";
        let srv = server(&format!(
            r#"
responses:
  - output:
      - text: "{text}"
        chunk_size: 6
    cut_after_events: 5
  - output:
      - text: "{text}"
        chunk_size: 6
"#
        ))
        .await;
        let (events, done) = run(&client(kind, &srv), &user("hi")).await;
        let done = done.unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(srv.requests().len(), 2, "{kind:?}");
        // Some text was shown before the cut, and nothing was shown twice.
        let before_retry = text_of(
            &events[..events
                .iter()
                .position(|e| matches!(e, StreamEvent::Retrying { .. }))
                .unwrap()],
        );
        assert!(
            !before_retry.is_empty(),
            "{kind:?}: the cut must come mid-text"
        );
        assert_eq!(text_of(&events), text, "{kind:?}");
        assert!(!events.contains(&StreamEvent::Restarted), "{kind:?}");
        assert_eq!(
            done.items,
            vec![transcript::Item::AssistantMessage { text: text.into() }]
        );
    }
}

#[tokio::test]
async fn a_retry_that_diverges_tells_the_consumer_to_restart() {
    let srv = server(
        r#"
responses:
  - output:
      - text: "First attempt text that gets cut"
        chunk_size: 4
    cut_after_events: 6
  - output:
      - text: "Second, different answer"
        chunk_size: 4
"#,
    )
    .await;
    let (events, done) = run(&client(ProviderKind::OpenAiChat, &srv), &user("hi")).await;
    done.unwrap();
    let r = events
        .iter()
        .position(|e| *e == StreamEvent::Restarted)
        .expect("Restarted");
    assert_eq!(text_of(&events[r..]), "Second, different answer");
}

#[tokio::test]
async fn cancel_mid_stream_returns_within_100ms() {
    for kind in ALL {
        let srv = server(
            r#"
responses:
  - output:
      - text: "Some text before a long stall"
        chunk_size: 4
    stall_after_events: 6
    stall_ms: 20000
"#,
        )
        .await;
        let c = client(kind, &srv);
        let cancel = CancellationToken::new();
        let mut s = c.stream(&user("hi"), cancel.clone()).unwrap();
        loop {
            match s.next().await.unwrap().unwrap() {
                StreamEvent::TextDelta(_) => break,
                _ => continue,
            }
        }
        // Stop reading mid-stream while the server stalls.
        let t = Instant::now();
        cancel.cancel();
        let mut last = None;
        while let Some(ev) = s.next().await {
            last = Some(ev);
        }
        let elapsed = t.elapsed();
        assert!(
            elapsed < Duration::from_millis(100),
            "{kind:?}: {elapsed:?}"
        );
        assert_eq!(last, Some(Err(LlmError::Cancelled)), "{kind:?}");
    }
}

#[tokio::test]
async fn fake_key_never_appears_in_errors_or_debug() {
    let srv = server(
        r#"
responses:
  - status: 401
    message: "invalid x-api-key"
  - status: 400
    message: "bad"
  - status: 503
    times: 10
"#,
    )
    .await;
    for kind in ALL {
        let c = client_with(kind, &srv, |c| c.retry.max_attempts = 2);
        let mut texts = vec![format!("{c:?}"), format!("{:?}", c.config())];
        for _ in 0..3 {
            let (events, done) = run(&c, &user("hi")).await;
            texts.push(format!("{events:?}"));
            if let Err(e) = done {
                texts.push(e.to_string());
                texts.push(format!("{e:?}"));
            }
        }
        // Connection refused: reqwest errors must not carry the key either.
        let mut dead = c.config().clone();
        dead.base_url = "http://127.0.0.1:9".into();
        dead.retry.max_attempts = 1;
        let dead = llm::Client::new(dead).unwrap();
        let err = run(&dead, &user("hi")).await.1.unwrap_err();
        assert!(matches!(err, LlmError::Unreachable { .. }), "{err:?}");
        texts.push(err.to_string());
        texts.push(format!("{err:?}"));
        for t in &texts {
            assert!(!t.contains(FAKE_KEY), "{kind:?} leaked the key: {t}");
            assert!(
                !t.contains("0123456789"),
                "{kind:?} leaked part of the key: {t}"
            );
        }
    }
    // The first error was the auth error.
    assert!(srv.requests().len() >= 3);
}

#[tokio::test]
async fn auth_error_names_the_env_var() {
    let srv = server("responses:\n  - status: 401\n    message: \"invalid key\"\n").await;
    let (_, done) = run(&client(ProviderKind::Gemini, &srv), &user("hi")).await;
    let err = done.unwrap_err();
    assert!(matches!(err, LlmError::Auth { status: 401, .. }), "{err:?}");
    assert!(err.to_string().contains("GEMINI_API_KEY"), "{err}");
}

#[tokio::test]
async fn dropping_the_stream_stops_the_call() {
    let srv = server(
        r#"
responses:
  - output:
      - text: "abc"
    stall_after_events: 2
"#,
    )
    .await;
    let c = client(ProviderKind::OpenAiChat, &srv);
    let s = c.stream(&user("hi"), CancellationToken::new()).unwrap();
    drop(s);
    // Nothing to observe but that this returns and the server is not blocked:
    let srv2 = server("responses:\n  - output:\n      - text: fine\n").await;
    let (events, _) = run(&client(ProviderKind::OpenAiChat, &srv2), &user("hi")).await;
    assert_eq!(text_of(&events), "fine");
}

#[tokio::test]
async fn no_event_at_all_trips_the_first_byte_timeout() {
    let srv = server(
        r#"
responses:
  - output:
      - text: "late"
    stall_after_events: 0
    times: 2
"#,
    )
    .await;
    let c = client_with(ProviderKind::OpenAiChat, &srv, |c| {
        c.timeouts.first_byte = Duration::from_millis(300);
        c.retry.max_attempts = 2;
    });
    let (events, done) = run(&c, &user("hi")).await;
    let err = done.unwrap_err();
    assert!(
        matches!(
            err,
            LlmError::Timeout {
                which: TimeoutKind::FirstByte,
                attempts: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(retries(&events), 1);
}

#[tokio::test]
async fn connection_refused_is_not_retried_and_names_the_url() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let srv = server("responses: []\n").await;
    let c = client_with(ProviderKind::OpenAiChat, &srv, |c| {
        c.base_url = format!("http://127.0.0.1:{port}/v1");
        c.retry.max_attempts = 5;
    });
    let t = Instant::now();
    let (events, done) = run(&c, &user("hi")).await;
    let err = done.unwrap_err();
    assert!(matches!(err, LlmError::Unreachable { .. }), "{err:?}");
    assert!(err.is_config_or_auth() && !err.is_retryable());
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert_eq!(retries(&events), 0);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[tokio::test]
async fn auth_and_unknown_model_are_config_errors_and_not_retried() {
    let srv = server(
        "responses:\n  - status: 401\n    message: \"invalid key\"\n  - status: 404\n    message: \"The model `x` does not exist\"\n  - output:\n      - text: never\n",
    )
    .await;
    let c = client(ProviderKind::OpenAiChat, &srv);
    for _ in 0..2 {
        let (events, done) = run(&c, &user("hi")).await;
        let err = done.unwrap_err();
        assert!(err.is_config_or_auth(), "{err:?}");
        assert_eq!(retries(&events), 0);
    }
    assert_eq!(srv.requests().len(), 2);
}

#[tokio::test]
async fn unresolvable_host_is_not_retried() {
    let srv = server("responses: []\n").await;
    // `.invalid` is reserved (RFC 2606): no resolver may answer it.
    let c = client_with(ProviderKind::OpenAiChat, &srv, |c| {
        c.base_url = "http://pods-no-such-host.invalid/v1".into();
        c.retry.max_attempts = 5;
    });
    let (events, done) = run(&c, &user("hi")).await;
    let err = done.unwrap_err();
    assert!(matches!(err, LlmError::Unreachable { .. }), "{err:?}");
    assert!(err.is_config_or_auth());
    assert_eq!(retries(&events), 0);
}
