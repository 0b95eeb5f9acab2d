//! The layered sandbox for every process a Pod starts (the `bash` tool now; MCP
//! servers and hooks through the same [`Confinement`]), on the model of
//! bubblewrap. Each layer covers what the others cannot:
//!
//! 1. **fds**: every inherited fd ≥ 3 is closed at exec ([`close_inherited_fds`]);
//!    Landlock does not check fds opened before it applies.
//! 2. **mounts** (`mounts`): own mount namespace (plus user namespace when not
//!    root), everything read-only except the write grants (`nodev`, `nosuid`):
//!    stops metadata changes outside the scope, which Landlock does not mediate;
//!    hidden paths (the runtime directory) masked by an empty tmpfs.
//! 3. **capabilities** (`caps`): a root process keeps only DAC_OVERRIDE,
//!    DAC_READ_SEARCH and NET_BIND_SERVICE; no MKNOD, SYS_ADMIN, SYS_RAWIO, ...
//! 4. **no_new_privs**: no setuid binary or file capability raises privileges.
//! 5. **Landlock** (`landlock`): reads and writes confined to the scope; no device
//!    nodes made; signals and abstract unix sockets scoped to the sandbox.
//! 6. **seccomp** (`seccomp`), only where the mount layer is unavailable: the
//!    metadata syscalls are refused everywhere.
//! 7. **processes** (`pidns`): its own PID namespace, so everything the process
//!    starts (also `setsid`/`nohup`/double-forked) dies with it and with the
//!    runtime; had wherever the mount layer is (same privilege). Without it only
//!    the process group is killed, then every process whose environment carries
//!    the call's private TMPDIR ([`kill_by_tmpdir`]; [`Layers::pid_namespace`]
//!    is false, and the runtime says so in `pod doctor` and its log).
//!
//! All of it is prepared in the parent ([`Confinement::for_scope`]); the child
//! only makes syscalls on prepared data ([`Confinement::apply_in_child`]), which
//! keeps it async-signal-safe for `pre_exec` after a fork of a threaded runtime.

mod caps;
mod landlock;
mod links;
mod mounts;
mod pidns;
mod pins;
mod seccomp;

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use scope::Scope;

use self::caps::CapDrop;
pub use self::landlock::{
    SYSTEM_READ_PATHS, SYSTEM_WRITE_FILES, SandboxError, grant_except, landlock_abi,
    landlock_available,
};
use self::links::names_leaving;
pub use self::links::{LinkLeaving, links_leaving};
use self::mounts::MountPlan;
pub use self::pidns::kill_by_tmpdir;
pub use self::pins::{FileId, Pins, identity, open_unfollowed};

/// Which layers a [`Confinement`] applies (for `pod doctor` and a Pod's status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layers {
    /// Landlock confines reads and writes.
    pub landlock: bool,
    /// Landlock also scopes signals and abstract unix sockets (ABI 6+).
    pub landlock_scopes: bool,
    /// The read-only mount namespace stops metadata changes outside the scope.
    pub mount_namespace: bool,
    /// Capabilities are dropped (root, or a fresh user namespace).
    pub capabilities_dropped: bool,
    /// seccomp refuses metadata syscalls everywhere (the mount layer's fallback).
    pub seccomp_metadata: bool,
    /// Files in the write scope with hard links leaving it are read-only (the
    /// scan ran within its budget and the mount layer is there to enforce it).
    pub hard_links_guarded: bool,
    /// Its own PID namespace: nothing it starts outlives it, whatever session or
    /// process group it moves to. Without it, only its process group is killed.
    pub pid_namespace: bool,
}

/// What the running kernel and this process can have, probed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Support {
    /// The kernel's Landlock ABI version (`None`: no Landlock).
    pub landlock_abi: Option<u32>,
    /// How the mount layer is had: `None` when it cannot be.
    pub mount_namespace: Option<NamespaceKind>,
    /// Whether seccomp filters can be installed.
    pub seccomp: bool,
    /// Whether a confined process gets its own PID namespace (needs the mount
    /// layer's privilege: root or an unprivileged user namespace).
    pub pid_namespace: bool,
}

