//! `bash`: a shell command in the Pod's working directory, in its own process
//! group, with a timeout, capped output, a scrubbed environment, and confined by
//! the layered sandbox ([`crate::sandbox::Confinement`]) to the Pod's effective
//! scope.

use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use schemars::JsonSchema;
use scope::{Access, ScopeRule};
use serde::Deserialize;
use tokio::io::AsyncReadExt;

use crate::error::ToolError;
use crate::output_cap::HeadTail;
use crate::sandbox::{Confinement, Options};
use crate::tool::{DEFAULT_SCRUBBED_ENV, Tool, ToolContext, ToolOutput, parse_args, schema_of};

/// How long output is still drained after the process group was killed. Only a
/// process that escaped the group (`setsid`) where no PID namespace could be had
/// can hold the pipe open longer.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Arguments of `bash`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BashParams {
    /// The command line, run as `bash -c COMMAND` in the working directory.
    pub command: String,
    /// Timeout in seconds (default 120, at most 600).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// Runs a shell command, confined to the Pod's scope.
#[derive(Debug, Default)]
pub struct Bash;

#[async_trait::async_trait]
impl Tool for Bash {
    fn name(&self) -> &'static str {
        "bash"
    }
    fn description(&self) -> &'static str {
        "Run a command with `bash -c` in the working directory. Returns combined stdout and stderr (long output keeps its head and tail) and the exit code. Writes are confined to this Pod's write scope plus $TMPDIR. Every process the command starts (also with setsid, nohup, disown or a double fork) is killed when the command ends or times out; for dev servers and watchers that must keep running, use the `background` tool."
    }
    fn parameters_schema(&self) -> serde_json::Value {
        schema_of::<BashParams>()
    }
    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let p: BashParams = parse_args(self.name(), args)?;
        let timeout = p
            .timeout_secs
            .map_or(ctx.shell.default_timeout, Duration::from_secs)
            .min(ctx.shell.max_timeout);
        let internal = |m: String| ToolError::Internal {
            tool: "bash".into(),
            message: m,
        };
        let tmp = private_tmp().map_err(internal)?;
        // Tracked before the sandbox is built: a delegation that starts meanwhile
        // sees this call and ends it (its domain would predate the delegation).
        let scope = ctx.current_scope();
        let call = ctx.background.track_call(scope.clone());
        let confinement = confinement(ctx, &scope, tmp.path().to_owned()).await?;
        run(ctx, &p.command, timeout, tmp.path(), confinement, &call).await
    }
}

/// A private temp dir (0700, removed on drop) that becomes TMPDIR: the only
/// writable place outside the scope. tempfile's default directory mode is 0777 &
/// umask: 0700 explicitly, so other users and Pods cannot look in.
pub(crate) fn private_tmp() -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix("pods-shell-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .map_err(|e| format!("cannot create the shell's temp dir: {e}"))
}

