//! Removing configured secrets (the API key, extra header values) from provider text
//! before it becomes part of an error, a retry note or a log line.
//!
//! Providers echo keys ("Incorrect API key provided: sk-…"), proxies echo headers, and
//! a base URL may carry a key as a query parameter. Names alone are not enough: the
//! *value* is searched for. A message that was cut in the middle of a key (our own
//! 2000-character limit, the 200-character excerpt of a bad event) still holds a
//! prefix of it, so a run that matches at least the key's first [`MIN_SECRET`] bytes is
//! redacted too, wherever it stops.

use crate::error::LlmError;

/// Secrets shorter than this are not searched for: they are placeholders such as
/// `ollama` or `none` that keyless local servers are given, and replacing every
/// occurrence of such a word would garble messages without protecting anything.
/// Real provider keys are 30 characters and more.
pub(crate) const MIN_SECRET: usize = 8;

/// What replaces a secret.
pub(crate) const REDACTED: &str = "[redacted]";

/// The secret values of one provider configuration.
#[derive(Debug, Clone, Default)]
pub(crate) struct Secrets(Vec<String>);

impl Secrets {
    /// Collects the secrets worth searching for (see [`MIN_SECRET`]).
    pub(crate) fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Secrets {
        let mut v: Vec<String> = values
            .into_iter()
            .map(str::trim)
            .filter(|s| s.len() >= MIN_SECRET)
            .map(str::to_owned)
            .collect();
        // Longest first, so a secret containing another is removed whole.
        v.sort_by_key(|s| std::cmp::Reverse(s.len()));
        v.dedup();
        Secrets(v)
    }

    /// `text` with every secret, and every cut-off prefix of one, replaced.
    pub(crate) fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.0 {
            out = redact_one(&out, s);
        }
        out
    }

    /// `err` with every string it carries redacted.
    pub(crate) fn error(&self, err: LlmError) -> LlmError {
        if self.0.is_empty() {
            return err;
        }
        let r = |m: String| self.text(&m);
        match err {
            LlmError::Auth {
                provider,
                status,
                message,
                env_var,
            } => LlmError::Auth {
                provider,
                status,
                message: r(message),
                env_var,
            },
            LlmError::Unreachable {
                provider,
                url,
                message,
            } => LlmError::Unreachable {
                provider,
                url: r(url),
                message: r(message),
            },
            LlmError::RateLimited {
                provider,
                attempts,
                retry_after,
                message,
            } => LlmError::RateLimited {
                provider,
                attempts,
                retry_after,
                message: r(message),
            },
            LlmError::BadRequest {
                provider,
                status,
                message,
            } => LlmError::BadRequest {
                provider,
                status,
                message: r(message),
            },
            LlmError::ContextTooLong { provider, message } => LlmError::ContextTooLong {
                provider,
                message: r(message),
            },
            LlmError::Overloaded {
                provider,
                status,
                attempts,
                message,
            } => LlmError::Overloaded {
                provider,
                status,
                attempts,
                message: r(message),
            },
            LlmError::Network {
                provider,
                attempts,
                message,
            } => LlmError::Network {
                provider,
                attempts,
                message: r(message),
            },
            LlmError::Protocol { provider, message } => LlmError::Protocol {
                provider,
                message: r(message),
            },
            e @ (LlmError::Timeout { .. }
            | LlmError::Cancelled
            | LlmError::ResponseTooLarge { .. }) => e,
        }
    }
}

/// Replaces each run of `text` that equals `secret` from its start for at least
/// `MIN_SECRET` bytes (or all of it, if shorter).
fn redact_one(text: &str, secret: &str) -> String {
    let probe_len = (MIN_SECRET..=secret.len())
        .find(|l| secret.is_char_boundary(*l))
        .unwrap_or(secret.len());
    let probe = &secret[..probe_len];
    let (t, s) = (text.as_bytes(), secret.as_bytes());
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(at) = text[from..].find(probe).map(|i| from + i) {
        let mut end = at + probe_len;
        while end < t.len() && end - at < s.len() && t[end] == s[end - at] {
            end += 1;
        }
        // `end` may sit inside a multi-byte character only if the secret is not ASCII.
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str(&text[copied..at]);
        out.push_str(REDACTED);
        copied = end;
        from = end.max(at + 1);
        while !text.is_char_boundary(from) {
            from += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-live-abcdefghijklmnop0123456789";

    #[test]
    fn whole_and_cut_off_keys_are_replaced_short_placeholders_are_not() {
        let s = Secrets::new([KEY, "ollama", ""]);
        assert_eq!(
            s.text(&format!("Incorrect API key provided: {KEY}. See docs.")),
            "Incorrect API key provided: [redacted]. See docs."
        );
        assert_eq!(s.text(&format!("{KEY}{KEY}")), "[redacted][redacted]");
        // Cut by a length limit: the prefix goes too.
        assert_eq!(s.text("key=sk-live-abcdefg..."), "key=[redacted]...");
        // Fewer than MIN_SECRET matching bytes is not the key.
        assert_eq!(s.text("sk-live is a prefix"), "sk-live is a prefix");
        assert_eq!(s.text("ollama is fine"), "ollama is fine");
        assert_eq!(s.text("naïve ünïcode"), "naïve ünïcode");
    }

    #[test]
    fn every_message_of_an_error_is_redacted() {
        let s = Secrets::new([KEY]);
        let e = s.error(LlmError::Unreachable {
            provider: "x",
            url: format!("http://h/v1?api-key={KEY}"),
            message: KEY.into(),
        });
        let text = format!("{e} {e:?}");
        assert!(!text.contains("abcdefghijkl"), "{text}");
        let e = s.error(LlmError::Auth {
            provider: "x",
            status: 401,
            message: format!("bad {KEY}"),
            env_var: Some("K".into()),
        });
        assert!(e.to_string().contains("bad [redacted]"), "{e}");
    }
}
