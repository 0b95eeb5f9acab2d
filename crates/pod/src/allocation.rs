//! The Pod process's live registry allocation (ARCHITECTURE §5): registered before
//! the Pod touches its record or log (so a scope conflict or duplicate name refuses
//! the start cleanly), held for the process's life, released by incarnation when the
//! process ends — so an exiting process can never delete its successor's row. After
//! a SIGKILL the row is reaped by the next registry operation (pid + start time, or
//! the lease on the PostgreSQL backend).
//!
//! With the PostgreSQL backend the process also holds a lease: tool calls wait at
//! [`await_write_permission`] while it is not renewed; the moment it lapses, a
//! watcher thread stops whatever is running (the hook set by [`on_lease_change`]:
//! shell calls, background processes, MCP servers), so nothing writes on an
//! unrenewed lease, even mid-call; and a fenced Pod (its allocation was reclaimed
//! while it was cut off) exits at once without writing.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pod_ids::{PodName, Roots, SegmentId};
use pod_registry::{
    AdoptRequest, AnyRegistry, FileRegistry, Holding, Incarnation, LeaseGate, LeaseStatus,
    ProcessStamp, RegisterRequest, Registry, RegistryError, ReservationToken,
};

/// This process's allocation; released on drop.
pub struct Allocated {
    registry: AnyRegistry,
    name: PodName,
    stamp: ProcessStamp,
    // Kept for the process's life: the file registry rebuilds this row from it if the
    // table is lost, and the kernel drops it when the process dies (ARCHITECTURE §5
    // "holds"); the PostgreSQL registry's lease is renewed by it. Released after the
    // row, in `drop`.
    hold: Option<Holding>,
}

/// Exit code of a Pod whose allocation was reclaimed while it was cut off from the
/// registry (EX_TEMPFAIL: restore it).
pub const EXIT_FENCED: i32 = 75;

/// This process's lease gate (always open on the file backend).
static GATE: std::sync::OnceLock<LeaseGate> = std::sync::OnceLock::new();

/// How many times this process's lease lapsed (a tool call that sees it change
/// while it ran was stopped, or may have been).
static LAPSES: AtomicU64 = AtomicU64::new(0);

type LeaseHook = Box<dyn Fn(Option<&str>) + Send + Sync>;
/// Called with `Some(reason)` when the lease lapses and `None` when it is renewed.
static ON_CHANGE: Mutex<Option<LeaseHook>> = Mutex::new(None);

/// Sets what stops this process's writers when its lease lapses (`Some(reason)`,
/// from the watcher thread, at once) and lets them run again when it is renewed
/// (`None`).
pub fn on_lease_change(hook: impl Fn(Option<&str>) + Send + Sync + 'static) {
    *ON_CHANGE.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(hook));
}

/// See [`LAPSES`].
pub fn lease_lapses() -> u64 {
    LAPSES.load(Ordering::SeqCst)
}

fn lease_changed(reason: Option<&str>) {
    if let Some(h) = &*ON_CHANGE.lock().unwrap_or_else(|p| p.into_inner()) {
        h(reason);
    }
}

/// Watches the lease: at the local deadline (not at the next tool call) it counts a
/// lapse and runs the hook, so a long shell command stops writing when the lease
/// can no longer be trusted; when renewed, lets processes run again.
fn watch_lease(gate: LeaseGate, pod: PodName) {
    // Long waits: the gate wakes the thread at each renewal and at the deadline.
    const CHECK: Duration = Duration::from_secs(3600);
    loop {
        let why = match gate.wait_lapsed(CHECK) {
            LeaseStatus::Valid => continue,
            LeaseStatus::Fenced(_) => return,
            LeaseStatus::Paused(why) => why,
        };
        LAPSES.fetch_add(1, Ordering::SeqCst);
        tracing::warn!(
            pod = pod.as_str(),
            reason = %why,
            "registry lease lapsed: running tool calls and background processes are stopped and new ones wait until it is renewed"
        );
        lease_changed(Some(&why));
        loop {
            match gate.wait_usable(CHECK) {
                LeaseStatus::Valid => break,
                LeaseStatus::Fenced(_) => return,
                LeaseStatus::Paused(_) => {}
            }
        }
        tracing::info!(
            pod = pod.as_str(),
            "registry lease renewed: tool calls continue"
        );
        lease_changed(None);
    }
}

