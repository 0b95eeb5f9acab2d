//! Typed errors of the LLM layer. No variant ever holds the API key: errors are built
//! from status codes, provider bodies and reqwest errors stripped of their URL (the URL
//! never contains the key either, but the rule is kept twice on purpose).

use std::time::Duration;

/// Which timeout fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// Connecting to the server.
    Connect,
    /// Waiting for the response headers or the first stream event.
    FirstByte,
    /// Silence between two stream events.
    Idle,
    /// The whole call (all attempts and the waits between them) took longer than
    /// `Timeouts::total`. Not retried.
    Total,
}

impl std::fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutKind::Connect => "connect",
            TimeoutKind::FirstByte => "first-byte",
            TimeoutKind::Idle => "idle",
            TimeoutKind::Total => "total",
        })
    }
}

/// What went wrong talking to a provider.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// 401/403: the key is missing, wrong or lacks access.
    #[error("{provider}: authentication failed (HTTP {status}): {message}; {}",
        match env_var {
            Some(v) => format!("check the API key (env var {v})"),
            None => "this provider is configured without a key; configure one if the server requires it".to_owned(),
        })]
    Auth {
        /// Provider name.
        provider: &'static str,
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
        /// Where the key is configured; `None` for a provider configured to need no
        /// key.
        env_var: Option<String>,
    },
    /// The server could not be reached at all: connection refused or the host name
    /// does not resolve. Not retried — a wrong `base_url` or a local server that is
    /// not running does not fix itself within a retry budget.
    #[error(
        "{provider}: cannot reach {url}: {message}; check the base URL, or start the server if it is a local one"
    )]
    Unreachable {
        /// Provider name.
        provider: &'static str,
        /// The base URL tried (never holds a key: keys only travel in headers).
        url: String,
        /// What failed (refused / DNS), from the OS.
        message: String,
    },
    /// 429 after the retry budget was spent (or a `Retry-After` beyond the budget).
    #[error("{provider}: rate limited (HTTP 429) after {attempts} attempt(s){}: {message}",
        retry_after.map(|d| format!(", server asked to wait {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// Provider name.
        provider: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The last `Retry-After`, if any.
        retry_after: Option<Duration>,
        /// The provider's message.
        message: String,
    },
    /// 400/404/422 and similar: the request is wrong; retrying will not help.
    #[error("{provider}: bad request (HTTP {status}): {message}")]
    BadRequest {
        /// Provider name.
        provider: &'static str,
        /// HTTP status.
        status: u16,
        /// The provider's message, verbatim.
        message: String,
    },
    /// The conversation no longer fits the model's context window; compact it.
    #[error("{provider}: context too long: {message}; compact the conversation")]
    ContextTooLong {
        /// Provider name.
        provider: &'static str,
        /// The provider's message.
        message: String,
    },
    /// 5xx/529 or an in-stream "overloaded" error, after the retry budget was spent.
    #[error(
        "{provider}: overloaded or failing (HTTP {status}) after {attempts} attempt(s): {message}"
    )]
    Overloaded {
        /// Provider name.
        provider: &'static str,
        /// HTTP status (0 for an in-stream error).
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The provider's message.
        message: String,
    },
    /// Connection refused/reset, or the stream ended before the provider said it was done.
    #[error("{provider}: network error after {attempts} attempt(s): {message}")]
    Network {
        /// Provider name.
        provider: &'static str,
        /// Attempts made.
        attempts: u32,
        /// What failed.
        message: String,
    },
    /// A timeout fired (after retries).
    #[error("{provider}: {which} timeout after {attempts} attempt(s) ({}ms); raise Timeouts::{which} if the provider is just slow",
        after.as_millis())]
    Timeout {
        /// Provider name.
        provider: &'static str,
        /// Which timeout.
        which: TimeoutKind,
        /// Its configured length.
        after: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// The response grew past `Limits::max_response_bytes` (the model or server is
    /// producing endless output). Not retried: the same request would most likely run
    /// away again, and every attempt is billed.
    #[error(
        "{provider}: response too large: more than {limit} bytes received; the stream was stopped (raise Limits::max_response_bytes / max_response_bytes if the answer is legitimately this long)"
    )]
    ResponseTooLarge {
        /// Provider name.
        provider: &'static str,
        /// The configured limit in bytes.
        limit: u64,
    },
    /// The caller cancelled.
    #[error("request cancelled")]
    Cancelled,
    /// The provider sent something this layer cannot interpret.
    #[error("{provider}: protocol error: {message}")]
    Protocol {
        /// Provider name.
        provider: &'static str,
        /// What was wrong.
        message: String,
    },
}

