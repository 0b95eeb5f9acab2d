//! Configuration: TOML layered builtin → `{config}/config.toml` → project
//! `.pods/config.toml` → flags (later layers win field by field).
//!
//! The project layer is given only when the user trusts it ([`crate::trust`]), and
//! even then it may not set what only the user may ([`project`]): where the API key
//! goes, confinement, and scope beyond the project.
//!
//! Each file is parsed on its own with unknown keys refused, so an error always names
//! the file and the key (`toml` reports the key and the line). API keys are read from
//! the environment variable the provider names (or an inline `api_key`, discouraged)
//! and never printed: [`llm::ApiKey`] masks itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A configuration problem, naming where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file exists but cannot be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file is not valid TOML or has an unknown or mistyped key.
    #[error("invalid config {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the key and line.
        message: String,
    },
    /// `--provider NAME` names neither a configured provider nor a preset.
    // Not a `source`: the message already says it all, and a chain would repeat it.
    #[error("--provider: {0}")]
    UnknownProviderFlag(llm::UnknownProvider),
    /// A project file sets what only the user's own config or flags may set.
    #[error("project config {path} may not set:\n{}\n(a project file cannot redirect your API key, turn off confinement or reach beyond the project; put such settings in your own config.toml or pass them as flags)", .problems.join("\n"))]
    ProjectOverreach {
        /// The project file.
        path: PathBuf,
        /// One line per key: the key, its value and why.
        problems: Vec<String>,
    },
    /// A name refers to no configured provider or model.
    #[error("{what} {name:?} is not configured{hint}")]
    Unknown {
        /// `provider` or `model`.
        what: &'static str,
        /// The name.
        name: String,
        /// Where to add it / what exists.
        hint: String,
    },
}

/// A project's `.pods/config.toml` as read once (and, when applied, as trusted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectConfig {
    /// The project directory (canonical): the directory holding `.pods/`.
    pub dir: PathBuf,
    /// The file.
    pub path: PathBuf,
    /// Its content.
    pub text: String,
}

/// One file's contents; every field optional so layers can set any subset.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    #[serde(default)]
    defaults: DefaultsLayer,
    #[serde(default)]
    providers: BTreeMap<String, ProviderLayer>,
    #[serde(default)]
    models: BTreeMap<String, ModelLayer>,
    /// `[permissions]`: allow / ask / deny rules (lists add up across files).
    #[serde(default, skip_serializing_if = "crate::policy::RuleSet::is_empty")]
    permissions: crate::policy::RuleSet,
    /// `[[hooks.EVENT]]` tables (add up across files).
    #[serde(default, skip_serializing_if = "crate::policy::Hooks::is_empty")]
    hooks: crate::policy::Hooks,
    /// Model id (or id prefix) → price per million tokens, for the dashboard's
    /// cost meter.
    #[serde(default)]
    prices: BTreeMap<String, tui::Price>,
    #[serde(default)]
    tui: TuiLayer,
    /// A later layer replaces a server's whole entry (`enabled = false` turns an
    /// inherited one off).
    #[serde(default)]
    mcp_servers: BTreeMap<String, mcp::ServerConfig>,
    /// Read on its own by [`registry_backend`] (user file only); never serialised,
    /// so a database URL (which may hold a password) never reaches `pod config`.
    #[serde(default, skip_serializing)]
    registry: Option<toml::Value>,
}