/// How the mount namespace is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceKind {
    /// A mount namespace alone (the process has CAP_SYS_ADMIN).
    Mount,
    /// A user namespace owning a mount namespace (unprivileged user namespaces).
    UserAndMount,
}

/// What the kernel supports for the sandbox (probed once per process by
/// starting `true` under the mount layer).
pub fn support() -> Support {
    static SUPPORT: OnceLock<Support> = OnceLock::new();
    *SUPPORT.get_or_init(|| {
        let mount_namespace = probe_mount_layer();
        let pid_namespace =
            mount_namespace.is_some_and(|k| probe(k == NamespaceKind::UserAndMount, true));
        Support {
            landlock_abi: landlock_abi(),
            mount_namespace,
            // SAFETY: PR_GET_SECCOMP takes no pointer; it fails (EINVAL) only on
            // kernels built without seccomp.
            seccomp: unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } >= 0,
            pid_namespace,
        }
    })
}

fn probe_mount_layer() -> Option<NamespaceKind> {
    if rustix::process::geteuid().is_root() && probe(false, false) {
        Some(NamespaceKind::Mount)
    } else if probe(true, false) {
        Some(NamespaceKind::UserAndMount)
    } else {
        None
    }
}

/// Starts `true` under the mount layer (`userns`: with a user namespace) and,
/// with `pidns`, in its own PID namespace; whether it ran.
fn probe(userns: bool, pidns: bool) -> bool {
    let Ok(plan) = MountPlan::new(&[], &[], &[], Path::new("/"), userns) else {
        return false;
    };
    let mut cmd = std::process::Command::new("true");
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: `apply`, `unshare` and `split` only make syscalls on data
    // prepared above.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            plan.apply()?;
            if pidns {
                self::pidns::unshare()?;
                self::pidns::split()?;
            }
            Ok(())
        });
    }
    cmd.status().is_ok_and(|s| s.success())
}

/// Choices for [`Confinement::for_scope`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Behave as if the kernel had no Landlock (tests of the fallback policy).
    pub without_landlock: bool,
    /// Behave as if no mount namespace could be had (the seccomp fallback).
    pub without_mount_namespace: bool,
    /// Entries of the write scope scanned at most, per process started, for
    /// files whose hard links leave it (0: no scan). Past it the scan is dropped
    /// and [`Layers::hard_links_guarded`] is false.
    pub hard_link_scan_limit: usize,
    /// Directories masked by an empty read-only tmpfs in the mount layer (the
    /// runtime directory: other Pods' sockets and tokens). Without the mount
    /// layer only Landlock's rules protect them.
    pub hidden: Vec<PathBuf>,
    /// Identities of the write roots recorded when the scope was granted
    /// (unrecorded ones are recorded on first use).
    pub pins: Pins,
}

/// The scan costs one `lstat` per entry, about 5 µs each on a warm cache
/// (measured in a debug build: 0.16 s per call for a 31 000-entry Rust workspace
/// with its `target/`), paid on every process started. 20 000 entries keep that
/// under ~0.1 s; larger write scopes are not guarded unless the runtime raises it.
pub const DEFAULT_HARD_LINK_SCAN_LIMIT: usize = 20_000;

impl Default for Options {
    fn default() -> Options {
        Options {
            without_landlock: false,
            without_mount_namespace: false,
            hard_link_scan_limit: DEFAULT_HARD_LINK_SCAN_LIMIT,
            hidden: Vec::new(),
            pins: Pins::default(),
        }
    }
}

