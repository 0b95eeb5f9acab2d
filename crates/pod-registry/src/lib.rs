//! The live registry (ARCHITECTURE §5): which live process holds which filesystem
//! scope on this machine right now, including delegations from parent Pods to children.
//!
//! Owns: the [`Registry`] trait and its embedded file backend [`FileRegistry`]
//! (`{runtime}/.registry/`: `registry.json`, `registry.lock`, `holds/`), the
//! [`Allocation`] rows, reaping of dead processes ([`ProcessStamp`]: pid + start time +
//! [`Incarnation`]), [`Hold`]s (per-process locks the table is rebuilt from),
//! physical identity of write roots ([`RootIds`], so bind-mount aliases conflict),
//! reservations and adoption of delegated scope, reclaim, relational restore.
//!
//! Must never own: durable Pod state (that is `pod-store`; this table may be lost at
//! reboot and is rebuilt from it), scope semantics (that is `scope`), enforcement.
//!
//! Invariants:
//! - No two rows' *effective* write scopes (allow − deny − delegated write rules) share
//!   a writable path. Every operation that adds write scope checks it against every
//!   other live row's *held* scope (allow − deny), which also covers regions delegated
//!   to children that died and were not reclaimed yet.
//! - A parent's delegation record lives on the parent, so reclaim never depends on the
//!   child's row; the record outlives the child until the parent reclaims it.
//! - Rows are identified by `(name, incarnation)`; a row whose pid is gone or reused
//!   (start time differs) is dead and reaped by the next operation, no daemon needed.
//! - Only canonical rules are stored (callers canonicalise at ingress with `scope`).
//! - The table file is only ever replaced by rename: a crash leaves old or new, whole.
//! - The table is a cache of the live holds: every operation re-inserts the row of
//!   every locked hold the table lacks before deciding anything, so losing the table
//!   never admits an overlapping Pod.
//! - Two write rules conflict when their paths overlap, or when they overlap once one
//!   is seen through a second path (equal device and inode) to the same directory.
//! - A write delegation is a strict part of every write allow it touches.
//!
//! ```
//! use pod_registry::{FileRegistry, ProcessStamp, RegisterRequest, Registry, ReserveRequest};
//! use scope::{Access, ScopeRule};
//! let dir = tempfile::tempdir().unwrap();
//! let reg = FileRegistry::open(dir.path()).unwrap();
//! let me = ProcessStamp::current().unwrap();
//! let lead = "lead".parse().unwrap();
//! reg.register(RegisterRequest {
//!     name: "lead".parse().unwrap(), process: me, socket: None,
//!     allow: vec![ScopeRule::trusted("/w", Access::Write, true).unwrap()],
//!     deny: vec![], segment_id: None, restoring_children: vec![],
//! }).unwrap();
//! let _token = reg.reserve_child(ReserveRequest {
//!     parent: "lead".parse().unwrap(), parent_incarnation: me.incarnation,
//!     child: "worker".parse().unwrap(),
//!     rules: vec![ScopeRule::trusted("/w/src", Access::Write, true).unwrap()],
//!     ttl: std::time::Duration::from_secs(30),
//! }).unwrap();
//! assert!(!reg.effective_write(&lead).unwrap().can_write("/w/src/a".as_ref()));
//! ```
#![deny(missing_docs)]

mod alias;
mod allocation;
mod backend;
mod error;
mod file;
mod hold;
mod lock;
mod machine;
mod ops;
mod pg;
mod process;
mod registry;
mod table;

pub use alias::{FileId, RootIds};
pub use allocation::{Allocation, Delegation, Reservation, ReservationToken};
pub use backend::{AnyRegistry, BackendConfig, BackendKind, Holding};
pub use error::RegistryError;
pub use file::{DEFAULT_LOCK_DEADLINE, FileRegistry};
pub use hold::Hold;
pub use lock::RegistryLock;
pub use machine::{MACHINE_ID_ENV, MachineId};
pub use pg::{
    DEFAULT_LEASE, DEFAULT_PG_LOCK_TIMEOUT, Lease, LeaseGate, LeaseStatus, PG_SCHEMA_VERSION,
    PgOptions, PgRegistry, PgSnapshot, RowMeta,
};
pub use process::{Incarnation, ProcessStamp, is_alive, process_start_time};
pub use registry::{
    AdoptRequest, ReclaimRequest, Reclaimed, RegisterRequest, Registry, Released, ReserveRequest,
};
pub use table::Table;
