//! Watching and ending child processes.
//!
//! A child is watched through a pidfd (`pidfd_open`), which works the same whether
//! this process started the child (its OS parent) or relinked it after a restore
//! (not its OS parent): the fd becomes readable when the process exits, and it names
//! exactly that process, so a reused pid can never be mistaken for the child.

use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

/// Opens a pidfd for `pid` and returns a receiver that becomes `Some(reason)` once the
/// process has exited. `None` when the process is already gone.
pub fn watch_exit(pid: u32) -> Option<watch::Receiver<Option<String>>> {
    let raw = Pid::from_raw(i32::try_from(pid).ok()?)?;
    let fd: OwnedFd = rustix::process::pidfd_open(raw, PidfdFlags::empty()).ok()?;
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        // SAFETY: the AsyncFd owns the OwnedFd outright (moved in), so the fd stays
        // open and is not reused for as long as it is registered.
        let reason = match unsafe { AsyncFd::register(fd) } {
            Ok(afd) => {
                let _ = afd.readable().await;
                reap(raw)
            }
            Err(e) => format!("cannot watch the process: {e}"),
        };
        tx.send_replace(Some(reason));
        // Keep the channel open for late subscribers until every receiver is gone.
        tx.closed().await;
    });
    Some(rx)
}

/// Reaps `pid` if it is our OS child (else it is not ours to reap: `ECHILD`) and
/// describes how it ended.
fn reap(pid: Pid) -> String {
    match rustix::process::waitpid(Some(pid), WaitOptions::NOHANG) {
        Ok(Some((_, status))) => {
            if let Some(code) = status.exit_status() {
                format!("exited with status {code}")
            } else if let Some(sig) = status.terminating_signal() {
                format!("killed by signal {sig}")
            } else {
                "exited".into()
            }
        }
        _ => "exited".into(),
    }
}

/// Waits until `exit` reports the process gone, at most `grace`. True when gone.
pub async fn wait_gone(exit: &mut watch::Receiver<Option<String>>, grace: Duration) -> bool {
    tokio::time::timeout(grace, exit.wait_for(Option::is_some))
        .await
        .is_ok_and(|r| r.is_ok())
}

/// Sends `sig` to the child's process group (the child called `setsid`, so its
/// group id is its pid, and its tool processes' groups are killed by the child).
pub fn signal_group(pid: u32, sig: Signal) {
    if let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw)
        && let Err(e) = rustix::process::kill_process_group(p, sig)
    {
        tracing::debug!(pid, error = %e, "signal child group");
    }
}

/// The last `max` bytes of a child's `pod.log` (its stderr), for error reports.
pub fn stderr_tail(path: &std::path::Path, max: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let start = bytes.len().saturating_sub(max);
            String::from_utf8_lossy(&bytes[start..]).trim().to_string()
        }
        Err(_) => String::new(),
    }
}
