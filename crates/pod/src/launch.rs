//! What a Pod process is started with: the [`Manifest`] (the resolved snapshot a
//! restore rebuilds from) plus the roots and start mode, handed over in a 0600 file
//! in the Pod's runtime dir, never on the command line (PITFALLS: config in argv is
//! visible in `ps` and hits length limits).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use pod_ids::{PodName, Roots};
use serde::{Deserialize, Serialize};

/// The resolved configuration of a Pod, stored in its record so that `pod resume`
/// rebuilds exactly this Pod (not one from today's config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Provider name as configured (a preset such as `openrouter`, or a name from
    /// `[providers.NAME]`); records written before presets hold the dialect here.
    pub provider: String,
    /// Wire dialect (`openai`, `anthropic`, `responses`, `gemini`); `None` in older
    /// records, where `provider` is the dialect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialect: Option<String>,
    /// How reasoning goes back to the provider (OpenAI Chat dialect).
    #[serde(default)]
    pub reasoning_echo: llm::ReasoningEcho,
    /// Provider base URL.
    pub base_url: String,
    /// Name of the environment variable holding the API key (never the key itself).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Model id.
    pub model: String,
    /// Output token limit per model call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Extra HTTP headers for the provider (not secrets: keys come from `api_key_env`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Idle timeout between stream events, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_secs: Option<u64>,
    /// Bounds of one model call beyond the idle timeout (defaults: the `llm` crate's).
    #[serde(default, skip_serializing_if = "CallLimits::is_default")]
    pub call_limits: CallLimits,
    /// Attempts per model call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Where the system prompt came from (`default`: the built-in prompt).
    #[serde(default = "default_prompt")]
    pub system_prompt_source: String,
    /// Tool names offered to the model.
    pub tools: Vec<String>,
    /// Let `bash` run unconfined where the kernel lacks Landlock.
    #[serde(default)]
    pub allow_unconfined_shell: bool,
    /// The Pod's scope (canonical rules only).
    pub scope: scope::Scope,
    /// Identity (device, inode) of each write root when it was granted (by `pod
    /// run`/`pod fork`, or at delegation; empty in older records, whose roots are
    /// pinned on first use). A root found replaced refuses tool calls, and a
    /// restore (checked against `grant.json`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub pins: std::collections::BTreeMap<PathBuf, tools::sandbox::FileId>,
    /// Working directory (canonical).
    pub cwd: PathBuf,
    /// Instructions, reasoning/sampling and context settings (absent in older
    /// records: all defaults).
    #[serde(default)]
    pub agent: crate::settings::AgentSettings,
    /// The Pod's grant on a work item (the `work_*` tools; absent: no such tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<crate::work::WorkGrant>,
    /// This Pod is the lead of `pod work run` on an item: its driver is the
    /// workflow code, not the model (absent: an ordinary Pod).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<crate::work::Workflow>,
    /// MCP servers (`[mcp_servers.NAME]`, paths made absolute against the cwd
    /// where the Pod was started); children inherit them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub mcp_servers: std::collections::BTreeMap<String, mcp::ServerConfig>,
    /// Permission rules: this Pod's layers (its parent's first); the strictest wins.
    #[serde(default, skip_serializing_if = "crate::policy::Policy::is_empty")]
    pub permissions: crate::policy::Policy,
    /// Hooks (inherited by children).
    #[serde(default, skip_serializing_if = "crate::policy::Hooks::is_empty")]
    pub hooks: crate::policy::Hooks,
}

/// How large and how long one model call may get (`None`: the `llm` defaults,
/// 128 MiB and one hour).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallLimits {
    /// Largest response body, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_mb: Option<u64>,
    /// Deadline of the whole call, retries included, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_timeout_secs: Option<u64>,
}

impl CallLimits {
    fn is_default(&self) -> bool {
        *self == CallLimits::default()
    }

    /// Sets the limits that are given on `cfg`, leaving the `llm` defaults otherwise.
    pub fn apply(&self, cfg: &mut llm::ProviderConfig) {
        if let Some(mb) = self.max_response_mb {
            cfg.limits.max_response_bytes = mb.saturating_mul(1024 * 1024);
        }
        if let Some(s) = self.total_timeout_secs {
            cfg.timeouts.total = std::time::Duration::from_secs(s);
        }
    }
}

fn default_prompt() -> String {
    "default".into()
}

/// Fresh start or restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartMode {
    /// A new Pod: new record, new session.
    Fresh,
    /// Restore from the Pod's record and active segment.
    Resume,
}

/// The roots, as plain paths (so they survive the hand-over unchanged even when the
/// child's environment would resolve differently).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootPaths {
    /// Data root.
    pub data: PathBuf,
    /// Sessions root.
    pub sessions: PathBuf,
    /// Pod records root.
    pub pods: PathBuf,
    /// Runtime root.
    pub runtime: PathBuf,
    /// Registry folder (absent in launch files of older launchers: the runtime root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<PathBuf>,
    /// Config root.
    pub config: PathBuf,
}

