//! The HTTP transport: one spawned task per call that sends, retries, enforces the
//! timeouts, parses and forwards events, and stops when cancelled.
//!
//! Retry after partial output (the choice this layer makes): a failed attempt is
//! retried from scratch. Events the consumer already received are remembered; while
//! the new attempt reproduces them exactly they are swallowed, so a stream cut
//! mid-text and replayed identically shows no duplicated text. If the new attempt
//! diverges (a real model rarely repeats itself token for token), the consumer gets
//! [`StreamEvent::Restarted`] and then the new response from its beginning. Only about
//! 8 MiB of delivered content is remembered; after a longer answer a retry always
//! restarts (one more copy of a huge answer is not worth the deduplication).
//! [`Completed`] always describes only the successful attempt.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use futures::{Stream, StreamExt};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::config::{ProviderConfig, ProviderKind};
use crate::dialect::{self, WireRequest};
use crate::error::{self, LlmError, TimeoutKind};
use crate::event::{Completed, Request, StreamEvent};
use crate::parse::ResponseParser;
use crate::redact::Secrets;
use crate::retry;
use crate::sse::{SseDecoder, SseEvent};

/// The largest text, reasoning or argument delta handed to the caller. A provider event
/// carrying more (one 64 MiB text delta) is passed on in pieces of at most this many
/// bytes, split at character boundaries, so that a consumer forwarding deltas (the Pod
/// socket, a terminal) never has to move one huge message. Items (`ItemDone`,
/// `Completed`) stay whole: they are what the log keeps.
pub const MAX_DELTA_BYTES: usize = 64 * 1024;

/// The most bytes of an error response body read: the message is cut to 2000
/// characters anyway, and an endless error body must not be an unbounded read.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Something the runtime can hold as `Box<dyn Provider>` / `Arc<dyn Provider>`.
pub trait Provider: Send + Sync {
    /// Starts one model call. Must be called inside a tokio runtime. Errors in the
    /// returned `Result` are request-building errors; everything that happens on the
    /// wire arrives as the stream's last item.
    fn stream(&self, req: &Request, cancel: CancellationToken) -> Result<EventStream, LlmError>;

    /// The dialect.
    fn kind(&self) -> ProviderKind;
}

/// The events of one call. Ends with `Ok(StreamEvent::Completed)` or one `Err`.
/// Dropping it cancels the call.
pub struct EventStream {
    rx: mpsc::Receiver<Result<StreamEvent, LlmError>>,
    _stop_on_drop: DropGuard,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventStream")
    }
}

impl Stream for EventStream {
    type Item = Result<StreamEvent, LlmError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl EventStream {
    /// Drains the stream, returning the outcome.
    pub async fn complete(mut self) -> Result<Completed, LlmError> {
        while let Some(ev) = self.next().await {
            if let StreamEvent::Completed(c) = ev? {
                return Ok(c);
            }
        }
        Err(LlmError::Cancelled)
    }
}

/// The HTTP client for one configured provider.
#[derive(Debug, Clone)]
pub struct Client {
    cfg: ProviderConfig,
    http: reqwest::Client,
}

impl Client {
    /// Builds the client (connect timeout applied here).
    pub fn new(cfg: ProviderConfig) -> Result<Client, LlmError> {
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.timeouts.connect)
            .build()
            .map_err(|e| LlmError::Protocol {
                provider: cfg.name,
                message: format!("cannot build HTTP client: {}", e.without_url()),
            })?;
        Ok(Client { cfg, http })
    }

    /// The configuration.
    pub fn config(&self) -> &ProviderConfig {
        &self.cfg
    }

    /// The exact request body this client would send for `req` (for tests and for
    /// checking prompt-cache stability).
    pub fn request_body(&self, req: &Request) -> Result<Vec<u8>, LlmError> {
        Ok(dialect::build(&self.cfg, req)?.body)
    }
}

impl Provider for Client {
    fn stream(&self, req: &Request, cancel: CancellationToken) -> Result<EventStream, LlmError> {
        let wire = dialect::build(&self.cfg, req)?;
        let (tx, rx) = mpsc::channel(256);
        // A child token: the caller's cancel stops the call, and so does dropping
        // the stream, without cancelling the caller's token.
        let task_cancel = cancel.child_token();
        let guard = task_cancel.clone().drop_guard();
        let secrets = Secrets::new(
            self.cfg
                .api_key
                .iter()
                .map(|k| k.expose())
                .chain(self.cfg.extra_headers.iter().map(|(_, v)| v.as_str())),
        );
        let call = Call {
            deadline: from_now(self.cfg.timeouts.total),
            cfg: self.cfg.clone(),
            http: self.http.clone(),
            wire,
            tx,
            cancel: task_cancel,
            replay: Replay::default(),
            secrets,
        };
        tokio::spawn(call.run());
        Ok(EventStream {
            rx,
            _stop_on_drop: guard,
        })
    }