impl LlmError {
    /// True for the errors a retry may cure. Not [`LlmError::ResponseTooLarge`] nor a
    /// [`TimeoutKind::Total`] timeout: those are the bounds of the whole call.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Timeout { which, .. } => *which != TimeoutKind::Total,
            LlmError::RateLimited { .. }
            | LlmError::Overloaded { .. }
            | LlmError::Network { .. } => true,
            _ => false,
        }
    }

    /// True for the errors that only the user's configuration can fix: a missing or
    /// rejected key ([`LlmError::Auth`]), an unreachable server
    /// ([`LlmError::Unreachable`]), or a 404 / unknown-model answer (wrong base URL
    /// path or model id). None of them is retried. `pod run` maps them to exit code 3.
    pub fn is_config_or_auth(&self) -> bool {
        match self {
            LlmError::Auth { .. } | LlmError::Unreachable { .. } => true,
            LlmError::BadRequest {
                status, message, ..
            } => *status == 404 || looks_like_unknown_model(message),
            _ => false,
        }
    }

    /// Sets the attempt count on the variants that carry one.
    pub(crate) fn with_attempts(mut self, n: u32) -> LlmError {
        match &mut self {
            LlmError::RateLimited { attempts, .. }
            | LlmError::Overloaded { attempts, .. }
            | LlmError::Network { attempts, .. }
            | LlmError::Timeout { attempts, .. } => *attempts = n,
            _ => {}
        }
        self
    }
}

/// Heuristic for "prompt too long" across dialects (they all report it as a 400 with
/// different wording).
pub(crate) fn looks_like_context_overflow(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("context_length_exceeded")
        || m.contains("context length")
        || m.contains("context window")
        || m.contains("prompt is too long")
        || m.contains("maximum context")
        || m.contains("too many tokens")
        || (m.contains("input token count") && m.contains("exceeds"))
}

/// Heuristic for "no such model" in a 400/422 body (OpenAI answers 404
/// `model_not_found`; several compatible servers answer 400 with prose).
fn looks_like_unknown_model(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("model_not_found")
        || (m.contains("model")
            && (m.contains("not found") || m.contains("does not exist") || m.contains("not exist")))
}