/// `[tui]`: dashboard settings.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct TuiLayer {
    /// `osc9` (desktop notification), `bell` or `off`, when a Pod finishes or fails.
    notify: Option<tui::Notify>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct DefaultsLayer {
    provider: Option<String>,
    model: Option<String>,
    tools: Option<Vec<String>>,
    write: Option<Vec<PathBuf>>,
    read: Option<Vec<PathBuf>>,
    allow_unconfined_shell: Option<bool>,
    max_output_tokens: Option<u32>,
    reasoning_effort: Option<String>,
    thinking_budget: Option<u32>,
    temperature: Option<f32>,
    /// Extra text appended to every Pod's system prompt.
    instructions: Option<String>,
    /// A file replacing the built-in guidance part of the system prompt (relative to
    /// the directory of the config file that names it).
    system_prompt_file: Option<PathBuf>,
    context_window: Option<u64>,
    compact_at_percent: Option<u8>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ProviderLayer {
    kind: Option<String>,
    base_url: Option<String>,
    api_key_env: Option<String>,
    api_key: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    idle_timeout_secs: Option<u64>,
    max_attempts: Option<u32>,
    /// Largest response of one model call, MiB (default 128).
    max_response_mb: Option<u64>,
    /// Deadline of one whole model call, retries included, seconds (default 3600).
    total_timeout_secs: Option<u64>,
    /// How reasoning goes back to an OpenAI-compatible server: `none`,
    /// `reasoning_content` (DeepSeek, Kimi) or `reasoning_details` (OpenRouter).
    reasoning_echo: Option<String>,
    reasoning_effort: Option<String>,
    thinking_budget: Option<u32>,
    temperature: Option<f32>,
    max_output_tokens: Option<u32>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ModelLayer {
    provider: Option<String>,
    model: Option<String>,
    max_output_tokens: Option<u32>,
    context_window: Option<u64>,
    reasoning_effort: Option<String>,
    thinking_budget: Option<u32>,
    temperature: Option<f32>,
}

/// Settings given on the command line; they form the last layer.
#[derive(Debug, Default, Clone)]
pub struct FlagOverrides {
    /// `--provider`: a configured provider name or a kind (`openai`, `anthropic`, ...).
    pub provider: Option<String>,
    /// `--base-url`.
    pub base_url: Option<String>,
    /// `--model`: a model alias from `[models]` or a provider model id.
    pub model: Option<String>,
}

/// One provider endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSettings {
    /// Dialect.
    pub kind: llm::ProviderKind,
    /// Base URL (per-dialect convention, see `llm::ProviderKind`).
    pub base_url: String,
    /// Environment variable holding the key (`None`: no key, e.g. a local server).
    pub api_key_env: Option<String>,
    /// Inline key from a config file (masked in Debug).
    pub api_key: Option<llm::ApiKey>,
    /// Extra headers.
    pub headers: BTreeMap<String, String>,
    /// Idle timeout between stream events.
    pub idle_timeout_secs: Option<u64>,
    /// Attempts per model call.
    pub max_attempts: Option<u32>,
    /// Size and deadline of one model call.
    pub call_limits: crate::launch::CallLimits,
    /// How reasoning goes back (OpenAI Chat dialect).
    pub reasoning_echo: llm::ReasoningEcho,
    /// Reasoning and sampling settings for every model of this provider.
    pub sampling: crate::settings::Sampling,
}

/// A model alias.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSettings {
    /// Provider name.
    pub provider: String,
    /// Model id at the provider.
    pub model: String,
    /// Output token limit.
    pub max_output_tokens: Option<u32>,
    /// Context window in tokens (overrides the known window of the model).
    pub context_window: Option<u64>,
    /// Reasoning and sampling settings for this model.
    pub sampling: crate::settings::Sampling,
}