    fn kind(&self) -> ProviderKind {
        self.cfg.kind
    }
}

/// Why one attempt ended without success.
enum AttemptEnd {
    Failed(LlmError, Option<Duration>),
    Cancelled,
    ConsumerGone,
}

impl From<LlmError> for AttemptEnd {
    fn from(e: LlmError) -> Self {
        AttemptEnd::Failed(e, None)
    }
}

struct Call {
    cfg: ProviderConfig,
    http: reqwest::Client,
    wire: WireRequest,
    tx: mpsc::Sender<Result<StreamEvent, LlmError>>,
    cancel: CancellationToken,
    replay: Replay,
    /// Values redacted from every error before it is logged or sent.
    secrets: Secrets,
    /// `Timeouts::total` from the start of the call.
    deadline: tokio::time::Instant,
}

impl Call {
    fn provider(&self) -> &'static str {
        self.cfg.name
    }

    async fn run(mut self) {
        let started = Instant::now();
        let policy = self.cfg.retry;
        let mut backoff = retry::schedule(&policy);
        let mut attempt: u32 = 1;
        loop {
            let end = match self.attempt().await {
                Ok(()) => return,
                Err(end) => end,
            };
            let (err, hint) = match end {
                AttemptEnd::ConsumerGone => return,
                AttemptEnd::Cancelled => {
                    let _ = self.tx.send(Err(LlmError::Cancelled)).await;
                    return;
                }
                // Redacted here, before anything logs, retries on or returns it.
                AttemptEnd::Failed(e, hint) => (self.secrets.error(e), hint),
            };
            let err = match err {
                LlmError::RateLimited {
                    provider,
                    attempts,
                    message,
                    ..
                } => LlmError::RateLimited {
                    provider,
                    attempts,
                    retry_after: hint,
                    message,
                },
                e => e,
            };
            if !err.is_retryable() || attempt >= policy.max_attempts.max(1) {
                let _ = self.tx.send(Err(err.with_attempts(attempt))).await;
                return;
            }
            // A server hint wins over our schedule (even beyond max_delay) as long as
            // it fits the total budget.
            let delay = hint.unwrap_or_else(|| backoff.next().unwrap_or(policy.max_delay));
            if started.elapsed().saturating_add(delay) > policy.total_budget
                || from_now(delay) >= self.deadline
            {
                tracing::warn!(
                    provider = self.provider(),
                    attempt,
                    ?delay,
                    "retry budget exhausted"
                );
                let _ = self.tx.send(Err(err.with_attempts(attempt))).await;
                return;
            }
            attempt += 1;
            tracing::warn!(provider = self.provider(), attempt, ?delay, error = %err, "retrying model call");
            let note = StreamEvent::Retrying {
                attempt,
                delay,
                reason: err.to_string(),
            };
            if self.tx.send(Ok(note)).await.is_err() {
                return;
            }
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => {
                    let _ = self.tx.send(Err(LlmError::Cancelled)).await;
                    return;
                }
                _ = tokio::time::sleep(delay) => {}
            }
            self.replay.begin_replay();
        }
    }

    fn build(&self) -> Result<reqwest::RequestBuilder, LlmError> {
        let mut rb = self
            .http
            .post(&self.wire.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/event-stream")
            .body(self.wire.body.clone());
        for (k, v) in &self.wire.headers {
            rb = rb.header(*k, *v);
        }
        for (k, v) in &self.cfg.extra_headers {
            let name = HeaderName::try_from(k.as_str()).map_err(|_| LlmError::Protocol {
                provider: self.provider(),
                message: format!("extra header name {k:?} is not a valid HTTP header name"),
            })?;
            let mut value = HeaderValue::try_from(v.as_str()).map_err(|_| LlmError::Protocol {
                provider: self.provider(),
                // The value may be a secret: name the header only.
                message: format!("extra header {k:?} has a value that is not valid in HTTP"),
            })?;
            value.set_sensitive(true);
            rb = rb.header(name, value);
        }
        if let Some(key) = &self.cfg.api_key {
            let (name, value) = match self.cfg.kind {
                ProviderKind::OpenAiChat | ProviderKind::OpenAiResponses => {
                    ("authorization", format!("Bearer {}", key.expose()))
                }
                ProviderKind::Anthropic => ("x-api-key", key.expose().to_owned()),
                ProviderKind::Gemini => ("x-goog-api-key", key.expose().to_owned()),
            };
            let mut value = HeaderValue::try_from(value).map_err(|_| LlmError::Auth {
                provider: self.provider(),
                status: 0,
                message: "the API key contains characters not allowed in an HTTP header".into(),
                env_var: self.cfg.key_env_var.clone(),
            })?;
            // Sensitive: reqwest/hyper never print it in Debug output.
            value.set_sensitive(true);
            rb = rb.header(name, value);
        }
        Ok(rb)
    }

    fn net_error(&self, e: reqwest::Error) -> LlmError {
        if e.is_timeout() {
            return LlmError::Timeout {
                provider: self.provider(),
                which: TimeoutKind::Connect,
                after: self.cfg.timeouts.connect,
                attempts: 1,
            };
        }
        // `without_url`: the URL never holds the key, but keep errors free of it anyway.
        let e = e.without_url();
        if e.is_connect() && error::is_unreachable(&e) {
            // Refused / no such host: retrying cannot help, and the user should hear
            // at once which URL was tried (it holds no key; keys travel in headers).
            let mut message = String::new();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                if !message.is_empty() {
                    message.push_str(": ");
                }
                message.push_str(&s.to_string());
                source = s.source();
            }
            return LlmError::Unreachable {
                provider: self.provider(),
                url: self.cfg.base_url.clone(),
                message,
            };
        }
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        LlmError::Network {
            provider: self.provider(),
            attempts: 1,
            message,
        }
    }

    /// The earlier of `at` (a per-attempt timeout) and the call's total deadline, with
    /// the error to report when it passes.
    fn limit(
        &self,
        at: tokio::time::Instant,
        which: TimeoutKind,
        after: Duration,
    ) -> (tokio::time::Instant, LlmError) {
        let (at, which, after) = if self.deadline <= at {
            (self.deadline, TimeoutKind::Total, self.cfg.timeouts.total)
        } else {
            (at, which, after)
        };
        let e = LlmError::Timeout {
            provider: self.provider(),
            which,
            after,
            attempts: 1,
        };
        (at, e)
    }

    async fn attempt(&mut self) -> Result<(), AttemptEnd> {
        let t = self.cfg.timeouts;
        let kind = self.cfg.kind;
        let rb = self.build()?;
        let first_deadline = from_now(t.first_byte);
        let (first_deadline, first_byte_timeout) =
            self.limit(first_deadline, TimeoutKind::FirstByte, t.first_byte);
        let mut resp = tokio::select! {
            biased;
            _ = self.cancel.cancelled() => return Err(AttemptEnd::Cancelled),
            r = tokio::time::timeout_at(first_deadline, rb.send()) => match r {
                Err(_) => return Err(first_byte_timeout.into()),
                Ok(Err(e)) => return Err(self.net_error(e).into()),
                Ok(Ok(resp)) => resp,
            },
        };
        let status = resp.status();
        if !status.is_success() {
            let hint = retry::retry_after(resp.headers(), SystemTime::now());
            let body = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(AttemptEnd::Cancelled),
                r = tokio::time::timeout_at(first_deadline, error_body(&mut resp)) => r.unwrap_or_default(),
            };
            // Redacted before the message is cut to length, so no prefix of a key is left.
            let body = self.secrets.text(&body);
            let e = error::from_status(
                self.provider(),
                self.cfg.key_env_var.as_deref(),
                status.as_u16(),
                &body,
                hint,
            );
            return Err(AttemptEnd::Failed(e, hint));
        }
        let mut body = Body {
            resp,
            sse: SseDecoder::default(),
            received: 0,
            limit: self.cfg.limits.max_response_bytes,
            provider: self.provider(),
        };
        let mut parser = ResponseParser::new(kind);
        let mut first = true;
        loop {
            let (deadline, timeout) = if first {
                (first_deadline, first_byte_timeout.clone())
            } else {
                self.limit(from_now(t.idle), TimeoutKind::Idle, t.idle)
            };
            let next = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(AttemptEnd::Cancelled),
                r = tokio::time::timeout_at(deadline, body.next_event()) => r,
            };
            let ended = match next {
                Err(_) => return Err(timeout.into()),
                Ok(Err(BodyError::Transport(e))) => {
                    return Err(LlmError::Network {
                        provider: self.provider(),
                        attempts: 1,
                        message: format!("stream broke: {}", self.net_error(e)),
                    }
                    .into());
                }
                Ok(Err(BodyError::Fatal(e))) => return Err(e.into()),
                Ok(Ok(None)) => true,
                Ok(Ok(Some(ev))) => {
                    first = false;
                    let end = parser.feed(&ev.event, &ev.data)?;
                    for out in parser.take_events() {
                        self.forward(out).await?;
                    }
                    end
                }
            };
            if ended {
                parser.finish()?;
                for out in parser.take_events() {
                    self.forward(out).await?;
                }
                return Ok(());
            }
        }
    }

    async fn forward(&mut self, ev: StreamEvent) -> Result<(), AttemptEnd> {
        for piece in split_delta(ev) {
            for out in self.replay.filter(piece) {
                self.tx
                    .send(Ok(out))
                    .await
                    .map_err(|_| AttemptEnd::ConsumerGone)?;
            }
        }
        Ok(())
    }
}

