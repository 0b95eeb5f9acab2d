//! The holder's side of a lease: a background thread renews it, and a [`LeaseGate`]
//! tells the holder, on its own monotonic clock, whether it may write right now.
//!
//! Why the local deadline is safe: a renewal that starts at local instant `t0` makes
//! the server set `expiry = clock_timestamp() + lease`, read after `t0`; so the lease
//! lasts at least until `t0 + lease` in real time. The holder counts itself valid
//! only until `t0 + lease − margin` (a quarter of the lease), which leaves room for
//! clock-rate differences and for a write that passed the gate just before. Others
//! may reap the row only once `expiry <= clock_timestamp()` on the server, under the
//! registry lock that renewals take too, so "a reaper sees the lease ended" and "the
//! holder still writes" never hold together.
//!
//! States: **valid** (renewed, deadline ahead), **paused** (deadline passed, not yet
//! renewed — e.g. the database is unreachable; the holder waits, and resumes when a
//! renewal succeeds) and **fenced** (the row is gone or carries another token; final:
//! the holder must stop without writing and be restored).

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pod_ids::PodName;

use crate::error::RegistryError;
use crate::pg::PgRegistry;
use crate::process::Incarnation;

/// Whether the holder may write now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseStatus {
    /// Renewed; writes are allowed until the local deadline.
    Valid,
    /// The lease could not be renewed in time; wait (the reason is the last error).
    Paused(String),
    /// The allocation was reclaimed: stop without writing; restore the Pod.
    Fenced(String),
}

#[derive(Debug)]
struct State {
    valid_until: Instant,
    fenced: Option<String>,
    last_error: Option<String>,
    stop: bool,
}

type FencedHook = Box<dyn Fn(&str) + Send + Sync>;

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    on_fenced: Mutex<Option<FencedHook>>,
}

/// A cloneable view of a lease for the code that must not write without it (the
/// Pod's tool dispatch). The file backend's gate is always valid.
#[derive(Clone)]
pub struct LeaseGate {
    shared: Option<Arc<Shared>>,
}

impl std::fmt::Debug for LeaseGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LeaseGate({:?})", self.status())
    }
}

impl LeaseGate {
    /// A gate that is always open (no lease: the file backend).
    pub fn always_valid() -> LeaseGate {
        LeaseGate { shared: None }
    }

    /// The status now, without waiting.
    pub fn status(&self) -> LeaseStatus {
        let Some(s) = &self.shared else {
            return LeaseStatus::Valid;
        };
        let st = s.state.lock().unwrap_or_else(|p| p.into_inner());
        status_of(&st)
    }