/// The merged configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Default provider name.
    pub default_provider: String,
    /// Default model (alias or id).
    pub default_model: Option<String>,
    /// Tools offered to Pods (`None`: all).
    pub tools: Option<Vec<String>>,
    /// Default write scope (relative paths are relative to the Pod's cwd).
    pub write: Vec<PathBuf>,
    /// Default extra read scope.
    pub read: Vec<PathBuf>,
    /// Whether `bash` may run without Landlock where the kernel lacks it.
    pub allow_unconfined_shell: bool,
    /// Default output token limit.
    pub max_output_tokens: Option<u32>,
    /// Default reasoning and sampling settings (max_output_tokens included).
    pub sampling: crate::settings::Sampling,
    /// Extra instructions for every Pod.
    pub instructions: Option<String>,
    /// Replaces the built-in guidance (absolute).
    pub system_prompt_file: Option<PathBuf>,
    /// Default context window (when the model's is unknown and not configured).
    pub context_window: Option<u64>,
    /// Prune/compact threshold, percent of the context window.
    pub compact_at_percent: Option<u8>,
    /// Providers by name.
    pub providers: BTreeMap<String, ProviderSettings>,
    /// Model aliases by name.
    pub models: BTreeMap<String, ModelSettings>,
    /// Prices per million tokens by model id or id prefix (`[prices]`).
    pub prices: BTreeMap<String, tui::Price>,
    /// How the dashboard announces a finished Pod (`[tui] notify`).
    pub notify: tui::Notify,
    /// MCP servers by name (`[mcp_servers.NAME]`), checked.
    pub mcp_servers: BTreeMap<String, mcp::ServerConfig>,
    /// Permission rules of every file, in layer order (lists concatenated, the last
    /// `default` wins); `pod run --allow/--ask/--deny` add to them.
    pub permissions: crate::policy::RuleSet,
    /// Hooks of every file, in layer order.
    pub hooks: crate::policy::Hooks,
    /// Files that were read, in layer order (for `pod doctor`).
    pub sources: Vec<PathBuf>,
    /// Every value set by a file, a preset or a flag, with where it came from (the
    /// last layer that set it), for `pod config`.
    pub origins: BTreeMap<String, Origin>,
}

/// One effective value and the layer it came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Origin {
    /// The value (an inline `api_key` is shown as `***`).
    pub value: serde_json::Value,
    /// `<preset>`, `<builtin>`, a file path, or the flag (`--provider`).
    pub source: String,
}

/// What a Pod will talk to, fully resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedModel {
    /// Provider name as configured.
    pub provider: String,
    /// The provider's settings.
    pub settings: ProviderSettings,
    /// Model id at the provider.
    pub model: String,
    /// Output token limit.
    pub max_output_tokens: Option<u32>,
    /// Context window, when known (config, else the model's known window).
    pub context_window: Option<u64>,
    /// Reasoning and sampling: model › provider › defaults.
    pub sampling: crate::settings::Sampling,
}

const BUILTIN: &str = r#"
[defaults]
provider = "openai"
write = ["."]
"#;

/// The layer of named services (`llm::Preset`): every preset is a configured provider
/// that files may override field by field.
fn presets_layer() -> Layer {
    let providers = llm::Preset::all()
        .iter()
        .map(|p| {
            (
                p.name.to_owned(),
                ProviderLayer {
                    kind: Some(p.kind.name().to_owned()),
                    base_url: Some(p.base_url.to_owned()),
                    // Empty means "no key" (local servers).
                    api_key_env: Some(p.key_env_var.unwrap_or_default().to_owned()),
                    reasoning_echo: Some(p.reasoning_echo.name().to_owned()),
                    ..ProviderLayer::default()
                },
            )
        })
        .collect();
    Layer {
        providers,
        ..Layer::default()
    }
}

/// `providers.x.base_url`-style keys of a layer's settings, for `pod config`.
fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, serde_json::Value)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        _ => {
            // Values of an MCP server's `env` are often tokens.
            let secret = prefix.starts_with("mcp_servers.") && prefix.contains(".env.");
            let value = if prefix.ends_with(".api_key") || secret {
                serde_json::Value::from("***")
            } else {
                serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
            };
            out.push((prefix.to_owned(), value));
        }
    }
}

fn record_origins(
    origins: &mut BTreeMap<String, Origin>,
    source: &str,
    layer: &Layer,
) -> Result<(), ConfigError> {
    let value = toml::Value::try_from(layer).map_err(|e| ConfigError::Invalid {
        path: PathBuf::from(source),
        message: e.to_string(),
    })?;
    let mut flat = Vec::new();
    flatten("", &value, &mut flat);
    for (key, value) in flat {
        origins.insert(
            key,
            Origin {
                value,
                source: source.to_owned(),
            },
        );
    }
    Ok(())
}

