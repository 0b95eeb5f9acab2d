//! Named provider presets: the services pods knows by name, each with its dialect,
//! public base URL, conventional key variable and reasoning round-trip rule.
//!
//! A preset is the only place a service's base URL comes from. Looking up an unknown
//! name is an error with a suggestion — it never falls back to another service's URL
//! (a typo in `opnai` must not send a DeepSeek key to api.openai.com).
//!
//! Not a preset: **Azure OpenAI**. Its URL embeds the customer's resource name
//! (`https://{resource}.openai.azure.com/openai/v1`), so there is no fixed base URL to
//! ship; configure it as `openai` with an explicit `base_url` (and the key in an
//! `api-key` extra header, or Bearer auth with the v1 API).

use serde::{Deserialize, Serialize};

use crate::config::ProviderKind;

/// How a service wants earlier reasoning sent back on the next request of a tool loop
/// (OpenAI Chat dialect only; the other dialects have one fixed rule each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningEcho {
    /// Reasoning is never sent back (plain OpenAI Chat and most compatible servers).
    #[default]
    None,
    /// The assistant message that carries tool calls gets a `reasoning_content` field
    /// with the reasoning text that preceded them. DeepSeek thinking mode and Kimi
    /// reject the next request of a tool loop with 400 without it.
    ReasoningContent,
    /// The assistant message gets `reasoning_details` exactly as streamed (text,
    /// summary and encrypted entries, in order, with their ids/index/format). OpenRouter
    /// needs this for Gemini thought signatures and Anthropic thinking signatures.
    ReasoningDetails,
}

impl ReasoningEcho {
    /// The config spelling (`none`, `reasoning_content`, `reasoning_details`).
    pub fn name(self) -> &'static str {
        match self {
            ReasoningEcho::None => "none",
            ReasoningEcho::ReasoningContent => "reasoning_content",
            ReasoningEcho::ReasoningDetails => "reasoning_details",
        }
    }

    /// Inverse of [`ReasoningEcho::name`].
    pub fn parse(name: &str) -> Option<ReasoningEcho> {
        [
            ReasoningEcho::None,
            ReasoningEcho::ReasoningContent,
            ReasoningEcho::ReasoningDetails,
        ]
        .into_iter()
        .find(|e| e.name() == name)
    }
}

/// One named service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// The name used in configs (`openai`, `deepseek`, `ollama`, ...).
    pub name: &'static str,
    /// Wire dialect.
    pub kind: ProviderKind,
    /// Public (or conventional local) base URL, following the dialect's convention.
    pub base_url: &'static str,
    /// Environment variable the key is conventionally read from; `None` for a local
    /// server that needs no key.
    pub key_env_var: Option<&'static str>,
    /// How reasoning goes back to this service.
    pub reasoning_echo: ReasoningEcho,
}

const fn chat(
    name: &'static str,
    base_url: &'static str,
    key_env_var: Option<&'static str>,
    reasoning_echo: ReasoningEcho,
) -> Preset {
    Preset {
        name,
        kind: ProviderKind::OpenAiChat,
        base_url,
        key_env_var,
        reasoning_echo,
    }
}

// Base URLs and key variables are the ones each service documents for its
// OpenAI-compatible endpoint (checked Dec 2026); the local servers' are their default
// ports. The reasoning rules are from DeepSeek's "Thinking Mode" guide, Moonshot's
// tool-calling docs and OpenRouter's "Reasoning Tokens" page (see the crate README).
static PRESETS: &[Preset] = &[
    chat(
        "openai",
        "https://api.openai.com/v1",
        Some("OPENAI_API_KEY"),
        ReasoningEcho::None,
    ),
    Preset {
        name: "anthropic",
        kind: ProviderKind::Anthropic,
        base_url: "https://api.anthropic.com",
        key_env_var: Some("ANTHROPIC_API_KEY"),
        reasoning_echo: ReasoningEcho::None,
    },
    Preset {
        name: "responses",
        kind: ProviderKind::OpenAiResponses,
        base_url: "https://api.openai.com/v1",
        key_env_var: Some("OPENAI_API_KEY"),
        reasoning_echo: ReasoningEcho::None,
    },
    Preset {
        name: "gemini",
        kind: ProviderKind::Gemini,
        base_url: "https://generativelanguage.googleapis.com/v1beta",
        key_env_var: Some("GEMINI_API_KEY"),
        reasoning_echo: ReasoningEcho::None,
    },
    chat(
        "openrouter",
        "https://openrouter.ai/api/v1",
        Some("OPENROUTER_API_KEY"),
        ReasoningEcho::ReasoningDetails,
    ),
    chat(
        "deepseek",
        "https://api.deepseek.com",
        Some("DEEPSEEK_API_KEY"),
        ReasoningEcho::ReasoningContent,
    ),
    chat(
        "moonshot",
        "https://api.moonshot.ai/v1",
        Some("MOONSHOT_API_KEY"),
        ReasoningEcho::ReasoningContent,
    ),
    // Kimi is Moonshot's model family; people configure it under either name.
    chat(
        "kimi",
        "https://api.moonshot.ai/v1",
        Some("MOONSHOT_API_KEY"),
        ReasoningEcho::ReasoningContent,
    ),
    chat(
        "groq",
        "https://api.groq.com/openai/v1",
        Some("GROQ_API_KEY"),
        ReasoningEcho::None,
    ),
    chat(
        "mistral",
        "https://api.mistral.ai/v1",
        Some("MISTRAL_API_KEY"),
        ReasoningEcho::None,
    ),
    chat(
        "xai",
        "https://api.x.ai/v1",
        Some("XAI_API_KEY"),
        ReasoningEcho::None,
    ),
    chat(
        "together",
        "https://api.together.xyz/v1",
        Some("TOGETHER_API_KEY"),
        ReasoningEcho::None,
    ),
    chat(
        "fireworks",
        "https://api.fireworks.ai/inference/v1",
        Some("FIREWORKS_API_KEY"),
        ReasoningEcho::None,
    ),
    chat(
        "ollama",
        "http://localhost:11434/v1",
        None,
        ReasoningEcho::None,
    ),
    chat(
        "llamacpp",
        "http://localhost:8080/v1",
        None,
        ReasoningEcho::None,
    ),
    chat(
        "vllm",
        "http://localhost:8000/v1",
        None,
        ReasoningEcho::None,
    ),
    chat(
        "lmstudio",
        "http://localhost:1234/v1",
        None,
        ReasoningEcho::None,
    ),
];