/// `now + d`, saturating: a configured "never" (`Duration::MAX`) must not panic on
/// overflow; a century is plenty.
fn from_now(d: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

/// Reads at most [`MAX_ERROR_BODY_BYTES`] of an error response (lossy UTF-8: it is
/// only shown).
async fn error_body(resp: &mut reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < MAX_ERROR_BODY_BYTES {
        match resp.chunk().await {
            Ok(Some(c)) => {
                buf.extend_from_slice(&c[..c.len().min(MAX_ERROR_BODY_BYTES - buf.len())])
            }
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Why reading the next event failed.
enum BodyError {
    /// The connection failed (retryable).
    Transport(reqwest::Error),
    /// The body broke a rule: too large, not UTF-8.
    Fatal(LlmError),
}

/// A streamed response body turned into SSE events, counting bytes against the cap.
struct Body {
    resp: reqwest::Response,
    sse: SseDecoder,
    received: u64,
    limit: u64,
    provider: &'static str,
}

impl Body {
    /// The next event; `None` at the end of the body. Cancel-safe: bytes are consumed
    /// only after a chunk arrived.
    async fn next_event(&mut self) -> Result<Option<SseEvent>, BodyError> {
        loop {
            if let Some(ev) = self.sse.next_event() {
                return Ok(Some(ev));
            }
            let Some(chunk) = self.resp.chunk().await.map_err(BodyError::Transport)? else {
                return Ok(None);
            };
            self.received = self.received.saturating_add(chunk.len() as u64);
            // Checked before the chunk is kept: memory stays bounded by the cap.
            if self.received > self.limit {
                return Err(BodyError::Fatal(LlmError::ResponseTooLarge {
                    provider: self.provider,
                    limit: self.limit,
                }));
            }
            self.sse.push(&chunk).map_err(|e| {
                BodyError::Fatal(LlmError::Protocol {
                    provider: self.provider,
                    message: format!("malformed SSE: {e}"),
                })
            })?;
        }
    }
}

/// Cuts a text, reasoning or argument delta longer than [`MAX_DELTA_BYTES`] into
/// pieces at character boundaries; other events pass unchanged. Deterministic, so the
/// replay of a retried attempt matches piece by piece.
fn split_delta(ev: StreamEvent) -> Vec<StreamEvent> {
    let (text, make): (String, Box<dyn Fn(String) -> StreamEvent>) = match ev {
        StreamEvent::TextDelta(t) if t.len() > MAX_DELTA_BYTES => {
            (t, Box::new(StreamEvent::TextDelta))
        }
        StreamEvent::ReasoningDelta(t) if t.len() > MAX_DELTA_BYTES => {
            (t, Box::new(StreamEvent::ReasoningDelta))
        }
        StreamEvent::ToolCallArgsDelta { index, delta } if delta.len() > MAX_DELTA_BYTES => (
            delta,
            Box::new(move |delta| StreamEvent::ToolCallArgsDelta { index, delta }),
        ),
        other => return vec![other],
    };
    let mut out = Vec::with_capacity(text.len() / MAX_DELTA_BYTES + 1);
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let mut cut = rest.len().min(MAX_DELTA_BYTES);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push(make(rest[..cut].to_owned()));
        rest = &rest[cut..];
    }
    out
}

/// About how much delivered content [`Replay`] keeps, in bytes. Past it a retry
/// restarts the consumer ([`StreamEvent::Restarted`]) instead of swallowing an
/// identical replay: the deduplication is a nicety, and one more copy of a huge answer
/// for it is not worth its memory.
const REPLAY_MEMORY: usize = 8 << 20;

/// Remembers content already delivered so a retried attempt does not repeat it.
#[derive(Debug, Default)]
struct Replay {
    delivered: Vec<StreamEvent>,
    /// Approximate bytes held by `delivered`.
    kept: usize,
    /// More than [`REPLAY_MEMORY`] was delivered: `delivered` was dropped.
    forgot: bool,
    /// The next event starts a new response the consumer must take from scratch.
    restart_next: bool,
    /// While replaying: how many delivered events the new attempt has matched.
    cursor: Option<usize>,
}

/// Rough memory of a content event: delta text counts twice, because the same text
/// comes back in the `ItemDone` that completes it.
fn replay_size(ev: &StreamEvent) -> usize {
    64 + match ev {
        StreamEvent::TextDelta(t) | StreamEvent::ReasoningDelta(t) => 2 * t.len(),
        StreamEvent::ToolCallArgsDelta { delta, .. } => 2 * delta.len(),
        _ => 0,
    }
}

impl Replay {
    fn begin_replay(&mut self) {
        if self.forgot {
            self.forgot = false;
            self.restart_next = true;
            self.cursor = None;
        } else if !self.delivered.is_empty() {
            self.cursor = Some(0);
        }
    }

    fn remember(&mut self, ev: &StreamEvent) {
        if self.forgot {
            return;
        }
        self.kept += replay_size(ev);
        if self.kept > REPLAY_MEMORY {
            self.forgot = true;
            self.kept = 0;
            self.delivered = Vec::new();
        } else {
            self.delivered.push(ev.clone());
        }
    }

    fn filter(&mut self, ev: StreamEvent) -> Vec<StreamEvent> {
        let is_content = !matches!(
            ev,
            StreamEvent::Usage(_)
                | StreamEvent::Stop(_)
                | StreamEvent::Completed(_)
                | StreamEvent::Retrying { .. }
                | StreamEvent::Restarted
        );
        if std::mem::take(&mut self.restart_next) {
            // What was delivered is no longer known in full: start over.
            self.delivered.clear();
            self.kept = 0;
            if is_content {
                self.remember(&ev);
            }
            return vec![StreamEvent::Restarted, ev];
        }
        let Some(c) = self.cursor else {
            if is_content {
                self.remember(&ev);
            }
            return vec![ev];
        };
        if is_content && c < self.delivered.len() && self.delivered[c] == ev {
            self.cursor = Some(c + 1);
            return vec![];
        }
        if c >= self.delivered.len() {
            // The replay caught up; from here on the output is new.
            self.cursor = None;
            if is_content {
                self.remember(&ev);
            }
            return vec![ev];
        }
        // Diverged (or ended early): the consumer must drop what it has and take the
        // new response from the start, i.e. the matched prefix and this event.
        self.cursor = None;
        self.delivered.truncate(c);
        self.kept = self.delivered.iter().map(replay_size).sum();
        let mut out = vec![StreamEvent::Restarted];
        out.extend(self.delivered.iter().cloned());
        if is_content {
            self.remember(&ev);
        }
        out.push(ev);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_replay_is_swallowed_and_divergence_restarts() {
        let t = |s: &str| StreamEvent::TextDelta(s.into());
        let mut r = Replay::default();
        assert_eq!(r.filter(t("a")), vec![t("a")]);
        assert_eq!(r.filter(t("b")), vec![t("b")]);
        r.begin_replay();
        assert!(r.filter(t("a")).is_empty());
        assert!(r.filter(t("b")).is_empty());
        assert_eq!(r.filter(t("c")), vec![t("c")]);
        r.begin_replay();
        assert!(r.filter(t("a")).is_empty());
        assert_eq!(
            r.filter(t("X")),
            vec![StreamEvent::Restarted, t("a"), t("X")]
        );
    }

    #[test]
    fn replay_memory_is_bounded_and_past_it_a_retry_restarts() {
        let t = |s: &str| StreamEvent::TextDelta(s.into());
        let big = "x".repeat(MAX_DELTA_BYTES);
        let mut r = Replay::default();
        for _ in 0..(2 * REPLAY_MEMORY / big.len()) {
            assert_eq!(r.filter(t(&big)).len(), 1);
        }
        assert!(r.delivered.is_empty() && r.forgot);
        r.begin_replay();
        // Even an identical first event restarts: the rest is not known any more.
        assert_eq!(r.filter(t(&big)), vec![StreamEvent::Restarted, t(&big)]);
        assert_eq!(r.filter(t("y")), vec![t("y")]);
        // Small again: the next retry swallows an identical replay as usual.
        r.begin_replay();
        assert!(r.filter(t(&big)).is_empty());
        assert!(r.filter(t("y")).is_empty());
        assert_eq!(r.filter(t("z")), vec![t("z")]);
    }
}
