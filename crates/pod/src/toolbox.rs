//! The tools a Pod offers its model, behind [`ToolRunner`] so the runtime does not
//! care who implements them.
//!
//! The implementation is the `tools` crate's [`tools::ToolSet`] (cap-std handles,
//! Landlock-confined `bash` whose process group never outlives the call), narrowed to
//! the tools the manifest names and bound to the Pod's scope and working directory,
//! plus the tools of the Pod's MCP servers (`mcp__SERVER__TOOL`, the `mcp` crate's
//! [`mcp::Hub`]), which are ordinary entries here: whatever the runtime applies to
//! a tool call applies to them too.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use protocol::Attachment;
use scope::{Access, Scope, ScopeRule};
use tokio::sync::watch;
use tools::{ToolContext, ToolImage, ToolOutput, ToolSet};
use transcript::{ToolCall, ToolResult, ToolSpec};

/// Runs tool calls. `run` never fails: errors become results with `is_error`.
pub trait ToolRunner: Send + Sync {
    /// The tools offered to the model.
    fn specs(&self) -> Vec<ToolSpec>;
    /// Executes one call. Dropping the future cancels it (and kills any process).
    fn run(&self, call: ToolCall) -> BoxFuture<'static, ToolRun>;
    /// Reads a file the user attached to input, inside the same scope the tools
    /// see (so an attachment can never reach what the Pod may not read). No default:
    /// a wrapper must pass it on to the runner it wraps, or attachments would stop
    /// working without anyone noticing.
    fn attach(&self, attachment: &Attachment) -> BoxFuture<'static, Result<ToolOutput, String>>;
}

/// What one call produced: the result the model reads, and images it should see
/// after the results of its turn (`view_image`, MCP image content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRun {
    /// The result.
    pub result: ToolResult,
    /// Images, in order.
    pub images: Vec<ToolImage>,
}

impl ToolRun {
    /// The run of `call` whose text is `out`; an `Err` is the model's error result
    /// (`error: …`, `is_error`), as every runtime-side tool reports failures.
    pub fn text(call: ToolCall, out: Result<String, String>) -> ToolRun {
        let (output, is_error) = match out {
            Ok(t) => (t, false),
            Err(e) => (format!("error: {e}"), true),
        };
        ToolResult {
            call_id: call.call_id,
            name: call.name,
            output,
            is_error,
        }
        .into()
    }
}

impl From<ToolResult> for ToolRun {
    fn from(result: ToolResult) -> ToolRun {
        ToolRun {
            result,
            images: Vec::new(),
        }
    }
}

/// Names of the tools a Pod can be given (sorted).
pub fn available_tools() -> Vec<&'static str> {
    ToolSet::standard().names()
}

/// The `tools` crate behind [`ToolRunner`].
#[derive(Clone)]
pub struct ScopedTools {
    set: Arc<ToolSet>,
    ctx: ToolContext,
    // The effective scope: narrowed when a delegation starts, widened when one is
    // reclaimed (children); file tools and the next bash call's Landlock read it.
    scope_tx: Arc<watch::Sender<Scope>>,
    // pods' own roots (data, runtime, config): denied to every tool call whatever
    // the scope says, so a Pod can neither edit its own record nor reach another
    // Pod's socket (ARCHITECTURE §4 "pods' own directories").
    private: Arc<Vec<ScopeRule>>,
    // MCP servers, confined by `ctx` (the same scope, hidden paths and scrubbed
    // environment as `bash`).
    mcp: mcp::Hub,
    // The same roots as given, hidden from the shell (with `.pods` directories).
    private_roots: Arc<Vec<PathBuf>>,
}