impl Config {
    /// Loads builtin → `{config_dir}/config.toml` (skipped when missing) → the
    /// project's `.pods/config.toml` (pass it only when the user trusts it; it is
    /// refused when it sets a key only the user may) → `flags`.
    pub fn load(
        config_dir: &Path,
        project: Option<&ProjectConfig>,
        flags: &FlagOverrides,
    ) -> Result<Config, ConfigError> {
        let mut layers = vec![
            (PathBuf::from("<preset>"), presets_layer()),
            (
                PathBuf::from("<builtin>"),
                parse_layer(Path::new("<builtin>"), BUILTIN)?,
            ),
        ];
        let user = config_dir.join("config.toml");
        match read_config_file(&user) {
            Ok(text) => {
                let mut layer = parse_layer(&user, &text)?;
                // Relative to the directory the file configures.
                anchor_prompt_file(&mut layer, config_dir);
                layers.push((user, layer));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ConfigError::Read { path: user, source }),
        }
        if let Some(p) = project {
            let mut layer = parse_layer(&p.path, &p.text)?;
            if layer.registry.is_some() {
                return Err(ConfigError::Invalid {
                    path: p.path.clone(),
                    message: "[registry] is read only from the user's config.toml: a project cannot choose where scope is registered".into(),
                });
            }
            anchor_prompt_file(&mut layer, &p.dir);
            let mut below = Layer::default();
            for (_, l) in &layers {
                below.merge(l.clone());
            }
            project::check(&below, &layer, p)?;
            layers.push((p.path.clone(), layer));
        }
        let mut merged = Layer::default();
        let mut sources = Vec::new();
        let mut origins = BTreeMap::new();
        for (path, layer) in layers {
            record_origins(&mut origins, &path.display().to_string(), &layer)?;
            merged.merge(layer);
            sources.push(path);
        }
        let mut config = merged.finish(sources, origins)?;
        config.apply_flags(flags)?;
        Ok(config)
    }

    fn apply_flags(&mut self, flags: &FlagOverrides) -> Result<(), ConfigError> {
        let flag = |key: &str, value: &str, source: &str| {
            (
                key.to_owned(),
                Origin {
                    value: value.into(),
                    source: source.to_owned(),
                },
            )
        };
        if let Some(p) = &flags.provider {
            if !self.providers.contains_key(p) {
                // Every preset is configured, so this is neither: say what is close.
                llm::Preset::lookup(p).map_err(ConfigError::UnknownProviderFlag)?;
            }
            self.default_provider = p.clone();
            self.origins
                .extend([flag("defaults.provider", p, "--provider")]);
        }
        if let Some(url) = &flags.base_url {
            let name = self.default_provider.clone();
            if let Some(s) = self.providers.get_mut(&name) {
                s.base_url = url.clone();
            }
            self.origins.extend([flag(
                &format!("providers.{name}.base_url"),
                url,
                "--base-url",
            )]);
        }
        if let Some(m) = &flags.model {
            self.default_model = Some(m.clone());
            self.origins.extend([flag("defaults.model", m, "--model")]);
            // `--provider X --model Y` means Y at X, even if Y is also an alias.
            if flags.provider.is_some() {
                self.models.remove(m);
            }
        }
        Ok(())
    }

