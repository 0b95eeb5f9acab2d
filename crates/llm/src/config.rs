//! Provider configuration: which dialect, where, with which key, and the reliability knobs.

use std::fmt;
use std::time::Duration;

use crate::preset::{Preset, ReasoningEcho};

/// The wire dialect a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// OpenAI Chat Completions (`POST {base}/chat/completions`); also Ollama, vLLM,
    /// llama.cpp server, LM Studio, OpenRouter. Base URL convention: `http://HOST/v1`.
    OpenAiChat,
    /// Anthropic Messages (`POST {base}/v1/messages`). Base URL convention: `http://HOST`.
    Anthropic,
    /// OpenAI Responses (`POST {base}/responses`). Base URL convention: `http://HOST/v1`.
    OpenAiResponses,
    /// Gemini `streamGenerateContent` (`POST {base}/models/{model}:streamGenerateContent?alt=sse`).
    /// Base URL convention: `http://HOST/v1beta`.
    Gemini,
}

impl ProviderKind {
    /// Parses the names used in configs and session logs (`openai`, `anthropic`,
    /// `responses`, `gemini`, plus a few aliases) into a dialect only.
    ///
    /// The dialect says nothing about *where* a service is: `openrouter` parses to
    /// [`ProviderKind::OpenAiChat`], whose [`ProviderKind::default_base_url`] is
    /// api.openai.com. To resolve a service name to its URL, key variable and
    /// reasoning rule use [`Preset::lookup`].
    pub fn parse(name: &str) -> Option<ProviderKind> {
        match name {
            "openai" | "openai-chat" | "chat" | "ollama" | "vllm" | "llamacpp" | "lmstudio"
            | "openrouter" => Some(ProviderKind::OpenAiChat),
            "anthropic" => Some(ProviderKind::Anthropic),
            "responses" | "openai-responses" => Some(ProviderKind::OpenAiResponses),
            "gemini" | "google" => Some(ProviderKind::Gemini),
            _ => None,
        }
    }

    /// The canonical name (inverse of [`ProviderKind::parse`]).
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::OpenAiChat => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::OpenAiResponses => "responses",
            ProviderKind::Gemini => "gemini",
        }
    }

    /// The public endpoint used when no base URL is configured.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::OpenAiChat | ProviderKind::OpenAiResponses => "https://api.openai.com/v1",
            ProviderKind::Anthropic => "https://api.anthropic.com",
            ProviderKind::Gemini => "https://generativelanguage.googleapis.com/v1beta",
        }
    }

    /// The environment variable the key is conventionally read from.
    pub fn key_env_var(self) -> &'static str {
        match self {
            ProviderKind::OpenAiChat | ProviderKind::OpenAiResponses => "OPENAI_API_KEY",
            ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
            ProviderKind::Gemini => "GEMINI_API_KEY",
        }
    }
}

/// An API key. Its `Debug` and `Display` print `***`; the only way to the secret is
/// [`ApiKey::expose`], which the transport calls when it sets the auth header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> ApiKey {
        ApiKey(secret.into())
    }

    /// Reads the key from an environment variable; `None` when unset or empty.
    pub fn from_env(var: &str) -> Option<ApiKey> {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .map(ApiKey)
    }

    /// The secret. Call it only to build an auth header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Timeouts: `connect`, `first_byte` and `idle` apply to each attempt, `total` to the
/// whole call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP/TLS connect.
    pub connect: Duration,
    /// From sending the request until the first stream event (headers and first event).
    pub first_byte: Duration,
    /// Longest silence between two stream events once the first has arrived.
    pub idle: Duration,
    /// Deadline of the whole call: every attempt and every wait between attempts. A
    /// stream that never ends but never pauses long enough for `idle` (a trickle, or
    /// pings forever) ends here. Not retried: there is no time left.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            // Reasoning models may think for minutes before the first token on some
            // providers; the providers send pings, which count as events.
            first_byte: Duration::from_secs(120),
            idle: Duration::from_secs(90),
            // One hour: far above a real answer from a hosted model (128k output tokens
            // at 100 tokens/s is about 21 minutes), and still room for a local model on
            // a CPU writing 8k tokens at 3 tokens/s (45 minutes). It is the backstop for
            // streams that trickle forever; raise it for slower local servers.
            total: Duration::from_secs(60 * 60),
        }
    }
}

/// Size limits of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most response body bytes one attempt may receive (SSE framing included, as
    /// counted off the wire). Past it the call fails with
    /// [`LlmError::ResponseTooLarge`](crate::LlmError::ResponseTooLarge), not retried.
    /// Memory held for a call is bounded by this: the text received is kept once for
    /// the final items (plus at most 8 MiB for replay after a retry), and one huge
    /// event is held a few times over while it is decoded.
    pub max_response_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // 128 MiB. The largest real answers are long outputs streamed a token per
            // event: 128k output tokens at ~250 bytes of JSON and SSE per token is
            // ~32 MiB, and OpenAI Responses repeats the whole output in its final event
            // (~2×). 128 MiB leaves room for that, and for one 64 MiB event (issue 19
            // asks that it passes), while an endless stream stops within about a second
            // on a fast link instead of growing the process by gigabytes.
            max_response_bytes: 128 << 20,
        }
    }
}