/// Waits until this process may write (its lease is renewed). `Err` when the Pod was
/// fenced: the caller must not write (the process is exiting).
pub async fn await_write_permission() -> Result<(), String> {
    let Some(gate) = GATE.get() else {
        return Ok(());
    };
    let mut told = false;
    loop {
        match gate.status() {
            LeaseStatus::Valid => return Ok(()),
            LeaseStatus::Fenced(why) => return Err(why),
            LeaseStatus::Paused(why) => {
                if !told {
                    tracing::warn!(reason = %why, "registry lease not renewed: tool calls wait until it is");
                    told = true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Installs the gate of the allocation this process holds; a fenced lease ends the
/// process at once (ARCHITECTURE §5: it must stop without writing and be restored).
fn install_gate(holding: &Holding, name: &PodName) {
    let gate = holding.gate();
    let pod = name.clone();
    gate.on_fenced(move |why| {
        tracing::error!(pod = pod.as_str(), "{why}");
        eprintln!("pod {pod}: {why}");
        std::process::exit(EXIT_FENCED);
    });
    if gate.is_leased() {
        let (g, pod) = (gate.clone(), name.clone());
        if let Err(e) = std::thread::Builder::new()
            .name("lease-watch".into())
            .spawn(move || watch_lease(g, pod))
        {
            // Tool calls still wait at the gate; only calls already running could
            // outlive the lease.
            tracing::error!(error = %e, "cannot start the lease watcher");
        }
    }
    let _ = GATE.set(gate);
}

/// The registry of these roots (one per user and data dir, see `Roots::registry`).
/// Its folder may be the shared `/tmp/pods-{uid}/…`: it must be a directory of ours,
/// 0700, never a symlink someone else planted there.
pub fn registry(roots: &Roots) -> Result<AnyRegistry, RegistryError> {
    let config = crate::config::registry_backend(&roots.config)
        .map_err(|e| RegistryError::Config(e.to_string()))?;
    match config.backend {
        pod_registry::BackendKind::File => file_registry(roots).map(AnyRegistry::File),
        pod_registry::BackendKind::Postgres => AnyRegistry::open(&config, roots.registry.clone()),
    }
}

fn file_registry(roots: &Roots) -> Result<FileRegistry, RegistryError> {
    let io = |source| RegistryError::Io {
        path: roots.registry.clone(),
        source,
    };
    // Top down: a planted symlink is refused before anything is created through it.
    let shared: Vec<&std::path::Path> = roots
        .registry
        .ancestors()
        .filter(|d| d.starts_with("/tmp") && d.components().count() > 2)
        .collect();
    for dir in shared.into_iter().rev() {
        crate::layout::ensure_private_dir(dir).map_err(io)?;
        let meta = std::fs::symlink_metadata(dir).map_err(io)?;
        let ours = std::os::unix::fs::MetadataExt::uid(&meta) == rustix::process::getuid().as_raw();
        if !meta.is_dir() || !ours {
            return Err(io(std::io::Error::other(
                "not a directory of this user: remove it or set PODS_RUNTIME_DIR",
            )));
        }
    }
    FileRegistry::open(roots.registry.clone())
}

impl Allocated {
    /// Registers this process as Pod `name` with `scope`; a restoring Pod names its
    /// outstanding children, which the registry re-links in the same transaction.
    pub fn register(
        roots: &Roots,
        name: &PodName,
        scope: &scope::Scope,
        socket: PathBuf,
        restoring_children: Vec<PodName>,
    ) -> Result<(Allocated, pod_registry::Allocation), RegistryError> {
        let registry = registry(roots)?;
        let stamp = ProcessStamp::current()?;
        let (row, hold) = registry.register_held(RegisterRequest {
            name: name.clone(),
            process: stamp,
            socket: Some(socket),
            allow: scope.allow.clone(),
            deny: scope.deny.clone(),
            segment_id: None,
            restoring_children,
        })?;
        install_gate(&hold, name);
        Ok((
            Allocated {
                registry,
                name: name.clone(),
                stamp,
                hold: Some(hold),
            },
            row,
        ))
    }

    /// A child process takes the reservation its parent made for it (two-phase
    /// spawn, ARCHITECTURE §5 "Delegate"): only the holder of the one-time token can.
    pub fn adopt(
        roots: &Roots,
        name: &PodName,
        token: &str,
        socket: PathBuf,
    ) -> Result<(Allocated, pod_registry::Allocation), RegistryError> {
        let registry = registry(roots)?;
        let stamp = ProcessStamp::current()?;
        let (row, hold) = registry.adopt_held(AdoptRequest {
            name: name.clone(),
            token: ReservationToken::from_secret(token),
            process: stamp,
            socket: Some(socket),
            segment_id: None,
        })?;
        install_gate(&hold, name);
        Ok((
            Allocated {
                registry,
                name: name.clone(),
                stamp,
                hold: Some(hold),
            },
            row,
        ))
    }

    /// This process's incarnation (what delegations and releases are checked against).
    pub fn incarnation(&self) -> Incarnation {
        self.stamp.incarnation
    }

    /// The registry this allocation lives in.
    pub fn registry(&self) -> &AnyRegistry {
        &self.registry
    }

    /// Records the segment this Pod appends to.
    pub fn set_segment(&self, segment: SegmentId) -> Result<(), RegistryError> {
        self.registry
            .update_segment(&self.name, self.stamp.incarnation, Some(segment))
    }
}

impl Drop for Allocated {
    fn drop(&mut self) {
        if let Err(e) = self.registry.release(&self.name, self.stamp.incarnation) {
            tracing::warn!(error = %e, pod = self.name.as_str(), "cannot release registry allocation");
        }
        // The row is gone (or will be reaped): only now let go of the hold, so the
        // row can never be rebuilt from a hold whose holder already released it.
        drop(self.hold.take());
    }
}
