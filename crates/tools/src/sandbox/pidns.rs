//! The process layer: a confined command runs in a PID namespace of its own, so
//! nothing it starts can outlive it, whatever session or process group it moves
//! to (`setsid`, `nohup`, `disown`, double forks).
//!
//! The kernel does the work: when a PID namespace's init dies, every process in
//! the namespace is killed and reaped. The chain, built between fork and exec:
//!
//! ```text
//! runtime ── outer (the spawned child: pid the runtime sees, pgid of all three)
//!              └── init (pid 1 of the new namespace; dies with `outer`)
//!                    └── the command (pid 2; `bash -c …`)
//! ```
//!
//! `outer` waits for `init` and exits with its status; `init` reaps orphans and
//! exits with the command's status as soon as the command exits, which ends the
//! namespace. Killing `outer`'s process group (timeout, cancel, end of call) or
//! the runtime dying (`outer` has PR_SET_PDEATHSIG, `init` too, relative to
//! `outer`) ends it as well. Why not a cgroup: it needs a delegated cgroup
//! subtree (systemd user slices), absent in most containers and CI; a PID
//! namespace needs only what the mount layer already needs (root or an
//! unprivileged user namespace). Why not the command as pid 1: init ignores
//! signals it has no handler for, so `kill $$` and a model's `kill 1`-style
//! cleanup would silently do nothing.
//!
//! Hand-written (fork, waitpid, close_range through libc): this runs after a
//! fork of a threaded process, where only async-signal-safe syscalls are
//! allowed; no crate offers a pre-exec-safe PID-namespace init.

use std::io;

/// Enters a new PID namespace for the children of the calling process. Call it
/// while the process still holds CAP_SYS_ADMIN in its user namespace (right after
/// the mount layer's `unshare`, before capabilities are dropped).
pub(crate) fn unshare() -> io::Result<()> {
    // SAFETY: an integer flag; affects only the calling (single-threaded) child.
    if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Builds the `outer → init → command` chain. Returns (with `Ok`) only in the
/// command's process, which then goes on to `exec`; `outer` and `init` never
/// return. Async-signal-safe: raw syscalls only.
pub(crate) fn split() -> io::Result<()> {
    // SAFETY: plain syscalls with integer arguments; after fork each side only
    // makes further syscalls and `_exit`s (never unwinds or allocates).
    unsafe {
        // A pidfd on `outer`, so `init` can tell whether `outer` already died
        // before `init` asked for its death signal (kernels before 5.3: none).
        let outer_fd =
            libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0 as libc::c_uint) as libc::c_int;
        let init = libc::fork();
        if init < 0 {
            return Err(io::Error::last_os_error());
        }
        if init > 0 {
            // `outer`. A polite stop (SIGTERM/SIGINT/SIGHUP to the group) is for
            // the command, not for `outer`, whose death would SIGKILL everything.
            for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
                libc::signal(sig, libc::SIG_IGN);
            }
            // Close every fd: std's exec-error pipe must reach EOF once
            // the command has exec'd, and the output pipe must not be held here.
            close_all();
            libc::_exit(wait_for(init));
        }
        // `init`, pid 1 of the new namespace.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
            libc::_exit(127);
        }
        if outer_fd >= 0 {
            let mut p = libc::pollfd {
                fd: outer_fd,
                events: libc::POLLIN,
                revents: 0,
            };
            if libc::poll(&mut p, 1, 0) != 0 {
                libc::_exit(127); // `outer` is gone (or cannot be watched)
            }
            libc::close(outer_fd);
        }
        let command = libc::fork();
        if command < 0 {
            return Err(io::Error::last_os_error());
        }
        if command == 0 {
            return Ok(()); // the command: std goes on to exec it
        }
        close_all();
        loop {
            let mut status = 0;
            let pid = libc::waitpid(-1, &mut status, 0);
            if pid == command {
                // Returning from init ends the namespace: the kernel kills and
                // reaps whatever the command left behind.
                libc::_exit(exit_code(status));
            }
            if pid < 0 && *libc::__errno_location() != libc::EINTR {
                libc::_exit(127);
            }
        }
    }
}

/// Waits for `pid` and returns its exit code (128 + signal when killed, as a
/// shell reports it).
unsafe fn wait_for(pid: libc::pid_t) -> libc::c_int {
    loop {
        let mut status = 0;
        // SAFETY: a valid pointer to a local.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return exit_code(status);
        }
        // SAFETY: reading this thread's errno.
        if r < 0 && unsafe { *libc::__errno_location() } != libc::EINTR {
            return 127;
        }
    }
}

fn exit_code(status: libc::c_int) -> libc::c_int {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        127
    }
}

/// Closes every fd of the calling process (close_range(2), Linux 5.9+; older
/// kernels get the per-fd loop).
fn close_all() {
    // SAFETY: integer arguments only.
    unsafe {
        if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) == 0 {
            return;
        }
        for fd in 0..4096 {
            libc::close(fd);
        }
    }
}

/// The fallback where no PID namespace can be had: kills every process whose
/// environment names `tmp` (the call's private, randomly named TMPDIR) as its
/// `TMPDIR`, which everything a command starts inherits, also after `setsid`,
/// `nohup` or a double fork. Repeated until a scan finds none (a process may fork
/// between scan and kill). A process that clears its environment before exec
/// escapes this; the PID namespace has no such gap. Blocking (reads `/proc`).
pub fn kill_by_tmpdir(tmp: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    let mut marker = b"TMPDIR=".to_vec();
    marker.extend_from_slice(tmp.as_os_str().as_bytes());
    let me = std::process::id();
    for _ in 0..8 {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return;
        };
        let mut found = false;
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if pid == me {
                continue;
            }
            let Ok(env) = std::fs::read(e.path().join("environ")) else {
                continue;
            };
            if env.split(|b| *b == 0).any(|v| v == marker.as_slice())
                && let Some(p) = rustix::process::Pid::from_raw(pid as i32)
            {
                found = true;
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
        }
        if !found {
            return;
        }
    }
}