/// True when a transport error chain says the server was not there at all: the
/// connection was refused, or the host name did not resolve. Such errors are
/// configuration problems (wrong URL, local server not started), not transient ones.
/// hyper-util reports DNS failures as a `ConnectError` whose text is "dns error"
/// wrapping the resolver's io error; refusals carry `io::ErrorKind::ConnectionRefused`.
pub(crate) fn is_unreachable(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        let text = e.to_string().to_ascii_lowercase();
        if text.starts_with("dns error") || text.contains("failed to lookup address") {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Classifies an HTTP error status and its body.
pub(crate) fn from_status(
    provider: &'static str,
    env_var: Option<&str>,
    status: u16,
    body: &str,
    retry_after: Option<Duration>,
) -> LlmError {
    let message = provider_message(body);
    match status {
        401 | 403 => LlmError::Auth {
            provider,
            status,
            message,
            env_var: env_var.map(str::to_owned),
        },
        429 => LlmError::RateLimited {
            provider,
            attempts: 1,
            retry_after,
            message,
        },
        408 => LlmError::Timeout {
            provider,
            which: TimeoutKind::FirstByte,
            after: Duration::ZERO,
            attempts: 1,
        },
        500..=599 => LlmError::Overloaded {
            provider,
            status,
            attempts: 1,
            message,
        },
        _ if looks_like_context_overflow(&message) => {
            LlmError::ContextTooLong { provider, message }
        }
        _ => LlmError::BadRequest {
            provider,
            status,
            message,
        },
    }
}

/// Pulls the human message out of a provider error body (`{"error":{"message":..}}`,
/// `{"error":"..."}`, `{"message":..}`, Gemini's `[{"error":..}]`), falling back to the
/// body text, truncated so a huge HTML page does not flood the log.
pub(crate) fn provider_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let v = match v {
                serde_json::Value::Array(mut a) if !a.is_empty() => a.swap_remove(0),
                v => v,
            };
            let e = v.get("error").unwrap_or(&v);
            e.get("message")
                .and_then(|m| m.as_str())
                .or_else(|| e.as_str())
                .map(str::to_owned)
        });
    let mut msg = from_json.unwrap_or_else(|| body.trim().to_owned());
    if msg.len() > 2000 {
        let mut cut = 2000;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
        msg.push_str("...");
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_messages_are_extracted_from_every_shape() {
        assert_eq!(
            provider_message(r#"{"error":{"message":"bad model","type":"x"}}"#),
            "bad model"
        );
        assert_eq!(
            provider_message(
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too big"}}"#
            ),
            "max_tokens: too big"
        );
        assert_eq!(
            provider_message(r#"[{"error":{"code":400,"message":"gem"}}]"#),
            "gem"
        );
        assert_eq!(provider_message("plain text"), "plain text");
    }

    #[test]
    fn statuses_classify() {
        let e = from_status(
            "openai",
            Some("K"),
            400,
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens"}}"#,
            None,
        );
        assert!(matches!(e, LlmError::ContextTooLong { .. }));
        assert!(matches!(
            from_status("a", Some("K"), 401, "", None),
            LlmError::Auth { .. }
        ));
        assert!(from_status("a", Some("K"), 529, "", None).is_retryable());
        assert!(from_status("a", Some("K"), 408, "", None).is_retryable());
        assert!(!from_status("a", Some("K"), 404, "", None).is_retryable());
    }

    #[test]
    fn config_and_auth_errors_are_told_apart_from_transient_ones() {
        let st = |status, body: &str| from_status("a", Some("K"), status, body, None);
        for (status, body) in [
            (401, ""),
            (403, ""),
            (
                404,
                r#"{"error":{"message":"The model `gpt-9` does not exist","code":"model_not_found"}}"#,
            ),
            (404, "Not Found"),
            (
                400,
                r#"{"error":{"message":"model 'llama9' not found, try pulling it first"}}"#,
            ),
        ] {
            let e = st(status, body);
            assert!(e.is_config_or_auth(), "{status} {e:?}");
            assert!(!e.is_retryable(), "{status} {e:?}");
        }
        for status in [408, 429, 500, 502, 503, 529] {
            let e = st(status, "");
            assert!(!e.is_config_or_auth(), "{status} {e:?}");
            assert!(e.is_retryable(), "{status} {e:?}");
        }
        // A plain bad request is the request's fault, not the configuration's.
        let e = st(400, r#"{"error":{"message":"messages: field required"}}"#);
        assert!(!e.is_config_or_auth() && !e.is_retryable());
        let e = LlmError::Unreachable {
            provider: "ollama",
            url: "http://localhost:11434/v1".into(),
            message: "connection refused".into(),
        };
        assert!(e.is_config_or_auth() && !e.is_retryable());
        assert!(e.to_string().contains("http://localhost:11434/v1"), "{e}");
    }

    #[test]
    fn auth_error_without_key_var_says_so() {
        let e = from_status("ollama", None, 401, "", None);
        assert!(e.to_string().contains("configured without a key"), "{e}");
        let e = from_status("deepseek", Some("DEEPSEEK_API_KEY"), 401, "", None);
        assert!(e.to_string().contains("DEEPSEEK_API_KEY"), "{e}");
    }

    #[derive(Debug)]
    struct Wrap(&'static str, Option<std::io::Error>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Wrap {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_ref().map(|e| e as _)
        }
    }

    #[test]
    fn refused_and_dns_chains_are_unreachable_resets_are_not() {
        use std::io::{Error, ErrorKind};
        let refused = Wrap(
            "tcp connect error",
            Some(Error::from(ErrorKind::ConnectionRefused)),
        );
        assert!(is_unreachable(&refused));
        let dns = Wrap(
            "dns error",
            Some(Error::other(
                "failed to lookup address information: Name or service not known",
            )),
        );
        assert!(is_unreachable(&dns));
        let reset = Wrap(
            "connection error",
            Some(Error::from(ErrorKind::ConnectionReset)),
        );
        assert!(!is_unreachable(&reset));
        let timeout = Wrap("tcp connect error", Some(Error::from(ErrorKind::TimedOut)));
        assert!(!is_unreachable(&timeout));
    }
}