    /// Resolves a model alias or id (default: the configured default model).
    pub fn resolve_model(&self, name: Option<&str>) -> Result<ResolvedModel, ConfigError> {
        let name = name
            .or(self.default_model.as_deref())
            .ok_or_else(|| ConfigError::Unknown {
                what: "model",
                name: String::new(),
                hint: ": pass --model or set defaults.model in config.toml".into(),
            })?;
        let (provider, model, max_out, ctx, model_sampling) = match self.models.get(name) {
            Some(m) => (
                m.provider.clone(),
                m.model.clone(),
                m.max_output_tokens,
                m.context_window,
                m.sampling.clone(),
            ),
            None => (
                self.default_provider.clone(),
                name.to_owned(),
                None,
                None,
                Default::default(),
            ),
        };
        let settings =
            self.providers
                .get(&provider)
                .cloned()
                .ok_or_else(|| ConfigError::Unknown {
                    what: "provider",
                    name: provider.clone(),
                    hint: format!(
                        ": add [providers.{provider}] to config.toml (configured: {})",
                        self.providers
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?;
        let mut sampling = self.sampling.clone();
        sampling.overlay(&settings.sampling);
        sampling.overlay(&model_sampling);
        let max_output_tokens = max_out.or(sampling.max_output_tokens);
        sampling.max_output_tokens = None;
        let context_window = ctx
            .or_else(|| crate::settings::known_window(&model))
            .or(self.context_window);
        Ok(ResolvedModel {
            provider,
            settings,
            model,
            max_output_tokens,
            context_window,
            sampling,
        })
    }
}

impl ProviderSettings {
    /// The `llm` client configuration, reading the key from the environment now.
    pub fn provider_config(&self) -> llm::ProviderConfig {
        let key = self
            .api_key
            .clone()
            .or_else(|| self.api_key_env.as_deref().and_then(llm::ApiKey::from_env));
        let mut cfg = llm::ProviderConfig::new(self.kind, self.base_url.clone(), key);
        cfg.reasoning_echo = self.reasoning_echo;
        if let Some(s) = self.idle_timeout_secs {
            cfg.timeouts.idle = std::time::Duration::from_secs(s);
        }
        if let Some(n) = self.max_attempts {
            cfg.retry.max_attempts = n.max(1);
        }
        self.call_limits.apply(&mut cfg);
        cfg.extra_headers = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        cfg
    }
}

/// Largest config file read; a real one is a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads a config file that must be a regular file of at most [`MAX_CONFIG_BYTES`]:
/// a FIFO, a device (`config.toml -> /dev/zero`) or a huge file is an error naming
/// the path, never a hang or an unbounded allocation. The type is checked on the
/// opened file (non-blocking, so a FIFO cannot block the open).
/// The `[registry]` section of the user's `{config_dir}/config.toml` (the file
/// backend when the file or the section is missing).
pub fn registry_backend(config_dir: &Path) -> Result<pod_registry::BackendConfig, ConfigError> {
    #[derive(Deserialize)]
    struct OnlyRegistry {
        #[serde(default)]
        registry: pod_registry::BackendConfig,
    }
    let path = config_dir.join("config.toml");
    match read_config_file(&path) {
        Ok(text) => toml::from_str::<OnlyRegistry>(&text)
            .map(|o| o.registry)
            .map_err(|e| ConfigError::Invalid {
                path,
                message: e.to_string().trim_end().to_owned(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(source) => Err(ConfigError::Read { path, source }),
    }
}

pub(crate) fn read_config_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_CONFIG_BYTES} bytes"
        )));
    }
    Ok(text)
}

fn parse_layer(path: &Path, text: &str) -> Result<Layer, ConfigError> {
    let layer: Layer = toml::from_str(text).map_err(|e| ConfigError::Invalid {
        path: path.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    let sampling = |prefix: &str,
                    reasoning_effort: &Option<String>,
                    temperature: Option<f32>,
                    max_output_tokens: Option<u32>| {
        crate::settings::Sampling {
            reasoning_effort: reasoning_effort.clone(),
            temperature,
            max_output_tokens,
            thinking_budget: None,
        }
        .validate()
        .map_err(|m| ConfigError::Invalid {
            path: path.to_owned(),
            message: format!("{prefix}{m}"),
        })
    };
    for (name, server) in &layer.mcp_servers {
        server.validate(name).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    }
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_owned(),
        message,
    };
    layer
        .permissions
        .validate()
        .map_err(|m| invalid(format!("permissions: {m}")))?;
    layer.hooks.validate().map_err(invalid)?;
    let d = &layer.defaults;
    sampling(
        "defaults.",
        &d.reasoning_effort,
        d.temperature,
        d.max_output_tokens,
    )?;
    if let Some(p) = d.compact_at_percent
        && !(10..=95).contains(&p)
    {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            message: format!("defaults.compact_at_percent = {p}: use a value from 10 to 95"),
        });
    }
    for (name, p) in &layer.providers {
        sampling(
            &format!("providers.{name}."),
            &p.reasoning_effort,
            p.temperature,
            p.max_output_tokens,
        )?;
    }
    for (name, m) in &layer.models {
        sampling(
            &format!("models.{name}."),
            &m.reasoning_effort,
            m.temperature,
            m.max_output_tokens,
        )?;
    }
    for (name, p) in &layer.providers {
        if let Some(e) = &p.reasoning_echo
            && llm::ReasoningEcho::parse(e).is_none()
        {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                message: format!(
                    "providers.{name}.reasoning_echo = {e:?}: use none, reasoning_content or reasoning_details"
                ),
            });
        }
        if let Some(k) = &p.kind {
            parse_kind(path, k).map_err(|_| ConfigError::Invalid {
                path: path.to_owned(),
                message: format!(
                    "providers.{name}.kind = {k:?} is not a provider kind: use openai, anthropic, responses or gemini"
                ),
            })?;
        }
    }
    Ok(layer)
}