/// A prepared sandbox for one process: build it in the parent, apply it in the
/// child between fork and exec.
///
/// ```no_run
/// # fn demo(scope: &scope::Scope) -> Result<(), Box<dyn std::error::Error>> {
/// use std::os::unix::process::CommandExt;
/// use std::path::Path;
/// use tools::sandbox::{Confinement, Options};
/// let tmp = Path::new("/tmp/private-0700-dir");
/// let c = std::sync::Arc::new(Confinement::for_scope(
///     scope, Path::new("/work/repo"), tmp, &[], Options::default())?);
/// let mut cmd = std::process::Command::new("my-mcp-server");
/// let child_side = c.clone();
/// // SAFETY: apply_in_child is async-signal-safe.
/// unsafe { cmd.pre_exec(move || child_side.apply_in_child()) };
/// cmd.current_dir("/work/repo").spawn()?;
/// drop(c); // after spawn: the ruleset fd must stay open until then
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Confinement {
    starter: u32,
    ruleset: Option<OwnedFd>,
    mounts: Option<MountPlan>,
    caps: Option<CapDrop>,
    seccomp: Option<seccompiler::BpfProgram>,
    hard_links_guarded: bool,
    pid_namespace: bool,
}

impl Confinement {
    /// Prepares the sandbox for a process of a Pod whose effective scope is
    /// `scope`, started in `cwd`, with `tmp` as its private writable temp dir and
    /// `extra_readable` readable beyond the scope and the system directories.
    /// Blocking (walks directories around deny regions; probes once).
    pub fn for_scope(
        scope: &Scope,
        cwd: &Path,
        tmp: &Path,
        extra_readable: &[PathBuf],
        opts: Options,
    ) -> Result<Confinement, SandboxError> {
        let grants = self::landlock::grants(scope, tmp, extra_readable);
        let ruleset = if opts.without_landlock {
            None
        } else {
            self::landlock::build_ruleset(&grants, &opts.pins)?
        };
        if ruleset.is_none() {
            // The mount layer alone bounds writes then: same identity check.
            self::landlock::verify_roots(&grants, &opts.pins)?;
        }
        // The mount layer binds the temp dir writable too.
        let mut writable = grants.write.clone();
        writable.push(grants.tmp.clone());
        let kind = if opts.without_mount_namespace {
            None
        } else {
            support().mount_namespace
        };
        // Only the mount layer can make single files inside a granted subtree
        // read-only, so the scan is skipped without it.
        let leaving = match (kind, opts.hard_link_scan_limit) {
            (Some(_), limit) if limit > 0 => names_leaving(&grants.write, limit),
            _ => None,
        };
        if kind.is_some() && leaving.is_none() && opts.hard_link_scan_limit > 0 {
            tracing::warn!(
                limit = opts.hard_link_scan_limit,
                "write scope too large to scan for hard links leaving it; not guarded"
            );
        }
        let mounts = match kind {
            Some(k) => Some(MountPlan::new(
                &writable,
                leaving.as_deref().unwrap_or_default(),
                &opts.hidden,
                cwd,
                k == NamespaceKind::UserAndMount,
            )?),
            None => None,
        };
        let in_userns = kind == Some(NamespaceKind::UserAndMount);
        let caps = CapDrop::needed(in_userns).then(|| CapDrop::new(in_userns));
        let seccomp = match kind {
            Some(_) => None,
            None => Some(self::seccomp::metadata_filter()?),
        };
        let pid_namespace = mounts.is_some() && support().pid_namespace;
        if !pid_namespace {
            warn_no_pid_namespace();
        }
        Ok(Confinement {
            starter: std::process::id(),
            ruleset,
            mounts,
            caps,
            seccomp,
            hard_links_guarded: leaving.is_some(),
            pid_namespace,
        })
    }

    /// The layers this confinement applies.
    pub fn layers(&self) -> Layers {
        Layers {
            landlock: self.ruleset.is_some(),
            landlock_scopes: self.ruleset.is_some() && support().landlock_abi >= Some(6),
            mount_namespace: self.mounts.is_some(),
            capabilities_dropped: self.caps.is_some(),
            seccomp_metadata: self.seccomp.is_some(),
            hard_links_guarded: self.hard_links_guarded,
            pid_namespace: self.pid_namespace,
        }
    }

