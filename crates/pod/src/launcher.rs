//! Starting a Pod process: the same binary with the hidden `__serve` subcommand, its
//! launch config in a 0600 file (the child then calls `setsid`: its own session and
//! process group, so a terminal's Ctrl-C, hangup or the launcher's exit do not take
//! it down), stderr to `{runtime}/{name}/pod.log`.
//! Readiness is the child's first stdout line (`ready` or `error: ...`), read with a
//! deadline; no sleeping or polling.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use pod_ids::Roots;

use crate::cli::exit::{Exit, fail};
use crate::launch::LaunchConfig;
use crate::layout::PodPaths;
use crate::process::READY_LINE;

/// The executable that serves Pods: `$POD_EXE` if set (benches, tests of other
/// binaries), else this executable.
pub fn pod_exe() -> anyhow::Result<PathBuf> {
    match std::env::var_os("POD_EXE").filter(|v| !v.is_empty()) {
        Some(p) => Ok(PathBuf::from(p)),
        None => std::env::current_exe().context("cannot find the pod executable"),
    }
}

/// Starts the Pod process described by `cfg` and returns its pid once it is ready.
pub fn launch(roots: &Roots, cfg: &LaunchConfig, timeout: Duration) -> anyhow::Result<u32> {
    let paths = PodPaths::new(roots, &cfg.name);
    // A Pod that never started leaves nothing behind: a runtime dir this launch
    // created is removed again if the start fails (one that existed belongs to an
    // earlier or a live process of this name and is left alone).
    let created_dir = !paths.dir.exists();
    let cleanup = |file: &std::path::Path| {
        let _ = std::fs::remove_file(file);
        if created_dir {
            let _ = std::fs::remove_dir_all(&paths.dir);
        }
    };
    paths
        .ensure_dirs()
        .with_context(|| format!("cannot create runtime dir {}", paths.dir.display()))?;
    let file = cfg.write_to(&paths.dir)?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(paths.log())
        .with_context(|| format!("cannot open {}", paths.log().display()))?;
    let mut cmd = Command::new(pod_exe()?);
    // SAFETY: the closure only makes one syscall (close_range or fcntl), which is
    // async-signal-safe, as pre_exec requires.
    unsafe {
        // Descriptors the invoking shell passed us (`pod run 7>>file`, a test
        // harness's pipes, cargo's jobserver) must not live on in a Pod that
        // outlives this command: everything above stderr closes at exec.
        cmd.pre_exec(tools::sandbox::close_inherited_fds);
    }
    let mut child = cmd
        .arg("__serve")
        .arg("--launch")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .context("cannot start the Pod process")?;
    let pid = child.id();
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("Pod process has no stdout"))?;
    let (tx, rx) = mpsc::channel();
    // A blocking read with a deadline: the reader thread owns the pipe, the caller
    // waits on the channel with a timeout.
    std::thread::spawn(move || {
        let mut line = String::new();
        let r = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = tx.send(r);
    });
    let line = match rx.recv_timeout(timeout) {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => bail!("cannot read the Pod process's readiness: {e}"),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            cleanup(&file);
            bail!(
                "Pod {} did not become ready within {}s; see {}",
                cfg.name.as_str(),
                timeout.as_secs(),
                paths.log().display()
            );
        }
    };
    let line = line.trim_end();
    if line == READY_LINE {
        return Ok(pid);
    }
    let _ = child.wait();
    cleanup(&file);
    match parse_error_line(line) {
        Some((code, msg)) => Err(fail(code, msg)),
        None => bail!(
            "Pod {} exited during startup; see {}",
            cfg.name.as_str(),
            paths.log().display()
        ),
    }
}

/// `error[CODE]: message` (or the older `error: message`) → exit code and message.
fn parse_error_line(line: &str) -> Option<(Exit, String)> {
    if let Some(msg) = line.strip_prefix("error: ") {
        return Some((Exit::Failed, msg.to_owned()));
    }
    let rest = line.strip_prefix("error[")?;
    let (code, msg) = rest.split_once("]: ")?;
    let code = match code {
        "2" => Exit::Usage,
        "3" => Exit::Config,
        "4" => Exit::Conflict,
        _ => Exit::Failed,
    };
    Some((code, msg.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_carry_their_exit_code() {
        assert_eq!(
            parse_error_line("error[4]: held by x"),
            Some((Exit::Conflict, "held by x".into()))
        );
        assert_eq!(
            parse_error_line("error: old style"),
            Some((Exit::Failed, "old style".into()))
        );
        assert_eq!(parse_error_line("ready"), None);
    }
}
