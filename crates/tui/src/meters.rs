//! The meters: how full a Pod's context is, what it cost, how long it runs.
//!
//! Money comes only from a price table the user configured (`[prices]` in
//! config.toml): prices change and differ per contract, so a built-in table would
//! be wrong sooner or later. Without a price the meter shows tokens.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use transcript::Usage;

/// Price of one model in money per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Uncached input.
    #[serde(default)]
    pub input: f64,
    /// Output (reasoning included).
    #[serde(default)]
    pub output: f64,
    /// Cache reads (default: the input price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    /// Cache writes (default: the input price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
}

impl Price {
    /// The cost of `u`.
    pub fn cost(&self, u: &Usage) -> f64 {
        let m = 1e6;
        (u.input_tokens as f64 * self.input
            + u.output_tokens as f64 * self.output
            + u.cache_read_tokens as f64 * self.cache_read.unwrap_or(self.input)
            + u.cache_write_tokens as f64 * self.cache_write.unwrap_or(self.input))
            / m
    }
}

/// What the meters need beyond a Pod's status.
#[derive(Debug, Clone, Default)]
pub struct Meters {
    /// Model id (or a prefix of ids) → price.
    pub prices: BTreeMap<String, Price>,
    /// Currency symbol shown before amounts.
    pub currency: String,
    /// The clock for elapsed times (`None`: the real one; tests fix it).
    pub now: Option<Instant>,
}

/// Context windows of well-known model families, used when the Pod does not
/// report its configured window.
fn known_window(model: &str) -> Option<u64> {
    let id = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    let table: &[(&str, u64)] = &[
        ("claude", 200_000),
        ("gpt-4.1", 1_000_000),
        ("gpt-4o", 128_000),
        ("gpt-5", 400_000),
        ("o3", 200_000),
        ("o4", 200_000),
        ("gemini", 1_000_000),
        ("deepseek", 128_000),
    ];
    table
        .iter()
        .filter(|(p, _)| id.starts_with(p))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, w)| *w)
}

/// The prompt size of a usage report: every input token the model read, cached
/// or not. The turn separator and the status line both show this figure.
pub fn input_total(u: &Usage) -> u64 {
    u.input_tokens + u.cache_read_tokens + u.cache_write_tokens
}

impl Meters {
    /// The price of `model`: an exact entry, else the longest prefix entry.
    pub fn price(&self, model: &str) -> Option<&Price> {
        if let Some(p) = self.prices.get(model) {
            return Some(p);
        }
        let id = model.rsplit('/').next().unwrap_or(model);
        self.prices
            .iter()
            .filter(|(k, _)| model.starts_with(k.as_str()) || id.starts_with(k.as_str()))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, p)| p)
    }

    /// `$0.42`, or `None` without a price for the model.
    pub fn cost(&self, model: &str, u: &Usage) -> Option<f64> {
        self.price(model).map(|p| p.cost(u))
    }

    /// An amount with the configured currency.
    pub fn money(&self, amount: f64) -> String {
        let cur = if self.currency.is_empty() {
            "$"
        } else {
            &self.currency
        };
        if amount < 0.995 {
            format!("{cur}{amount:.3}")
        } else {
            format!("{cur}{amount:.2}")
        }
    }

    /// The context window: the Pod's configured one, else the model's known one.
    pub fn window(&self, reported: Option<u64>, model: &str) -> Option<u64> {
        reported.filter(|&w| w > 0).or_else(|| known_window(model))
    }

    /// The clock.
    pub fn now(&self) -> Instant {
        self.now.unwrap_or_else(Instant::now)
    }
}

/// `ctx 9.2k/200k · 5% used`, or `ctx 9.2k` when the window is unknown.
pub fn context_label(used: u64, window: Option<u64>) -> String {
    let t = crate::ui::tokens;
    match window {
        Some(w) => {
            let pct = (used as f64 * 100.0 / w as f64).round().min(999.0) as u64;
            format!(
                "ctx {}/{} {pct}% · {}% left",
                t(used),
                t(w),
                100u64.saturating_sub(pct)
            )
        }
        None => format!("ctx {} (window unknown)", t(used)),
    }
}

/// `12s`, `3m05s`, `1h02m`.
pub fn elapsed(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs / 60) % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_match_by_longest_prefix_and_cost_per_million() {
        let mut m = Meters::default();
        m.prices.insert(
            "claude".into(),
            Price {
                input: 3.0,
                output: 15.0,
                cache_read: Some(0.3),
                cache_write: None,
            },
        );
        m.prices.insert(
            "claude-opus".into(),
            Price {
                input: 15.0,
                output: 75.0,
                ..Default::default()
            },
        );
        let u = Usage {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
            cache_read_tokens: 1_000_000,
            ..Default::default()
        };
        assert_eq!(m.cost("claude-sonnet-4", &u), Some(3.0 + 1.5 + 0.3));
        assert_eq!(
            m.cost("anthropic/claude-opus-4", &u),
            Some(15.0 + 7.5 + 15.0)
        );
        assert_eq!(m.cost("gpt-5", &u), None);
        assert_eq!(m.money(4.8), "$4.80");
        assert_eq!(m.money(0.0421), "$0.042");
    }

    #[test]
    fn context_is_shown_in_percent_of_the_window() {
        let m = Meters::default();
        assert_eq!(m.window(Some(32_000), "claude-x"), Some(32_000));
        assert_eq!(m.window(None, "claude-x"), Some(200_000));
        assert_eq!(m.window(None, "local"), None);
        assert_eq!(
            context_label(50_000, Some(200_000)),
            "ctx 50k/200k 25% · 75% left"
        );
        assert_eq!(context_label(900, None), "ctx 900 (window unknown)");
        assert_eq!(elapsed(125), "2m05s");
    }
}