    /// Applies every layer to the calling process. Call it from
    /// `Command::pre_exec` (in the child between fork and exec), and keep `self`
    /// alive in the parent until `spawn` returned.
    ///
    /// Async-signal-safe: after `fork` in a multi-threaded parent another thread
    /// may have held the allocator's or any other lock, so this only makes
    /// syscalls on data prepared in [`Confinement::for_scope`]; errors are plain
    /// errno values.
    pub fn apply_in_child(&self) -> std::io::Result<()> {
        die_with_parent(self.starter)?;
        close_inherited_fds()?;
        if let Some(m) = &self.mounts {
            m.apply()?;
        }
        if self.pid_namespace {
            // Still holding CAP_SYS_ADMIN in the mount layer's user namespace.
            self::pidns::unshare()?;
        }
        if let Some(c) = &self.caps {
            c.apply()?;
        }
        rustix::thread::set_no_new_privs(true)?;
        if let Some(fd) = &self.ruleset {
            self::landlock::restrict_self(fd.as_raw_fd())?;
        }
        if let Some(prog) = &self.seccomp {
            self::seccomp::apply(prog)?;
        }
        if self.pid_namespace {
            // Last: the two processes that stay behind are as confined as the
            // command.
            self::pidns::split()?;
        }
        Ok(())
    }
}

/// Says once per process, loudly, that commands' leftovers are only killed by
/// process group here: one that calls `setsid` can outlive its call.
fn warn_no_pid_namespace() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::warn!(
            "no PID namespace for tool processes on this system (needs root or unprivileged user namespaces): leftovers of a tool call are found by their TMPDIR (a process that clears its environment escapes), and processes that left their group outlive a Pod killed with SIGKILL"
        );
    });
}

/// Marks every fd ≥ 3 close-on-exec, so a process started next inherits only
/// stdin, stdout and stderr (a Pod started as `pod run … 7>>file` must not hand
/// fd 7 to its tools: Landlock does not check fds opened before it applies).
///
/// Call it in `pre_exec` (async-signal-safe) or early in a launcher. Marking
/// instead of closing keeps fds the exec itself needs (std's error pipe) until
/// the exec. Hand-written: `close_range(2)` has no rustix wrapper; Linux 5.11+
/// for `CLOSE_RANGE_CLOEXEC`, older kernels get the per-fd loop.
pub fn close_inherited_fds() -> std::io::Result<()> {
    // SAFETY: integer arguments only.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::ENOSYS | libc::EINVAL)) {
        return Err(err);
    }
    let max = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(65_536)
        .min(1 << 20) as i32;
    for fd in 3..max {
        // SAFETY: F_SETFD on a possibly-closed fd only fails with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// The command gets SIGKILL when the process that started it dies
/// (PR_SET_PDEATHSIG), so a command of a Pod killed with SIGKILL does not run on
/// unattended. `starter` is the starting process's pid: if it already died
/// before the prctl, the command is not started at all. (The signal follows the
/// starting *thread*; tool calls start from the runtime's long-lived worker
/// threads.)
fn die_with_parent(starter: u32) -> std::io::Result<()> {
    // SAFETY: plain syscalls with integer arguments.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::getppid() as u32 != starter {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn close_inherited_fds_hides_every_fd_above_stderr_from_the_exec() {
        let f = tempfile::tempfile().unwrap();
        // SAFETY: F_DUPFD on a valid fd; the copy (without O_CLOEXEC, as a shell's
        // `7>file` leaves it) is closed below.
        let fd = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_DUPFD, 100) };
        assert!(fd >= 100);
        let listing = |close: bool| {
            let mut cmd = std::process::Command::new("ls");
            cmd.arg("/proc/self/fd");
            if close {
                // SAFETY: close_inherited_fds is async-signal-safe.
                unsafe { cmd.pre_exec(close_inherited_fds) };
            }
            String::from_utf8(cmd.output().unwrap().stdout).unwrap()
        };
        let fds = |s: &str| {
            s.lines()
                .filter_map(|l| l.parse::<i32>().ok())
                .collect::<Vec<_>>()
        };
        assert!(fds(&listing(false)).contains(&fd));
        // `ls` itself opens one fd for the directory it lists.
        let after = fds(&listing(true));
        // SAFETY: our own dup from above.
        unsafe { libc::close(fd) };
        assert!(after.iter().all(|&n| n <= 3), "{after:?}");
    }
}
