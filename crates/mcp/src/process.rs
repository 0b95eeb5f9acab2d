//! A stdio server's process: started inside the Pod's sandbox (the same
//! [`tools::sandbox::Confinement`] as the shell: Landlock from the Pod's effective
//! scope, the mount layer, dropped capabilities, closed fds, parent-death signal),
//! in its own process group, and killed with that group when dropped.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdin, ChildStdout};
use tools::ToolContext;

use crate::config::ServerConfig;
use crate::error::McpError;

/// Bytes of the server's stderr kept to explain why it failed or exited.
const STDERR_TAIL: usize = 4096;

/// A running stdio server. Dropping it kills the whole process group.
pub(crate) struct Process {
    child: Child,
    pgid: Option<Pid>,
    stderr: Arc<Mutex<String>>,
    // The server's TMPDIR, its only writable place outside the Pod's scope;
    // removed after the group is killed.
    _tmp: tempfile::TempDir,
}

impl Process {
    /// Starts `config.command` confined to `scope` (the Pod's effective scope) and
    /// by `ctx` (cwd, hidden paths, pins, scrubbed environment). Must run on a long-lived thread (a runtime worker,
    /// not `spawn_blocking`): the parent-death signal follows the thread that forks.
    pub(crate) async fn start(
        server: &str,
        config: &ServerConfig,
        ctx: &ToolContext,
        scope: &scope::Scope,
    ) -> Result<(Process, ChildStdout, ChildStdin), McpError> {
        let command = config.command.as_deref().unwrap_or_default();
        let failed = |message: String| McpError::Start {
            server: server.to_owned(),
            message,
        };
        let tmp = tempfile::Builder::new()
            .prefix("pods-mcp-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(|e| failed(format!("cannot create its temp dir: {e}")))?;
        let cwd = match &config.cwd {
            Some(d) => ctx.cwd.join(d),
            None => ctx.cwd.clone(),
        };
        let mut ctx = ctx.clone();
        ctx.cwd = cwd.clone();
        ctx.shell.extra_readable.extend(
            config
                .read
                .iter()
                .map(|p| cwd.join(p))
                .chain(program_home(command, &cwd)),
        );
        let confinement = tools::process_confinement(&ctx, scope, tmp.path().to_owned())
            .await
            .map_err(|e| failed(e.to_string()))?;
        let mut cmd = tokio::process::Command::new(command);
        cmd.args(&config.args)
            .current_dir(&cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("TMPDIR", tmp.path())
            // Own group: stopping the server also stops what it started.
            .process_group(0)
            .kill_on_drop(true);
        for (name, _) in std::env::vars_os() {
            if let Some(n) = name.to_str()
                && tools::is_scrubbed_env(n, &ctx.scrub_env)
                && !config.env_vars.iter().any(|v| v == n)
            {
                cmd.env_remove(&name);
            }
        }
        cmd.envs(&config.env);
        let child_side = confinement.clone();
        // SAFETY: `apply_in_child` is async-signal-safe (syscalls on data prepared
        // in the parent); `confinement` stays alive until `spawn` returned.
        unsafe {
            cmd.pre_exec(move || child_side.apply_in_child());
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| failed(format!("cannot run {command:?}: {e}")))?;
        drop(confinement);
        let pgid = child.id().and_then(|id| Pid::from_raw(id as i32));
        let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
            return Err(failed("no pipes to the server".into()));
        };
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut err) = child.stderr.take() {
            let tail = stderr.clone();
            let name = server.to_owned();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                while let Ok(n) = err.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let chunk = String::from_utf8_lossy(&buf[..n]);
                    tracing::debug!(server = %name, stderr = %chunk.trim_end(), "mcp server");
                    let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                    t.push_str(&chunk);
                    if t.len() > STDERR_TAIL {
                        let mut cut = t.len() - STDERR_TAIL;
                        while !t.is_char_boundary(cut) {
                            cut += 1;
                        }
                        t.drain(..cut);
                    }
                }
            });
        }
        Ok((
            Process {
                child,
                pgid,
                stderr,
                _tmp: tmp,
            },
            stdout,
            stdin,
        ))
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// How it ended, if it did, with the end of its stderr.
    pub(crate) fn exit_report(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok().flatten()?;
        let tail = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let tail = tail.trim();
        Some(if tail.is_empty() {
            format!("exited ({status})")
        } else {
            format!("exited ({status}); its stderr ended with: {tail}")
        })
    }

    /// Kills its process group and waits (briefly) until the server is reaped, so
    /// "stopped" means gone.
    pub(crate) async fn stop(mut self) {
        if let Some(pgid) = self.pgid.take() {
            let _ = kill_process_group(pgid, Signal::KILL);
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.child.wait()).await;
    }

    /// The end of its stderr (for start-up failures).
    pub(crate) fn stderr_tail(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .trim()
            .to_owned()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            // ESRCH (group already gone) is the normal case after an exit.
            let _ = kill_process_group(pgid, Signal::KILL);
        }
        // Reaped by tokio's orphan reaper (kill_on_drop).
    }
}

/// What the program needs to read to run at all when it lives outside the system
/// directories: the directory holding the resolved executable, or for a program
/// installed by npm, its whole `node_modules` tree (its dependencies).
fn program_home(command: &str, cwd: &Path) -> Option<PathBuf> {
    let path = if command.contains('/') {
        cwd.join(command)
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(command))
                .find(|p| p.is_file())
        })?
    };
    let real = std::fs::canonicalize(&path).ok()?;
    let modules = real
        .ancestors()
        .filter(|a| a.file_name().is_some_and(|n| n == "node_modules"))
        .last();
    modules.or_else(|| real.parent()).map(Path::to_path_buf)
}
