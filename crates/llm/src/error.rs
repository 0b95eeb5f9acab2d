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
}

impl std::fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutKind::Connect => "connect",
            TimeoutKind::FirstByte => "first-byte",
            TimeoutKind::Idle => "idle",
        })
    }
}

/// What went wrong talking to a provider.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// 401/403: the key is missing, wrong or lacks access.
    #[error(
        "{provider}: authentication failed (HTTP {status}): {message}; check the API key (env var {env_var})"
    )]
    Auth {
        /// Provider name.
        provider: &'static str,
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
        /// Where the key is conventionally configured.
        env_var: &'static str,
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
    /// True for the errors a retry may cure.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            LlmError::RateLimited { .. }
                | LlmError::Overloaded { .. }
                | LlmError::Network { .. }
                | LlmError::Timeout { .. }
        )
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

/// Classifies an HTTP error status and its body.
pub(crate) fn from_status(
    provider: &'static str,
    env_var: &'static str,
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
            env_var,
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
            "K",
            400,
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens"}}"#,
            None,
        );
        assert!(matches!(e, LlmError::ContextTooLong { .. }));
        assert!(matches!(
            from_status("a", "K", 401, "", None),
            LlmError::Auth { .. }
        ));
        assert!(from_status("a", "K", 529, "", None).is_retryable());
        assert!(from_status("a", "K", 408, "", None).is_retryable());
        assert!(!from_status("a", "K", 404, "", None).is_retryable());
    }
}