/// When and how often to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first (1 = never retry).
    pub max_attempts: u32,
    /// First backoff delay; doubles each retry, with jitter.
    pub base_delay: Duration,
    /// Cap on one backoff delay (a longer `Retry-After` is honoured if it fits the budget).
    pub max_delay: Duration,
    /// Total wall-clock budget for all attempts and waits; no retry starts after it.
    pub total_budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            total_budget: Duration::from_secs(300),
        }
    }
}

/// Everything needed to talk to one provider endpoint.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Dialect.
    pub kind: ProviderKind,
    /// Base URL without trailing path (see [`ProviderKind`] for the convention per dialect).
    pub base_url: String,
    /// API key; `None` for local servers that need none.
    pub api_key: Option<ApiKey>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Retries.
    pub retry: RetryPolicy,
    /// Size limits.
    pub limits: Limits,
    /// Extra headers sent with every request (e.g. OpenRouter's `HTTP-Referer`,
    /// Anthropic beta flags, Azure's `api-key`). Values are not logged, and are
    /// redacted from provider errors like the API key.
    pub extra_headers: Vec<(String, String)>,
    /// How earlier reasoning is sent back (OpenAI Chat dialect; ignored by the others,
    /// whose round-trip rule is fixed). Set from the preset, or by config for an
    /// arbitrary compatible server; never guessed from the model name.
    pub reasoning_echo: ReasoningEcho,
    /// The name errors and logs use for this provider (the preset name, or the
    /// dialect name).
    pub name: &'static str,
    /// The variable an auth error tells the user to check (a preset's, or the one the
    /// user configured); `None` when the service needs no key (local servers).
    pub key_env_var: Option<String>,
}

impl ProviderConfig {
    /// A config with default timeouts and retries.
    pub fn new(kind: ProviderKind, base_url: impl Into<String>, api_key: Option<ApiKey>) -> Self {
        ProviderConfig {
            kind,
            base_url: base_url.into(),
            api_key,
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            limits: Limits::default(),
            extra_headers: Vec::new(),
            reasoning_echo: ReasoningEcho::None,
            name: kind.name(),
            key_env_var: Some(kind.key_env_var().to_owned()),
        }
    }

    /// A config for a named service: its dialect, base URL, reasoning rule and key
    /// variable (for error messages); `api_key` as given.
    pub fn from_preset(preset: &Preset, api_key: Option<ApiKey>) -> Self {
        let mut cfg = Self::new(preset.kind, preset.base_url, api_key);
        cfg.reasoning_echo = preset.reasoning_echo;
        cfg.name = preset.name;
        cfg.key_env_var = preset.key_env_var.map(str::to_owned);
        cfg
    }

    /// [`ProviderConfig::from_preset`] with the key read from the preset's variable
    /// (`None` when unset, empty, or the preset needs no key).
    pub fn from_preset_env(preset: &Preset) -> Self {
        Self::from_preset(preset, preset.key_env_var.and_then(ApiKey::from_env))
    }

    /// The public endpoint of `kind` with the key from its conventional environment
    /// variable (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `GEMINI_API_KEY`).
    pub fn from_env(kind: ProviderKind) -> Self {
        Self::new(
            kind,
            kind.default_base_url(),
            ApiKey::from_env(kind.key_env_var()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_masked_in_debug_of_config() {
        let cfg = ProviderConfig::new(
            ProviderKind::Anthropic,
            "http://x",
            Some(ApiKey::new("sk-FAKE-123")),
        );
        let dbg = format!("{cfg:?} {}", cfg.api_key.as_ref().unwrap());
        assert!(!dbg.contains("sk-FAKE-123"), "{dbg}");
        assert!(dbg.contains("***"));
    }

    #[test]
    fn kind_names_round_trip() {
        for k in [
            ProviderKind::OpenAiChat,
            ProviderKind::Anthropic,
            ProviderKind::OpenAiResponses,
            ProviderKind::Gemini,
        ] {
            assert_eq!(ProviderKind::parse(k.name()), Some(k));
        }
        assert_eq!(ProviderKind::parse("nope"), None);
    }

    #[test]
    fn preset_config_carries_url_echo_name_and_key_var() {
        let p = Preset::lookup("deepseek").unwrap();
        let cfg = ProviderConfig::from_preset(p, Some(ApiKey::new("k")));
        assert_eq!(cfg.kind, ProviderKind::OpenAiChat);
        assert_eq!(cfg.base_url, "https://api.deepseek.com");
        assert_eq!(cfg.reasoning_echo, ReasoningEcho::ReasoningContent);
        assert_eq!(cfg.name, "deepseek");
        assert_eq!(cfg.key_env_var.as_deref(), Some("DEEPSEEK_API_KEY"));
        let local = ProviderConfig::from_preset_env(Preset::lookup("ollama").unwrap());
        assert_eq!(local.api_key, None);
        assert_eq!(local.key_env_var, None);
        let plain = ProviderConfig::new(ProviderKind::OpenAiChat, "http://x/v1", None);
        assert_eq!(plain.reasoning_echo, ReasoningEcho::None);
        assert_eq!(plain.name, "openai");
    }
}