impl From<&Roots> for RootPaths {
    fn from(r: &Roots) -> Self {
        RootPaths {
            data: r.data.clone(),
            sessions: r.sessions.clone(),
            pods: r.pods.clone(),
            runtime: r.runtime.clone(),
            registry: Some(r.registry.clone()),
            config: r.config.clone(),
        }
    }
}

impl From<RootPaths> for Roots {
    fn from(r: RootPaths) -> Self {
        Roots {
            data: r.data,
            sessions: r.sessions,
            pods: r.pods,
            registry: r.registry.unwrap_or_else(|| r.runtime.clone()),
            runtime: r.runtime,
            config: r.config,
        }
    }
}

/// Everything a Pod process needs to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaunchConfig {
    /// The Pod's name.
    pub name: PodName,
    /// Directories.
    pub roots: RootPaths,
    /// Fresh or restore.
    pub mode: StartMode,
    /// For a fresh Pod: its manifest. For a restore it is read from the record.
    #[serde(default)]
    pub manifest: Option<Manifest>,
    /// Set when a parent Pod starts this Pod as its child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child: Option<ChildLaunch>,
    /// A one-shot run's CLI process (`pod run --print/--json` without `--keep`): the
    /// Pod stops, cancelling its run, as soon as that process is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// What this run of the Pod does with a call that needs an approval (not part
    /// of the manifest: `pod resume --print` of an interactive Pod denies).
    #[serde(default)]
    pub ask_mode: crate::policy::AskMode,
    /// `pod run --allow-broad-write`: recorded in the new Pod's grant, so a restore
    /// knows the user allowed a broad write root (see [`crate::grant`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_broad_write: bool,
}

/// The process a one-shot Pod lives for, identified by pid and start time so that a
/// reused pid is never taken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Its pid.
    pub pid: u32,
    /// Its start time (clock ticks after boot, from `/proc/PID/stat`).
    pub start_time: u64,
}

impl Owner {
    /// This process.
    pub fn current() -> Result<Owner, pod_registry::RegistryError> {
        let pid = std::process::id();
        Ok(Owner {
            pid,
            start_time: pod_registry::process_start_time(pid)?,
        })
    }

    /// Resolves once the owner has exited (at once if it already has).
    pub async fn gone(self) {
        let Some(mut exit) = crate::children::supervise::watch_exit(self.pid) else {
            return;
        };
        // The pidfd names whatever process holds the pid now: if that is not the owner
        // (the owner died and the pid was reused before we looked), it is gone.
        if pod_registry::process_start_time(self.pid).ok() != Some(self.start_time) {
            return;
        }
        let _ = exit.wait_for(Option::is_some).await;
    }
}

/// What a child Pod gets from its parent (secrets included: this travels only in the
/// 0600 launch file, which the child deletes on reading).
#[derive(Clone, Serialize, Deserialize)]
pub struct ChildLaunch {
    /// The parent Pod.
    pub parent: PodName,
    /// The parent's socket (where reports go).
    pub parent_socket: PathBuf,
    /// The one-time registry reservation token (`None`: the allocation exists already,
    /// e.g. `pod resume` of a child whose row was re-created by its parent).
    #[serde(default)]
    pub reservation: Option<String>,
    /// The per-child callback token the parent checks on every report.
    pub callback_token: String,
}

impl std::fmt::Debug for ChildLaunch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildLaunch")
            .field("parent", &self.parent)
            .field("parent_socket", &self.parent_socket)
            .finish_non_exhaustive()
    }
}

/// Launch file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[error("launch file {path}: {message}")]
pub struct LaunchError {
    /// The file.
    pub path: PathBuf,
    /// What failed.
    pub message: String,
}

impl LaunchConfig {
    /// Writes the config to a new 0600 file in `dir` and returns its path.
    pub fn write_to(&self, dir: &Path) -> Result<PathBuf, LaunchError> {
        let path = dir.join(format!("launch-{}.json", std::process::id()));
        let err = |message: String| LaunchError {
            path: path.clone(),
            message,
        };
        let bytes = serde_json::to_vec(self).map_err(|e| err(e.to_string()))?;
        // Replace any leftover from a crashed launcher with the same pid.
        let _ = fs::remove_file(&path);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| err(e.to_string()))?;
        f.write_all(&bytes).map_err(|e| err(e.to_string()))?;
        Ok(path)
    }

    /// Reads and deletes a launch file (it is single-use).
    pub fn take_from(path: &Path) -> Result<LaunchConfig, LaunchError> {
        let err = |message: String| LaunchError {
            path: path.to_path_buf(),
            message,
        };
        let bytes = fs::read(path).map_err(|e| err(e.to_string()))?;
        let _ = fs::remove_file(path);
        serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))
    }
}