/// A provider name that is not a preset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider \"{name}\"{} known: {}",
    suggestion.map(|s| format!(" — did you mean \"{s}\"?")).unwrap_or_else(|| ";".to_owned()),
    Preset::all().iter().map(|p| p.name).collect::<Vec<_>>().join(", "))]
pub struct UnknownProvider {
    /// What was asked for.
    pub name: String,
    /// The closest known name, when it is close enough to be a likely typo.
    pub suggestion: Option<&'static str>,
}

impl Preset {
    /// Every preset, in a stable order (the first-party dialects first).
    pub fn all() -> &'static [Preset] {
        PRESETS
    }

    /// The preset called `name` (exact, case-sensitive: config names are lowercase).
    pub fn lookup(name: &str) -> Result<&'static Preset, UnknownProvider> {
        if let Some(p) = PRESETS.iter().find(|p| p.name == name) {
            return Ok(p);
        }
        Err(UnknownProvider {
            name: name.to_owned(),
            suggestion: closest(name),
        })
    }
}

/// The nearest preset name by edit distance, if near enough to be a typo: at most
/// two edits, and fewer than half the name (so `xyz` does not suggest `xai`).
/// A case-only difference (`OpenAI`) always qualifies.
fn closest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    PRESETS
        .iter()
        .map(|p| (strsim::damerau_levenshtein(&lower, p.name), p.name))
        .filter(|(d, known)| *d <= 2 && *d * 2 < known.len().max(lower.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, known)| known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_unique_and_resolves_to_itself() {
        for p in Preset::all() {
            assert_eq!(Preset::lookup(p.name).unwrap(), p);
            assert_eq!(
                Preset::all().iter().filter(|q| q.name == p.name).count(),
                1,
                "{}",
                p.name
            );
        }
    }

    #[test]
    fn presets_never_point_at_another_service() {
        for p in Preset::all() {
            let openai_host = p.base_url.starts_with("https://api.openai.com");
            assert_eq!(
                openai_host,
                p.name == "openai" || p.name == "responses",
                "{} -> {}",
                p.name,
                p.base_url
            );
            // Remote services need a key; the local servers need none.
            assert_eq!(
                p.key_env_var.is_none(),
                p.base_url.starts_with("http://localhost"),
                "{}",
                p.name
            );
        }
    }

    #[test]
    fn reasoning_rules_per_service() {
        let echo = |n| Preset::lookup(n).unwrap().reasoning_echo;
        assert_eq!(echo("deepseek"), ReasoningEcho::ReasoningContent);
        assert_eq!(echo("kimi"), ReasoningEcho::ReasoningContent);
        assert_eq!(echo("moonshot"), ReasoningEcho::ReasoningContent);
        assert_eq!(echo("openrouter"), ReasoningEcho::ReasoningDetails);
        assert_eq!(echo("openai"), ReasoningEcho::None);
        assert_eq!(echo("ollama"), ReasoningEcho::None);
    }

    #[test]
    fn typo_gets_a_suggestion_and_the_list() {
        let e = Preset::lookup("opnai").unwrap_err();
        assert_eq!(e.suggestion, Some("openai"));
        let msg = e.to_string();
        assert!(
            msg.starts_with("unknown provider \"opnai\" — did you mean \"openai\"? known: openai, anthropic, responses, gemini, openrouter"),
            "{msg}"
        );
        assert_eq!(
            Preset::lookup("deepsek").unwrap_err().suggestion,
            Some("deepseek")
        );
        assert_eq!(
            Preset::lookup("OpenRouter").unwrap_err().suggestion,
            Some("openrouter")
        );
        assert_eq!(
            Preset::lookup("llama.cpp").unwrap_err().suggestion,
            Some("llamacpp")
        );
    }

    #[test]
    fn far_names_get_no_suggestion() {
        for far in ["xyz", "bedrock", "", "a"] {
            let e = Preset::lookup(far).unwrap_err();
            assert_eq!(e.suggestion, None, "{far}");
            assert!(!e.to_string().contains("did you mean"), "{e}");
        }
    }

    #[test]
    fn echo_has_config_names() {
        for e in [
            ReasoningEcho::None,
            ReasoningEcho::ReasoningContent,
            ReasoningEcho::ReasoningDetails,
        ] {
            assert_eq!(ReasoningEcho::parse(e.name()), Some(e));
            assert_eq!(
                serde_json::to_value(e).unwrap(),
                serde_json::json!(e.name())
            );
            let back: ReasoningEcho = serde_json::from_value(serde_json::json!(e.name())).unwrap();
            assert_eq!(back, e);
        }
        assert_eq!(ReasoningEcho::parse("reasoning"), None);
    }
}
