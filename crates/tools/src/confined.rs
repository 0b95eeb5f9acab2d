//! A shell command the *runtime* starts on the Pod's behalf (a user's hook), held
//! to exactly the sandbox of the `bash` tool: same [`crate::sandbox::Confinement`]
//! from the current effective scope, same scrubbed environment, own process group
//! killed at the timeout, on drop and after it exits. Unlike `bash` it gets input on
//! stdin and keeps stdout and stderr apart (hook protocols give them different
//! meanings).

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::bash::{GroupKill, confinement, is_scrubbed, private_tmp};
use crate::error::ToolError;
use crate::output_cap::HeadTail;
use crate::tool::ToolContext;

/// Bytes kept of each of stdout and stderr.
const STREAM_CAP: usize = 64 * 1024;

/// How a confined command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfinedRun {
    /// Exit code (`None`: killed by a signal or timed out).
    pub code: Option<i32>,
    /// Its stdout (head and tail kept when long).
    pub stdout: String,
    /// Its stderr (head and tail kept when long).
    pub stderr: String,
    /// It ran past its timeout and its process group was killed.
    pub timed_out: bool,
}

/// Runs `bash -c command` in `ctx.cwd` under the Pod's confinement with `stdin` as
/// its input and `env` added to its (scrubbed) environment. Dropping the future
/// kills the command's whole process group.
pub async fn run_confined(
    ctx: &ToolContext,
    command: &str,
    stdin: &[u8],
    env: &[(&str, String)],
    timeout: Duration,
) -> Result<ConfinedRun, ToolError> {
    let internal = |m: String| ToolError::Internal {
        tool: "hook".into(),
        message: m,
    };
    let tmp = private_tmp().map_err(internal)?;
    // Tracked like a `bash` call: a delegation starting meanwhile ends it.
    let scope = ctx.current_scope();
    let call = ctx.background.track_call(scope.clone());
    let confinement = confinement(ctx, &scope, tmp.path().to_owned()).await?;
    let spawn_err = |e: std::io::Error| internal(format!("cannot start bash: {e}"));
    let (out_r, out_w) = std::io::pipe().map_err(spawn_err)?;
    let (err_r, err_w) = std::io::pipe().map_err(spawn_err)?;
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg("-c")
        .arg(command)
        .current_dir(&ctx.cwd)
        .stdin(Stdio::piped())
        .stdout(out_w)
        .stderr(err_w)
        .env("TMPDIR", tmp.path())
        .process_group(0)
        .kill_on_drop(true);
    for (name, _) in std::env::vars_os() {
        if let Some(n) = name.to_str()
            && is_scrubbed(n, &ctx.scrub_env)
        {
            cmd.env_remove(&name);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child_side = confinement.clone();
    // SAFETY: as in `bash`: `apply_in_child` only makes syscalls on data prepared in
    // the parent, and `confinement` outlives `spawn`.
    unsafe {
        cmd.pre_exec(move || child_side.apply_in_child());
    }
    let mut child = cmd.spawn().map_err(spawn_err)?;
    drop(confinement);
    // Our copies of the write ends go with `cmd`, or the readers never see EOF.
    drop(cmd);
    let group = GroupKill(child.id().and_then(|id| Pid::from_raw(id as i32)));
    if !call.started(group.0) {
        group.kill();
    }
    let read = |r: std::io::PipeReader| -> Result<_, ToolError> {
        let mut rx =
            tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(r)).map_err(spawn_err)?;
        let cap = Arc::new(Mutex::new(HeadTail::new(STREAM_CAP)));
        let c = cap.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n) = rx.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                c.lock().unwrap_or_else(|p| p.into_inner()).push(&buf[..n]);
            }
        });
        Ok((cap, task))
    };
    let (out, out_task) = read(out_r)?;
    let (err, err_task) = read(err_r)?;
    // A hook that does not read its input must not block us: write in the
    // background and ignore a closed pipe.
    if let Some(mut input) = child.stdin.take() {
        let bytes = stdin.to_vec();
        tokio::spawn(async move {
            let _ = input.write_all(&bytes).await;
        });
    }
    let (code, timed_out) = tokio::select! {
        status = child.wait() => (status.map_err(spawn_err)?.code(), false),
        () = tokio::time::sleep(timeout) => (None, true),
    };
    group.kill();
    if timed_out {
        let _ = child.wait().await;
    }
    // Only a process that left the group can hold the pipes open this long.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = out_task.await;
        let _ = err_task.await;
    })
    .await;
    let text = |c: &Arc<Mutex<HeadTail>>| c.lock().unwrap_or_else(|p| p.into_inner()).render();
    Ok(ConfinedRun {
        code,
        stdout: text(&out),
        stderr: text(&err),
        timed_out,
    })
}
