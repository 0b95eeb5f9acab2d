//! How the agent on top of a Pod is set up, beyond provider and model: reasoning and
//! sampling settings, project-instruction knobs and the context budget. Resolved once
//! by `pod run` (config layers, then flags) into the manifest's [`AgentSettings`],
//! so a restore runs with exactly what the Pod started with.
//!
//! Sampling precedence, field by field: flag › `[models.NAME]` › `[providers.NAME]`
//! › `[defaults]`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use transcript::RequestConfig;

/// Reasoning and sampling settings, each optional (unset = the provider's default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// `low`, `medium` or `high` (OpenAI chat/Responses `reasoning_effort`; providers
    /// that take a budget instead ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Thinking budget in tokens (Anthropic extended thinking, Gemini thinking budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Output token limit per model call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
}

/// Accepted `reasoning_effort` values.
pub const EFFORTS: &[&str] = &["minimal", "low", "medium", "high"];

impl Sampling {
    /// Fields set in `later` replace ours.
    pub fn overlay(&mut self, later: &Sampling) {
        if later.reasoning_effort.is_some() {
            self.reasoning_effort = later.reasoning_effort.clone();
        }
        if later.thinking_budget.is_some() {
            self.thinking_budget = later.thinking_budget;
        }
        if later.temperature.is_some() {
            self.temperature = later.temperature;
        }
        if later.max_output_tokens.is_some() {
            self.max_output_tokens = later.max_output_tokens;
        }
    }

    /// Checks the values; the message names the setting and what is accepted.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(e) = &self.reasoning_effort
            && !EFFORTS.contains(&e.as_str())
        {
            return Err(format!(
                "reasoning_effort = {e:?}: use one of {}",
                EFFORTS.join(", ")
            ));
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(format!("temperature = {t}: use a value from 0 to 2"));
        }
        if self.max_output_tokens == Some(0) {
            return Err("max_output_tokens = 0: use a positive number".into());
        }
        Ok(())
    }

    /// Puts the settings into a request config (what the `llm` layer sends).
    pub fn apply(&self, c: &mut RequestConfig) {
        c.reasoning_effort = self.reasoning_effort.clone();
        c.reasoning_budget = self.thinking_budget;
        c.temperature = self.temperature;
        c.max_output_tokens = self.max_output_tokens;
    }
}

/// Default share of the context window at which a Pod prunes, then compacts.
pub const DEFAULT_COMPACT_AT_PERCENT: u8 = 80;

/// The agent part of a manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentSettings {
    /// Reasoning and sampling (max_output_tokens lives in the manifest itself).
    #[serde(default)]
    pub sampling: Sampling,
    /// Extra instructions from configuration (`defaults.instructions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// `pod run --append-system-prompt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append_system_prompt: Option<String>,
    /// Replaces the built-in guidance (`defaults.system_prompt_file`, absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt_file: Option<PathBuf>,
    /// Context window in tokens (config, else the known window of the model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    /// Prune, then compact, before a request would pass this share of the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact_at_percent: Option<u8>,
}

/// Context windows of common models (tokens), matched by the longest prefix of the
/// model id (after any `vendor/` prefix, as OpenRouter spells them). Overridden by
/// `context_window` in config.
const KNOWN_WINDOWS: &[(&str, u64)] = &[
    ("claude-", 200_000),
    ("claude-sonnet-4", 200_000),
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
    ("gpt-5", 400_000),
    ("o3", 200_000),
    ("o4-mini", 200_000),
    ("gemini-2.5", 1_048_576),
    ("gemini-2.0", 1_048_576),
    ("deepseek-chat", 128_000),
    ("deepseek-reasoner", 128_000),
    ("grok-4", 256_000),
    ("kimi-k2", 131_072),
    ("qwen2.5-coder", 32_768),
    ("qwen3-coder", 262_144),
    ("mistral-large", 128_000),
    ("codestral", 256_000),
];

/// The context window of `model`, when known.
pub fn known_window(model: &str) -> Option<u64> {
    let id = model.rsplit('/').next().unwrap_or(model);
    KNOWN_WINDOWS
        .iter()
        .filter(|(p, _)| id.starts_with(p))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, w)| *w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_layers_win_field_by_field_and_values_are_checked() {
        let mut s = Sampling {
            reasoning_effort: Some("low".into()),
            temperature: Some(0.5),
            ..Default::default()
        };
        s.overlay(&Sampling {
            reasoning_effort: Some("high".into()),
            thinking_budget: Some(2048),
            ..Default::default()
        });
        assert_eq!(s.reasoning_effort.as_deref(), Some("high"));
        assert_eq!(s.temperature, Some(0.5));
        assert_eq!(s.thinking_budget, Some(2048));
        assert!(s.validate().is_ok());
        let bad = Sampling {
            reasoning_effort: Some("max".into()),
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("low, medium, high"));
        let bad = Sampling {
            temperature: Some(3.0),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn windows_by_longest_prefix_with_vendor_prefixes() {
        assert_eq!(known_window("claude-sonnet-4-5"), Some(200_000));
        assert_eq!(known_window("anthropic/claude-sonnet-4.5"), Some(200_000));
        assert_eq!(known_window("gpt-4o-mini"), Some(128_000));
        assert_eq!(known_window("mystery"), None);
    }
}