/// Makes a relative `defaults.system_prompt_file` absolute against `base`.
fn anchor_prompt_file(layer: &mut Layer, base: &Path) {
    if let Some(f) = &layer.defaults.system_prompt_file
        && f.is_relative()
    {
        layer.defaults.system_prompt_file = Some(base.join(f));
    }
}

fn parse_kind(path: &Path, k: &str) -> Result<llm::ProviderKind, ConfigError> {
    llm::ProviderKind::parse(k).ok_or_else(|| ConfigError::Invalid {
        path: path.to_owned(),
        message: format!(
            "{k:?} is not a provider kind: use openai, anthropic, responses or gemini"
        ),
    })
}

/// Field-by-field override: `Some` in the later layer wins.
fn over<T>(a: &mut Option<T>, b: Option<T>) {
    if b.is_some() {
        *a = b;
    }
}

impl Layer {
    fn merge(&mut self, later: Layer) {
        let p = &mut self.permissions;
        p.allow.extend(later.permissions.allow);
        p.ask.extend(later.permissions.ask);
        p.deny.extend(later.permissions.deny);
        over(&mut p.default, later.permissions.default);
        self.hooks.extend(later.hooks);
        let d = &mut self.defaults;
        over(&mut d.provider, later.defaults.provider);
        over(&mut d.model, later.defaults.model);
        over(&mut d.tools, later.defaults.tools);
        over(&mut d.write, later.defaults.write);
        over(&mut d.read, later.defaults.read);
        over(
            &mut d.allow_unconfined_shell,
            later.defaults.allow_unconfined_shell,
        );
        over(&mut d.max_output_tokens, later.defaults.max_output_tokens);
        over(&mut d.reasoning_effort, later.defaults.reasoning_effort);
        over(&mut d.thinking_budget, later.defaults.thinking_budget);
        over(&mut d.temperature, later.defaults.temperature);
        over(&mut d.instructions, later.defaults.instructions);
        over(&mut d.system_prompt_file, later.defaults.system_prompt_file);
        over(&mut d.context_window, later.defaults.context_window);
        over(&mut d.compact_at_percent, later.defaults.compact_at_percent);
        self.mcp_servers.extend(later.mcp_servers);
        for (name, p) in later.providers {
            let e = self.providers.entry(name).or_default();
            over(&mut e.kind, p.kind);
            over(&mut e.base_url, p.base_url);
            over(&mut e.api_key_env, p.api_key_env);
            over(&mut e.api_key, p.api_key);
            over(&mut e.headers, p.headers);
            over(&mut e.idle_timeout_secs, p.idle_timeout_secs);
            over(&mut e.max_attempts, p.max_attempts);
            over(&mut e.max_response_mb, p.max_response_mb);
            over(&mut e.total_timeout_secs, p.total_timeout_secs);
            over(&mut e.reasoning_echo, p.reasoning_echo);
            over(&mut e.reasoning_effort, p.reasoning_effort);
            over(&mut e.thinking_budget, p.thinking_budget);
            over(&mut e.temperature, p.temperature);
            over(&mut e.max_output_tokens, p.max_output_tokens);
        }
        for (name, m) in later.models {
            let e = self.models.entry(name).or_default();
            over(&mut e.provider, m.provider);
            over(&mut e.model, m.model);
            over(&mut e.max_output_tokens, m.max_output_tokens);
            over(&mut e.context_window, m.context_window);
            over(&mut e.reasoning_effort, m.reasoning_effort);
            over(&mut e.thinking_budget, m.thinking_budget);
            over(&mut e.temperature, m.temperature);
        }
        // A later file's price for a model replaces the earlier one whole.
        self.prices.extend(later.prices);
        over(&mut self.tui.notify, later.tui.notify);
    }

