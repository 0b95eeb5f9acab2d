//! The interface the runtime calls: [`Tool`], its [`ToolContext`] and [`ToolOutput`].

use std::path::PathBuf;
use std::time::Duration;

use scope::Scope;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::ToolError;
use crate::fingerprint::ReadTracker;

/// One tool the model can call. Object-safe: the runtime holds `Arc<dyn Tool>`.
#[async_trait::async_trait]
pub trait Tool: Send + Sync {
    /// Name the model calls it by (`read_file`, `bash`, ...).
    fn name(&self) -> &'static str;
    /// What it does, for the model.
    fn description(&self) -> &'static str;
    /// JSON Schema of the arguments object.
    fn parameters_schema(&self) -> serde_json::Value;
    /// Runs the tool. `args` is the parsed arguments object.
    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError>;
}

/// Text for the model, and images it should see. When a cap cut the output, `text`
/// carries a marker saying so and `truncated` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    /// What the model reads.
    pub text: String,
    /// Whether a limit cut the output (the marker is already in `text`).
    pub truncated: bool,
    /// Images for the model (`view_image`, MCP image content). The runtime stores
    /// them as blobs and shows them after the call's result.
    pub images: Vec<ToolImage>,
}

/// Image bytes a tool produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolImage {
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
    pub media_type: String,
    /// The encoded image.
    pub data: Vec<u8>,
    /// Where it came from (a path or a server name), for the log.
    pub source: String,
}

impl ToolOutput {
    /// Complete output.
    pub fn full(text: impl Into<String>) -> ToolOutput {
        ToolOutput::new(text, false)
    }

    /// Text output, `truncated` when a cap cut it.
    pub fn new(text: impl Into<String>, truncated: bool) -> ToolOutput {
        ToolOutput {
            text: text.into(),
            truncated,
            images: Vec::new(),
        }
    }
}

/// Limits and policy of the `bash` tool.
#[derive(Debug, Clone)]
pub struct ShellSettings {
    /// Timeout when the call names none.
    pub default_timeout: Duration,
    /// Upper bound on a timeout the model asks for.
    pub max_timeout: Duration,
    /// Bytes of combined stdout+stderr returned; head and tail are kept.
    pub output_cap_bytes: usize,
    /// Run unconfined where the kernel lacks Landlock even if the Pod's write scope is
    /// narrower than its working tree (the user's explicit opt-out).
    pub allow_unconfined: bool,
    /// Extra paths the shell may read and execute beyond the Pod's readable scope and
    /// the system directories (e.g. `~/.cargo`, `~/.rustup` for Rust toolchains).
    pub extra_readable: Vec<PathBuf>,
    /// Behave as if the kernel had no Landlock (tests of the fallback policy).
    pub assume_no_landlock: bool,
    /// Behave as if no mount namespace could be had, so metadata is guarded by
    /// the seccomp fallback (tests of the fallback).
    pub assume_no_mount_namespace: bool,
    /// Entries of the write scope scanned per call for files with hard links
    /// leaving it, which are then read-only for the shell (0: no scan; see
    /// [`crate::sandbox::Options::hard_link_scan_limit`]).
    pub hard_link_scan_limit: usize,
    /// Directories that look empty (an empty read-only tmpfs over them) to the
    /// shell, whatever the scope says: the runtime directory with other Pods'
    /// sockets and tokens. Needs the mount layer; without it they are only as
    /// protected as Landlock's rules make them.
    pub hidden_paths: Vec<PathBuf>,
    /// Identities of the write roots as recorded when the scope was granted
    /// (delegation records them); a root found replaced refuses the call.
    pub pins: crate::sandbox::Pins,
}

impl Default for ShellSettings {
    fn default() -> ShellSettings {
        ShellSettings {
            default_timeout: Duration::from_secs(120),
            max_timeout: Duration::from_secs(600),
            output_cap_bytes: 30_000,
            allow_unconfined: false,
            extra_readable: Vec::new(),
            assume_no_landlock: false,
            assume_no_mount_namespace: false,
            hard_link_scan_limit: crate::sandbox::DEFAULT_HARD_LINK_SCAN_LIMIT,
            hidden_paths: Vec::new(),
            pins: crate::sandbox::Pins::default(),
        }
    }
}

/// Environment variables always removed from the shell's environment. Entries
/// starting with `*` match by suffix, entries ending with `*` by prefix. `PODS_*`
/// and `XDG_RUNTIME_DIR` name the runtime's directory, where other Pods' sockets
/// live: a tool has no business there (issue 19).
pub const DEFAULT_SCRUBBED_ENV: &[&str] = &[
    "PODS_*",
    "XDG_RUNTIME_DIR",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "OPENROUTER_API_KEY",
    "*_API_KEY",
];

/// What a tool call may touch, and the Pod state tools share.
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// The Pod's EFFECTIVE scope (delegated regions already `deny(write)`); the
    /// runtime sends a new value whenever a delegation starts or ends, and every call
    /// reads the current one.
    pub scope: watch::Receiver<Scope>,
    /// Working directory (canonical); relative paths resolve against it.
    pub cwd: PathBuf,
    /// Cancelled when the runtime interrupts the call.
    pub cancel: CancellationToken,
    /// Versions of files this Pod has read or written (for `edit_file`).
    pub reads: ReadTracker,
    /// `bash` limits and policy.
    pub shell: ShellSettings,
    /// Extra environment variable names to scrub from the shell (in addition to
    /// [`DEFAULT_SCRUBBED_ENV`]); `*SUFFIX` entries match by suffix, e.g. `*_TOKEN`,
    /// `PREFIX*` entries by prefix.
    pub scrub_env: Vec<String>,
    /// The Pod's background processes (the `background` tool), shared by every
    /// clone; dropping the last clone kills them.
    pub background: crate::background::BackgroundJobs,
}

impl ToolContext {
    /// A context with default settings. `cwd` should be canonical.
    pub fn new(scope: watch::Receiver<Scope>, cwd: impl Into<PathBuf>) -> ToolContext {
        ToolContext {
            scope,
            cwd: cwd.into(),
            cancel: CancellationToken::new(),
            reads: ReadTracker::new(),
            shell: ShellSettings::default(),
            scrub_env: Vec::new(),
            background: Default::default(),
        }
    }

    /// A snapshot of the current effective scope, taken once per call so one call
    /// sees one consistent scope.
    pub fn current_scope(&self) -> Scope {
        self.scope.borrow().clone()
    }
}

/// Parses a tool's arguments into its params struct.
pub(crate) fn parse_args<T: serde::de::DeserializeOwned>(
    tool: &str,
    args: serde_json::Value,
) -> Result<T, ToolError> {
    serde_json::from_value(args).map_err(|e| ToolError::InvalidArguments {
        tool: tool.to_owned(),
        message: e.to_string(),
    })
}

/// JSON Schema of a params struct, without the `$schema`/`title` noise that some
/// providers reject.
pub(crate) fn schema_of<T: schemars::JsonSchema>() -> serde_json::Value {
    let mut v = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("$schema");
        obj.remove("title");
    }
    v
}

/// Runs blocking filesystem work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    tool: &str,
    f: impl FnOnce() -> Result<T, ToolError> + Send + 'static,
) -> Result<T, ToolError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ToolError::Internal {
            tool: tool.to_owned(),
            message: e.to_string(),
        })?
}
