//! Append-only session logs (ARCHITECTURE §7).
//!
//! Owns: the segment files under the sessions root
//! (`{root}/{session_id}/{segment_id}.jsonl`), their entry format ([`Entry`],
//! [`EntryKind`]), the one-writer-per-segment lock ([`SegmentWriter`]), reading with
//! torn-tail tolerance ([`SegmentRead`]), replay into restorable state
//! ([`Replayed`]), fork and compaction as new segments with lineage, listing, and the
//! O(1) segment-id → file index (`{root}/index/{segment_id}` holds the session id).
//!
//! Must never own: anything about Pods (no Pod names, no pod-store paths), provider
//! wire formats, or any path outside its root.
//!
//! Invariants:
//! - A log is never rewritten in place; the only mutation besides appending is
//!   cutting off a torn tail (bytes of an append that never completed).
//! - Line `n` of a segment holds `seq == n - 1`; line 1 is `segment_start`.
//! - Each entry is one `write` of line + newline; turn boundaries and segment
//!   creation are fsynced before the call returns.
//! - At most one [`SegmentWriter`] per segment exists machine-wide (flock).
//! - Unknown entry kinds are preserved by reads and skipped by replay.
//!
//! ```
//! use session_store::{EntryKind, NewSegment, SessionStore};
//! let dir = tempfile::tempdir().unwrap();
//! let store = SessionStore::new(dir.path().join("sessions"));
//! let mut w = store.create_segment(NewSegment::default()).unwrap();
//! w.append(&EntryKind::UserInput { text: "hi".into() }).unwrap();
//! w.append(&EntryKind::TurnEnd { turn: 1 }).unwrap();
//! let r = store.replay(w.segment_id()).unwrap();
//! assert_eq!((r.history.len(), r.turn_count, r.ended_interrupted), (1, 1, true));
//! ```
#![deny(missing_docs)]

mod blobs;
mod entry;
mod error;
mod layout;
mod lock;
mod reader;
mod replay;
mod store;
mod writer;

pub use blobs::{Swept, sha256_hex};
pub use entry::{Entry, EntryKind, Lineage, SegmentStart};
pub use error::{Result, StoreError};
pub use reader::{SegmentRead, TornTail};
pub use replay::Replayed;
pub use store::{ForkOptions, NewSegment, SessionStore};
pub use writer::SegmentWriter;