    fn finish(
        self,
        sources: Vec<PathBuf>,
        origins: BTreeMap<String, Origin>,
    ) -> Result<Config, ConfigError> {
        // A table left incomplete once every layer is merged is blamed on the last
        // file that set any of its keys: that is the one the user was editing.
        let file_of = |table: &str| {
            let prefix = format!("{table}.");
            let source = origins
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(_, o)| o.source.as_str())
                .max_by_key(|s| sources.iter().position(|p| p.display().to_string() == *s))
                .unwrap_or("<merged>");
            PathBuf::from(source)
        };
        let invalid = |table: &str, message: String| ConfigError::Invalid {
            path: file_of(table),
            message,
        };
        let mut providers = BTreeMap::new();
        for (name, p) in self.providers {
            let table = format!("providers.{name}");
            let kind_name = p
                .kind
                .ok_or_else(|| invalid(&table, format!("{table} has no `kind`")))?;
            let kind = parse_kind(&file_of(&table), &kind_name)?;
            providers.insert(
                name,
                ProviderSettings {
                    kind,
                    base_url: p
                        .base_url
                        .unwrap_or_else(|| kind.default_base_url().to_owned()),
                    // An empty variable name means "no key" (local servers).
                    api_key_env: p.api_key_env.filter(|v| !v.is_empty()),
                    api_key: p.api_key.map(llm::ApiKey::new),
                    headers: p.headers.unwrap_or_default(),
                    idle_timeout_secs: p.idle_timeout_secs,
                    max_attempts: p.max_attempts,
                    call_limits: crate::launch::CallLimits {
                        max_response_mb: p.max_response_mb,
                        total_timeout_secs: p.total_timeout_secs,
                    },
                    reasoning_echo: p
                        .reasoning_echo
                        .as_deref()
                        .and_then(llm::ReasoningEcho::parse)
                        .unwrap_or_default(),
                    sampling: crate::settings::Sampling {
                        reasoning_effort: p.reasoning_effort,
                        thinking_budget: p.thinking_budget,
                        temperature: p.temperature,
                        max_output_tokens: p.max_output_tokens,
                    },
                },
            );
        }
        let mut models = BTreeMap::new();
        for (name, m) in self.models {
            let table = format!("models.{name}");
            let provider = m
                .provider
                .ok_or_else(|| invalid(&table, format!("{table} has no `provider`")))?;
            models.insert(
                name.clone(),
                ModelSettings {
                    provider,
                    model: m.model.unwrap_or(name),
                    max_output_tokens: m.max_output_tokens,
                    context_window: m.context_window,
                    sampling: crate::settings::Sampling {
                        reasoning_effort: m.reasoning_effort,
                        thinking_budget: m.thinking_budget,
                        temperature: m.temperature,
                        max_output_tokens: None,
                    },
                },
            );
        }
        let d = self.defaults;
        Ok(Config {
            default_provider: d.provider.unwrap_or_else(|| "openai".into()),
            default_model: d.model,
            tools: d.tools,
            write: d.write.unwrap_or_default(),
            read: d.read.unwrap_or_default(),
            allow_unconfined_shell: d.allow_unconfined_shell.unwrap_or(false),
            max_output_tokens: d.max_output_tokens,
            sampling: crate::settings::Sampling {
                reasoning_effort: d.reasoning_effort,
                thinking_budget: d.thinking_budget,
                temperature: d.temperature,
                max_output_tokens: d.max_output_tokens,
            },
            instructions: d.instructions,
            system_prompt_file: d.system_prompt_file,
            context_window: d.context_window,
            compact_at_percent: d.compact_at_percent,
            providers,
            models,
            prices: self.prices,
            notify: self.tui.notify.unwrap_or_default(),
            mcp_servers: self.mcp_servers,
            permissions: self.permissions,
            hooks: self.hooks,
            sources,
            origins,
        })
    }
}

mod project;
#[cfg(test)]
mod tests;
