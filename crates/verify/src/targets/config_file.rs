//! Config files: arbitrary bytes as the user's `config.toml`, loaded through every
//! layer and resolved to a provider configuration. A file that is not right is
//! `Invalid` naming the file (and the line, for TOML syntax) or, when it is not
//! UTF-8, a read error naming the file.

use std::path::PathBuf;

use pod::config::{Config, ConfigError, FlagOverrides};

use crate::fuzz::Target;

/// A config dir whose `config.toml` each input replaces.
pub struct ConfigFile {
    _dir: tempfile::TempDir,
    config_dir: PathBuf,
    file: PathBuf,
}

impl ConfigFile {
    /// A fresh config dir.
    pub fn new() -> anyhow::Result<ConfigFile> {
        let dir = crate::targets::scratch_dir()?;
        let config_dir = dir.path().join("config");
        std::fs::create_dir_all(&config_dir)?;
        Ok(ConfigFile {
            file: config_dir.join("config.toml"),
            config_dir,
            _dir: dir,
        })
    }
}

const FILES: &[&str] = &[
    r#"[defaults]
provider = "anthropic"
model = "sonnet"
tools = ["read_file", "bash"]
write = ["src", "/tmp/x"]
read = ["/usr/share"]
max_output_tokens = 4096
temperature = 0.2
compact_at_percent = 80
instructions = "be brief"

[providers.local]
kind = "openai"
base_url = "http://127.0.0.1:8080/v1"
api_key_env = ""
idle_timeout_secs = 30
max_attempts = 2
max_response_mb = 16
reasoning_echo = "reasoning_content"
headers = { "x-team" = "pods" }

[models.sonnet]
provider = "anthropic"
model = "claude-sonnet-4-5"
context_window = 200000
thinking_budget = 2048
"#,
    r#"[defaults]
model = "fast"
reasoning_effort = "high"

[models.fast]
provider = "local"
model = "qwen"

[providers.local]
kind = "openai"
base_url = "http://localhost:11434/v1"
"#,
    "",
];

impl Target for ConfigFile {
    fn name(&self) -> &'static str {
        "config-file"
    }

    fn corpus(&self) -> Vec<Vec<u8>> {
        FILES.iter().map(|f| f.as_bytes().to_vec()).collect()
    }

    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            b"[providers.x]\n",
            b"[models.m]\n",
            b"kind = \"gemini\"\n",
            b"= [",
            b"\"\"\"",
            b"1e400",
            b"nan",
            b"\n[defaults]\n",
        ]
    }

    fn accepts(&self, input: &[u8]) -> bool {
        std::fs::write(&self.file, input).is_ok()
            && Config::load(&self.config_dir, None, &FlagOverrides::default())
                .is_ok_and(|c| c.resolve_model(None).is_ok() || FILES[2].as_bytes() == input)
    }

    fn check(&self, input: &[u8], _knob: u64) -> Result<(), String> {
        std::fs::write(&self.file, input).map_err(|e| e.to_string())?;
        match Config::load(&self.config_dir, None, &FlagOverrides::default()) {
            Ok(config) => match config.resolve_model(None) {
                Ok(model) => {
                    let _ = model.settings.provider_config();
                    Ok(())
                }
                Err(ConfigError::Unknown { .. }) => Ok(()),
                Err(e) => Err(format!("unexpected error resolving the model: {e}")),
            },
            Err(ConfigError::Invalid { path, message }) => {
                // Checks across layers (a provider without `kind` after merging) name
                // the key, not one file: the key may be set in any layer.
                let names_key = path.as_os_str() == "<merged>" && message.contains('.');
                if (path != self.file && !names_key) || message.is_empty() {
                    return Err(format!("error does not name the file: {path:?}: {message}"));
                }
                let syntax_error = std::str::from_utf8(input)
                    .map_or(true, |t| toml::from_str::<toml::Table>(t).is_err());
                if syntax_error && !message.contains("line") {
                    return Err(format!("syntax error without a line: {message}"));
                }
                Ok(())
            }
            Err(ConfigError::Read { path, .. })
                if path == self.file && std::str::from_utf8(input).is_err() =>
            {
                Ok(())
            }
            Err(e) => Err(format!("unexpected error: {e} ({e:?})")),
        }
    }
}
