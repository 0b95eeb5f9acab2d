//! The pod store: one durable, name-keyed record per Pod (ARCHITECTURE §6).
//!
//! Owns `{pods_root}/{name}/metadata.json`: the Pod's `(session, segment)` pointer
//! and whether it is `pending` or `active`, the resolved [`Manifest`] a restore
//! rebuilds it from, its [`ParentLink`], its [`ChildRecord`]s (with delegated
//! scope and status `pending|live|stopping|reclaimed|lost`) and a bounded
//! [`HistoryEvent`] log of reclaim/lost events.
//!
//! Must never own: session logs (it points at session ids but never reads or
//! writes anything under the sessions root, and does not depend on
//! `session-store`), liveness (pids and sockets here are last-known hints, never
//! proof; liveness is `pod-registry`'s), or scope arithmetic (that is `scope`).
//!
//! Invariants:
//! - Only field-specific updates exist; there is no "write this whole record"
//!   operation, so a caller never rewrites fields it did not mean to touch.
//! - Every update is a read-modify-write under the Pod's `flock`
//!   (`{pods_root}/{name}.lock`, with a deadline), so concurrent writers in any
//!   number of processes never lose an update.
//! - Every write is temp + fsync + rename + directory fsync: a crash at any instant
//!   leaves the old or the new record, never a torn one.
//! - Every path is the pods root joined with a validated [`PodName`], so nothing
//!   outside the root is ever touched.
//! - A record that fails to parse is reported with its path; other Pods list fine.
//!
//! ```
//! use pod_ids::{PodName, SegmentId, SessionId};
//! use pod_store::{ChildSpec, Manifest, PodStore};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = PodStore::new(dir.path().join("pods"));
//! let lead: PodName = "lead".parse().unwrap();
//! let (session, segment) = (SessionId::new(), SegmentId::new());
//! store.create_pending(&lead, session, segment, Manifest::default(), None).unwrap();
//! store.set_active(&lead, session, segment).unwrap();
//!
//! let child: PodName = "worker".parse().unwrap();
//! let spec = ChildSpec { name: child.clone(), write: vec![], read: vec![] };
//! store.add_pending_child(&lead, spec).unwrap();
//! store.mark_child_live(&lead, &child, None, Some(4242)).unwrap();
//! assert!(store.reclaim_child(&lead, &child, "exited").unwrap());
//! assert!(!store.reclaim_child(&lead, &child, "exited").unwrap()); // idempotent
//! assert_eq!(store.read(&lead).unwrap().history.len(), 1);
//! ```
#![deny(missing_docs)]

mod child;
mod durable;
mod error;
mod history;
mod lock;
mod record;
mod store;

pub use child::{ChildRecord, ChildSpec, ChildStatus};
pub use error::{Result, StoreError};
pub use history::{DEFAULT_HISTORY_LIMIT, EventKind, HistoryEvent};
pub use record::{FORMAT_VERSION, Manifest, ParentLink, PodRecord, PodState, SystemPrompt};
pub use store::{DEFAULT_LOCK_TIMEOUT, ListedPod, PodStore};