impl ScopedTools {
    /// The tools named in `enabled` (unknown names are ignored; the CLI validates
    /// them), confined to `scope` with `cwd` as working directory. `key_env` is
    /// scrubbed from the shell's environment in addition to the usual key variables.
    pub fn new(
        cwd: PathBuf,
        scope: Scope,
        enabled: &[String],
        key_env: Option<&str>,
        allow_unconfined_shell: bool,
        private_roots: &[PathBuf],
    ) -> Self {
        let standard = ToolSet::standard();
        let set = ToolSet::new(enabled.iter().filter_map(|n| standard.get(n).cloned()));
        let private: Vec<ScopeRule> = private_roots
            .iter()
            .filter_map(|p| ScopeRule::new(p, Access::Read, true).ok())
            .collect();
        let (tx, rx) = watch::channel(with_private(scope, &private));
        let mut ctx = ToolContext::new(rx, cwd);
        ctx.shell.allow_unconfined = allow_unconfined_shell;
        // The shell sees an empty read-only filesystem there (a mount namespace),
        // which also keeps it off other Pods' sockets: Landlock on this kernel does
        // not mediate connecting to a socket file. Project `.pods` directories too, for processes started with this context
        // (MCP servers); each tool call looks them up again (`run`).
        let mut hidden = private_roots.to_vec();
        hidden.extend(project_config_dirs(&tx.borrow(), &ctx.cwd));
        ctx.shell.hidden_paths = hidden;
        ctx.scrub_env = key_env.map(str::to_owned).into_iter().collect();
        ScopedTools {
            set: Arc::new(set),
            ctx,
            scope_tx: Arc::new(tx),
            private: Arc::new(private),
            mcp: mcp::Hub::default(),
            private_roots: Arc::new(private_roots.to_vec()),
        }
    }

    /// The identities of the write roots recorded when the scope was granted
    /// (`Manifest::pins`); every shell's ruleset checks them.
    pub fn with_pins(
        mut self,
        pins: std::collections::BTreeMap<PathBuf, tools::sandbox::FileId>,
    ) -> Self {
        self.ctx.shell.pins = tools::sandbox::Pins::new(pins);
        self
    }

    /// Adds the MCP servers `servers` (none started yet; see [`Self::mcp`]).
    /// Call it last: the servers keep the context (pins, hidden paths, scrubbed
    /// environment) as it is now.
    pub fn with_mcp(
        mut self,
        servers: &std::collections::BTreeMap<String, mcp::ServerConfig>,
    ) -> Self {
        self.mcp = mcp::Hub::new(servers, &self.ctx);
        self
    }

    /// The Pod's MCP servers.
    pub fn mcp(&self) -> &mcp::Hub {
        &self.mcp
    }

    /// Replaces the effective scope: takes effect for every later tool call.
    pub fn set_scope(&self, scope: Scope) {
        let scope = with_private(scope, &self.private);
        let changed = self.scope_tx.send_if_modified(|current| {
            let differs = *current != scope;
            *current = scope;
            differs
        });
        // Landlock cannot be narrowed on a running process: a stdio MCP server
        // started before a delegation could still write into the delegated region,
        // so each one restarts, on its next use, under the new scope.
        if changed
            && !self.mcp.is_empty()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let hub = self.mcp.clone();
            rt.spawn(async move { hub.restart_confined("the Pod's scope changed").await });
        }
    }

    /// The Pod's background processes (the `background` tool).
    pub fn background(&self) -> &tools::BackgroundJobs {
        &self.ctx.background
    }

    /// What stops this Pod's writers when its registry lease lapses (see
    /// `allocation::on_lease_change`): every shell call and background process is
    /// killed at once and any that starts is killed until the lease is renewed;
    /// stdio MCP servers stop (they restart on their next call, which waits at the
    /// gate). File tools need nothing: each is one short write behind the gate,
    /// inside the lease's safety margin.
    pub fn lease_hook(&self) -> impl Fn(Option<&str>) + Send + Sync + 'static {
        // Weak: this hook lives in a static and must not keep the processes alive.
        let jobs = self.ctx.background.downgrade();
        let hub = self.mcp.clone();
        let rt = tokio::runtime::Handle::try_current().ok();
        move |lapsed| {
            let Some(jobs) = jobs.upgrade() else { return };
            let Some(why) = lapsed else {
                jobs.resume();
                return;
            };
            let killed = jobs.halt(&format!(
                "the registry lease lapsed ({why}); nothing may be written until it is renewed: run the command again then"
            ));
            if !killed.is_empty() {
                tracing::warn!(?killed, "stopped because the registry lease lapsed");
            }
            if !hub.is_empty()
                && let Some(rt) = &rt
            {
                let hub = hub.clone();
                rt.spawn(async move { hub.restart_confined("the registry lease lapsed").await });
            }
        }
    }

    /// The context tool calls run in (live scope, cwd, shell settings, scrubbed
    /// environment): hooks run under the same sandbox.
    pub fn context(&self) -> ToolContext {
        self.ctx.clone()
    }

    /// The effective scope tool calls run under now.
    pub fn scope(&self) -> Scope {
        self.scope_tx.borrow().clone()
    }
}

/// `scope` with pods' own roots denied (read, so no access at all).
fn with_private(mut scope: Scope, private: &[ScopeRule]) -> Scope {
    for r in private {
        if !scope.deny.contains(r) {
            scope.deny.push(r.clone());
        }
    }
    scope
}

