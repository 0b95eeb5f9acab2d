//! `[mcp_servers.NAME]`: how one server is started and which of its tools are offered.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Seconds a server gets to start and list its tools when the config names none.
/// `npx -y PACKAGE` downloading on first use takes several seconds; Codex's 10 s
/// default is the most reported MCP failure of its users.
pub const DEFAULT_STARTUP_TIMEOUT_SECS: f64 = 30.0;
/// Seconds one tool call may take when the config names none.
pub const DEFAULT_TOOL_TIMEOUT_SECS: f64 = 120.0;
/// Longest server name: `mcp__NAME__` must leave room for the tool's name within
/// the providers' 64-character limit.
pub const MAX_SERVER_NAME: usize = 24;

/// One configured server. Exactly one of `command` (stdio) and `url` (streamable
/// HTTP) is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Program of a stdio server (looked up in `PATH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment set for it (on top of the Pod's, which has provider keys and
    /// pods' own variables removed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Names of variables passed through from the Pod's environment even though the
    /// scrub list would remove them (e.g. `GITHUB_TOKEN`), so secrets need not be
    /// written into config files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_vars: Vec<String>,
    /// Working directory (relative: to the Pod's); default the Pod's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Extra paths the stdio server may read (and execute) beyond the Pod's scope
    /// and the system directories, e.g. where its package is installed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<PathBuf>,
    /// URL of a streamable HTTP server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Environment variable holding a bearer token for `url` (never stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_env_var: Option<String>,
    /// `false` keeps the entry but starts nothing.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// Only these tools are offered (server names, before prefixing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_tools: Option<Vec<String>>,
    /// These tools are never offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disabled_tools: Vec<String>,
    /// Seconds to start and list tools (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_timeout: Option<f64>,
    /// Seconds per tool call (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_timeout: Option<f64>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// What is wrong with a server entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mcp_servers.{server}: {message}")]
pub struct ConfigError {
    /// The entry's name.
    pub server: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ServerConfig {
    /// Checks the entry named `name`; the error says which key and why.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let err = |message: String| {
            Err(ConfigError {
                server: name.to_owned(),
                message,
            })
        };
        if let Err(m) = check_server_name(name) {
            return err(m);
        }
        match (&self.command, &self.url) {
            (Some(_), Some(_)) => {
                return err("set either `command` (stdio) or `url` (HTTP), not both".into());
            }
            (None, None) => {
                return err(
                    "set `command` (a stdio server) or `url` (a streamable HTTP server)".into(),
                );
            }
            (Some(c), None) if c.trim().is_empty() => return err("`command` is empty".into()),
            (None, Some(u)) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                return err(format!("`url` {u:?} must start with http:// or https://"));
            }
            _ => {}
        }
        if self.url.is_some()
            && (!self.args.is_empty()
                || !self.env.is_empty()
                || self.cwd.is_some()
                || !self.read.is_empty())
        {
            return err(
                "`args`, `env`, `cwd` and `read` apply to stdio servers (`command`) only".into(),
            );
        }
        for (key, v) in [
            ("startup_timeout", self.startup_timeout),
            ("tool_timeout", self.tool_timeout),
        ] {
            if let Some(s) = v
                && !(s.is_finite() && s > 0.0 && s <= 86_400.0)
            {
                return err(format!(
                    "`{key}` must be a number of seconds in (0, 86400], got {s}"
                ));
            }
        }
        Ok(())
    }

    /// Whether it is a stdio server (started and confined by the Pod).
    pub fn is_stdio(&self) -> bool {
        self.command.is_some()
    }

    /// How long start-up and tool listing may take.
    pub fn startup_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.startup_timeout.unwrap_or(DEFAULT_STARTUP_TIMEOUT_SECS))
    }

    /// How long one tool call may take.
    pub fn tool_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.tool_timeout.unwrap_or(DEFAULT_TOOL_TIMEOUT_SECS))
    }

    /// Whether the server's tool `tool` is offered.
    pub fn offers(&self, tool: &str) -> bool {
        self.enabled_tools
            .as_ref()
            .is_none_or(|only| only.iter().any(|t| t == tool))
            && !self.disabled_tools.iter().any(|t| t == tool)
    }
}

/// Server names become part of tool names (`mcp__NAME__TOOL`): ASCII letters,
/// digits, `-` and `_`, no `__` (the separator), at most [`MAX_SERVER_NAME`].
pub fn check_server_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if name.is_empty() || name.len() > MAX_SERVER_NAME || !ok_chars || name.contains("__") {
        return Err(format!(
            "server name {name:?} is invalid: use 1-{MAX_SERVER_NAME} ASCII letters, digits, '-' or '_' (no \"__\")"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stdio() -> ServerConfig {
        ServerConfig {
            command: Some("srv".into()),
            enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn entries_are_checked_with_the_key_named() {
        assert!(stdio().validate("fs").is_ok());
        let both = ServerConfig {
            url: Some("http://x".into()),
            ..stdio()
        };
        assert!(
            both.validate("fs")
                .unwrap_err()
                .to_string()
                .contains("not both")
        );
        let neither = ServerConfig::default();
        assert!(neither.validate("fs").is_err());
        let bad_url = ServerConfig {
            url: Some("ftp://x".into()),
            ..Default::default()
        };
        assert!(
            bad_url
                .validate("x")
                .unwrap_err()
                .message
                .contains("http://")
        );
        let slow = ServerConfig {
            tool_timeout: Some(0.0),
            ..stdio()
        };
        assert!(
            slow.validate("x")
                .unwrap_err()
                .message
                .contains("tool_timeout")
        );
        for bad in ["", "a__b", "a.b", "x".repeat(25).as_str()] {
            assert!(stdio().validate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn enabled_and_disabled_lists_filter_tools() {
        let mut c = stdio();
        assert!(c.offers("a"));
        c.enabled_tools = Some(vec!["a".into(), "b".into()]);
        c.disabled_tools = vec!["b".into()];
        assert!(c.offers("a") && !c.offers("b") && !c.offers("c"));
    }

    #[test]
    fn toml_integers_and_defaults_parse() {
        let c: ServerConfig =
            toml_like(r#"{"command":"x","startup_timeout":5,"tool_timeout":1.5}"#);
        assert_eq!(c.startup_timeout(), Duration::from_secs(5));
        assert_eq!(c.tool_timeout(), Duration::from_millis(1500));
        assert!(c.enabled);
    }

    fn toml_like(json: &str) -> ServerConfig {
        serde_json::from_str(json).unwrap()
    }
}