/// The sandbox for a process the Pod starts (this call's shell, an MCP server).
/// Without Landlock it is refused unless running without Landlock is allowed by
/// the fallback policy (ARCHITECTURE §4); the other layers apply either way.
pub async fn confinement(
    ctx: &ToolContext,
    scope: &scope::Scope,
    tmp: std::path::PathBuf,
) -> Result<Arc<Confinement>, ToolError> {
    let scope = scope.clone();
    let extra = ctx.shell.extra_readable.clone();
    let cwd = ctx.cwd.clone();
    let opts = Options {
        without_landlock: ctx.shell.assume_no_landlock,
        without_mount_namespace: ctx.shell.assume_no_mount_namespace,
        hard_link_scan_limit: ctx.shell.hard_link_scan_limit,
        hidden: ctx.shell.hidden_paths.clone(),
        pins: ctx.shell.pins.clone(),
    };
    // Walking directories to express denies, probing the kernel once: blocking.
    let built = {
        let scope = scope.clone();
        tokio::task::spawn_blocking(move || {
            Confinement::for_scope(&scope, &cwd, &tmp, &extra, opts)
        })
        .await
        .map_err(|e| ToolError::Internal {
            tool: "bash".into(),
            message: e.to_string(),
        })?
        .map_err(|e| ToolError::ShellRefused {
            reason: e.to_string(),
        })?
    };
    if built.layers().landlock {
        return Ok(Arc::new(built));
    }
    // Invariant (ARCHITECTURE §4): "Where Landlock is unavailable, a Pod whose write
    // scope is narrower than its working tree refuses the shell tool unless the
    // user opts out."
    let whole_tree = ScopeRule::trusted(ctx.cwd.clone(), Access::Write, true)
        .is_ok_and(|tree| scope.can_write_all(&tree));
    if ctx.shell.allow_unconfined || whole_tree {
        tracing::warn!(cwd = %ctx.cwd.display(), layers = ?built.layers(), "running bash without Landlock confinement");
        return Ok(Arc::new(built));
    }
    Err(ToolError::ShellRefused {
        reason: format!(
            "this kernel has no Landlock, so shell commands cannot be confined, and this Pod may not write everywhere under its working directory {}; use the file tools instead, or have the user allow unconfined shells in the configuration",
            ctx.cwd.display()
        ),
    })
}

/// Whether an environment variable must not reach a process the Pod starts.
pub fn is_scrubbed(name: &str, extra: &[String]) -> bool {
    DEFAULT_SCRUBBED_ENV
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .any(|pat| {
            if let Some(suffix) = pat.strip_prefix('*') {
                name.ends_with(suffix)
            } else if let Some(prefix) = pat.strip_suffix('*') {
                name.starts_with(prefix)
            } else {
                name == pat
            }
        })
}

/// How the command ended.
enum Ending {
    Exited(ExitStatus),
    TimedOut,
    Cancelled,
}

/// Kills the whole process group when dropped (also when the call's future is
/// dropped mid-flight), so no command outlives its tool call.
#[derive(Debug)]
pub(crate) struct GroupKill(pub(crate) Option<Pid>);