    /// Waits until the lease is valid or fenced, at most `max`; returns the status
    /// then (still `Paused` when `max` ran out).
    pub fn wait_usable(&self, max: Duration) -> LeaseStatus {
        let Some(s) = &self.shared else {
            return LeaseStatus::Valid;
        };
        let end = Instant::now() + max;
        let mut st = s.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let status = status_of(&st);
            let now = Instant::now();
            if !matches!(status, LeaseStatus::Paused(_)) || now >= end {
                return status;
            }
            st = s
                .changed
                .wait_timeout(st, end - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Waits while the lease is valid, at most `max`; returns the status then (still
    /// `Valid` when `max` ran out). A holder's watcher uses it to stop what is
    /// writing the moment the local deadline passes, without polling.
    pub fn wait_lapsed(&self, max: Duration) -> LeaseStatus {
        let Some(s) = &self.shared else {
            return LeaseStatus::Valid;
        };
        let end = Instant::now() + max;
        let mut st = s.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let status = status_of(&st);
            let now = Instant::now();
            if status != LeaseStatus::Valid || now >= end {
                return status;
            }
            // Woken early by a renewal (which moves the deadline) or a stop; else
            // exactly at the deadline.
            let until = st.valid_until.min(end);
            st = s
                .changed
                .wait_timeout(st, until.saturating_duration_since(now))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Whether this gate belongs to a lease (false: the file backend's, always open).
    pub fn is_leased(&self) -> bool {
        self.shared.is_some()
    }

    /// Calls `hook` (once, from the renewal thread) when the lease is found fenced.
    pub fn on_fenced(&self, hook: impl Fn(&str) + Send + Sync + 'static) {
        if let Some(s) = &self.shared {
            *s.on_fenced.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(hook));
            let st = s.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(reason) = st.fenced.clone() {
                drop(st);
                fire(s, &reason);
            }
        }
    }
}

fn status_of(st: &State) -> LeaseStatus {
    if let Some(r) = &st.fenced {
        return LeaseStatus::Fenced(r.clone());
    }
    if Instant::now() < st.valid_until {
        return LeaseStatus::Valid;
    }
    LeaseStatus::Paused(
        st.last_error
            .clone()
            .unwrap_or_else(|| "the lease is being renewed".into()),
    )
}

fn fire(s: &Shared, reason: &str) {
    if let Some(h) = s.on_fenced.lock().unwrap_or_else(|p| p.into_inner()).take() {
        h(reason);
    }
}

/// A held lease: renewed by a background thread until dropped.
pub struct Lease {
    gate: LeaseGate,
    shared: Arc<Shared>,
    fence: i64,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("fence", &self.fence).finish()
    }
}

impl Lease {
    pub(crate) fn start(
        registry: PgRegistry,
        name: PodName,
        incarnation: Incarnation,
        fence: i64,
        granted_at: Instant,
    ) -> Lease {
        let lease = registry.lease();
        let margin = lease / 4;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                valid_until: granted_at + lease - margin,
                fenced: None,
                last_error: None,
                stop: false,
            }),
            changed: Condvar::new(),
            on_fenced: Mutex::new(None),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("lease-{name}"))
            .spawn(move || renew_loop(&registry, &name, incarnation, fence, &s))
            .ok();
        if thread.is_none() {
            // Without a renewer the lease simply runs out: the holder pauses.
            tracing::error!("cannot start the lease renewal thread");
        }
        Lease {
            gate: LeaseGate {
                shared: Some(Arc::clone(&shared)),
            },
            shared,
            fence,
            thread,
        }
    }

    /// The gate to consult before every write.
    pub fn gate(&self) -> LeaseGate {
        self.gate.clone()
    }

    /// The fencing token of this grant.
    pub fn fence(&self) -> i64 {
        self.fence
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stop = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn renew_loop(reg: &PgRegistry, name: &PodName, inc: Incarnation, fence: i64, s: &Shared) {
    let lease = reg.lease();
    let every = lease / 3;
    let retry = (lease / 10).max(Duration::from_millis(50));
    let mut next = Instant::now() + every;
    loop {
        {
            let mut st = s.state.lock().unwrap_or_else(|p| p.into_inner());
            while !st.stop && Instant::now() < next {
                let wait = next.saturating_duration_since(Instant::now());
                st = s
                    .changed
                    .wait_timeout(st, wait)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            if st.stop {
                return;
            }
        }
        let t0 = Instant::now();
        let result = reg.renew(name, inc, fence);
        let mut st = s.state.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(()) => {
                if st.last_error.take().is_some() {
                    tracing::info!(pod = %name, "registry lease renewed again");
                }
                st.valid_until = t0 + lease - lease / 4;
                next = t0 + every;
            }
            Err(e @ RegistryError::Fenced { .. }) => {
                let reason = e.to_string();
                tracing::error!(pod = %name, "{reason}");
                st.fenced = Some(reason.clone());
                drop(st);
                s.changed.notify_all();
                fire(s, &reason);
                return;
            }
            Err(e) => {
                let error = e.to_string();
                // Once per outage (and when its cause changes), not at every retry:
                // "renewed again" closes it.
                if st.last_error.as_deref() != Some(error.as_str()) {
                    tracing::warn!(pod = %name, %error, "cannot renew the registry lease; retrying");
                }
                st.last_error = Some(error);
                next = Instant::now() + retry;
            }
        }
        drop(st);
        s.changed.notify_all();
    }
}