/// The `.pods` directories the shell gets as empty and read-only (the file tools
/// refuse writes below any `.pods` by name, see `tools::PROJECT_CONFIG_DIR`): those
/// at the top of the working directory, of each write root and of each directory
/// directly below a write root — where `pod run` would read a project's config.
/// A `.pods` a write rule itself lies in was granted by the user and stays
/// writable. Only existing real directories can be mounted over; one the shell
/// creates or one deeper down is left to trust, which pins each project file's
/// content (`crate::trust`), so such a file is never applied without the user.
fn project_config_dirs(scope: &Scope, cwd: &Path) -> Vec<PathBuf> {
    let granted = |p: &Path| {
        p.components()
            .any(|c| c.as_os_str() == tools::PROJECT_CONFIG_DIR)
    };
    let roots: Vec<&Path> = scope
        .allow
        .iter()
        .filter(|r| r.access == Access::Write && !granted(r.path.as_path()))
        .map(|r| r.path.as_path())
        .collect();
    let mut bases: Vec<PathBuf> = vec![cwd.to_path_buf()];
    for r in &roots {
        bases.push(r.to_path_buf());
        if let Ok(entries) = std::fs::read_dir(r) {
            bases.extend(
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for b in bases {
        let d = b.join(tools::PROJECT_CONFIG_DIR);
        if !granted(&b)
            && !out.contains(&d)
            && std::fs::symlink_metadata(&d).is_ok_and(|m| m.is_dir())
        {
            out.push(d);
        }
    }
    out
}

impl ToolRunner for ScopedTools {
    fn specs(&self) -> Vec<ToolSpec> {
        let mut specs = self.set.specs();
        specs.extend(self.mcp.specs());
        specs
    }

    fn run(&self, call: ToolCall) -> BoxFuture<'static, ToolRun> {
        let set = self.set.clone();
        let mut ctx = self.ctx.clone();
        let hub = self.mcp.clone();
        // Looked up per call (a few stats): a `.pods` the user created since is
        // covered too, for every tool that starts processes (bash, background).
        let mut hidden = self.private_roots.to_vec();
        hidden.extend(project_config_dirs(&self.scope(), &ctx.cwd));
        ctx.shell.hidden_paths = hidden;
        Box::pin(async move {
            // ARCHITECTURE §5 "Leases": no tool runs on an unrenewed registry lease.
            if let Err(why) = crate::allocation::await_write_permission().await {
                return ToolResult {
                    call_id: call.call_id,
                    name: call.name,
                    output: format!("not run: {why}"),
                    is_error: true,
                }
                .into();
            }
            let lapses = crate::allocation::lease_lapses();
            let out = if mcp::Hub::owns(&call.name) {
                hub.call(&call.name, &call.arguments)
                    .await
                    .map(|o| (o.text, o.is_error, o.images))
                    .map_err(|e| e.to_string())
            } else {
                set.call(&ctx, &call.name, &call.arguments)
                    .await
                    .map(|out| (out.text, false, out.images))
                    .map_err(|e| e.to_string())
            };
            let (mut output, mut is_error, images) = match out {
                Ok(r) => r,
                Err(e) => (format!("error: {e}"), true, Vec::new()),
            };
            if crate::allocation::lease_lapses() != lapses {
                // Its processes were killed mid-way (or it finished just before):
                // the model must not take the result as a clean run.
                output.push_str("\n[error: the registry lease lapsed while this call ran, so it was stopped; check what it did and run it again once the Pod continues]");
                is_error = true;
            }
            ToolRun {
                result: ToolResult {
                    call_id: call.call_id,
                    name: call.name,
                    output,
                    is_error,
                },
                images,
            }
        })
    }

    fn attach(&self, attachment: &Attachment) -> BoxFuture<'static, Result<ToolOutput, String>> {
        // The tools themselves do the reading, so an attachment passes exactly the
        // checks (canonical path, scope, pods' own roots, size caps) a call would;
        // they are used even when the manifest does not offer them to the model.
        let (tool, path): (Arc<dyn tools::Tool>, &str) = match attachment {
            Attachment::File { path } => (Arc::new(tools::ReadFile), path),
            Attachment::Image { path } => (Arc::new(tools::ViewImage), path),
        };
        let args = serde_json::json!({ "path": path });
        let ctx = self.ctx.clone();
        Box::pin(async move { tool.call(&ctx, args).await.map_err(|e| e.to_string()) })
    }
}