impl GroupKill {
    pub(crate) fn kill(&self) {
        if let Some(pgid) = self.0 {
            // ESRCH (group already empty) is the normal case after a clean exit.
            let _ = kill_process_group(pgid, Signal::KILL);
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `bash -c command` in the working directory under `confinement`, with
/// stdout and stderr on one pipe (their interleaving as the model expects), in
/// its own process group, with a scrubbed environment and `tmp` as TMPDIR.
/// Returns the child and the pipe's read end. Shared with `background`, so a
/// background process is confined exactly like a call.
pub(crate) fn spawn_confined(
    ctx: &ToolContext,
    command: &str,
    tmp: &std::path::Path,
    confinement: Arc<Confinement>,
) -> std::io::Result<(tokio::process::Child, std::io::PipeReader)> {
    let (reader, writer) = std::io::pipe()?;
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg("-c")
        .arg(command)
        .current_dir(&ctx.cwd)
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .env("TMPDIR", tmp)
        // Own process group (pgid = the child's pid): timeout and cancel kill the
        // group; the PID namespace (sandbox `pidns`) takes whatever left it.
        .process_group(0)
        .kill_on_drop(true);
    for (name, _) in std::env::vars_os() {
        if let Some(n) = name.to_str()
            && is_scrubbed(n, &ctx.scrub_env)
        {
            cmd.env_remove(&name);
        }
    }
    let child_side = confinement.clone();
    // SAFETY: `apply_in_child` is async-signal-safe (syscalls on data prepared in
    // the parent, no allocation). `confinement` (and its ruleset fd, O_CLOEXEC)
    // stays alive in the parent until `spawn` returns.
    unsafe {
        cmd.pre_exec(move || child_side.apply_in_child());
    }
    let child = cmd.spawn()?;
    drop(confinement);
    // Drop our copies of the pipe's write end, or the reader never sees EOF.
    drop(cmd);
    Ok((child, reader))
}

async fn run(
    ctx: &ToolContext,
    command: &str,
    timeout: Duration,
    tmp: &std::path::Path,
    confinement: Arc<Confinement>,
    call: &crate::background::CallGuard,
) -> Result<ToolOutput, ToolError> {
    let spawn_err = |e: std::io::Error| ToolError::Internal {
        tool: "bash".into(),
        message: format!("cannot start bash: {e}"),
    };
    // Stopped before it started (a halt or delegation while the sandbox was being
    // built): never start it. One stopped between here and `started` is killed there.
    if let Some(why) = call.stopped() {
        return Ok(ToolOutput::new(
            format!("[killed: {why}]\n[not started]"),
            false,
        ));
    }
    let in_namespace = confinement.layers().pid_namespace;
    let (mut child, reader) = spawn_confined(ctx, command, tmp, confinement).map_err(spawn_err)?;
    let group = GroupKill(child.id().and_then(|id| Pid::from_raw(id as i32)));
    if !call.started(group.0) {
        group.kill();
    }

    let capture = Arc::new(Mutex::new(HeadTail::new(ctx.shell.output_cap_bytes)));
    let reader_task = {
        let capture = capture.clone();
        let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))
            .map_err(spawn_err)?;
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match rx.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => capture
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(&buf[..n]),
                }
            }
        })
    };

    let ending = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => Ending::Exited(s),
            Err(e) => return Err(spawn_err(e)),
        },
        _ = tokio::time::sleep(timeout) => Ending::TimedOut,
        _ = ctx.cancel.cancelled() => Ending::Cancelled,
    };
    // Always kill the group: after a clean exit this ends leftover background jobs
    // that would otherwise hold the output pipe and outlive the call. In a PID
    // namespace that is already done; without one, what left the group is found
    // by its TMPDIR.
    group.kill();
    if !in_namespace {
        let tmp = tmp.to_owned();
        let _ = tokio::task::spawn_blocking(move || crate::sandbox::kill_by_tmpdir(&tmp)).await;
    }
    let status = match &ending {
        Ending::Exited(s) => Some(*s),
        // Reap bash so no zombie is left.
        _ => child.wait().await.ok(),
    };
    let drained = tokio::time::timeout(DRAIN_GRACE, reader_task).await.is_ok();

    if let Ending::Cancelled = ending {
        return Err(ToolError::Cancelled {
            tool: "bash".into(),
        });
    }
    let cap = capture.lock().unwrap_or_else(|p| p.into_inner());
    let mut text = cap.render();
    let truncated = cap.omitted() > 0;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !drained {
        text.push_str(
            "[output may be incomplete: a process that left the command's process group still holds its output]\n",
        );
    }
    if let Some(why) = call.stopped() {
        text.push_str(&format!("[killed: {why}]\n"));
    }
    match ending {
        Ending::TimedOut => text.push_str(&format!(
            "[timed out after {} s: the command's whole process group was killed]",
            timeout.as_secs_f64()
        )),
        _ => text.push_str(&exit_line(status)),
    }
    Ok(ToolOutput::new(text, truncated))
}

pub(crate) fn exit_line(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("[exit code: {c}]"),
            (None, Some(sig)) => format!("[killed by signal {sig}]"),
            _ => "[exit status unknown]".into(),
        },
        None => "[exit status unknown]".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_keys_and_configured_patterns_are_scrubbed() {
        assert!(is_scrubbed("OPENAI_API_KEY", &[]));
        assert!(is_scrubbed("MY_SERVICE_API_KEY", &[]));
        assert!(!is_scrubbed("GITHUB_TOKEN", &[]));
        assert!(is_scrubbed("GITHUB_TOKEN", &["*_TOKEN".into()]));
        assert!(!is_scrubbed("PATH", &["*_TOKEN".into()]));
        assert!(is_scrubbed("PODS_RUNTIME_DIR", &[]));
        assert!(is_scrubbed("XDG_RUNTIME_DIR", &[]));
        assert!(!is_scrubbed("XDG_CONFIG_HOME", &[]));
    }
}
