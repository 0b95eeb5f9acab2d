//! Work items: tickets kept in the repository they are about, as plain files a
//! person can read and edit and a Pod can drive (format: `docs/work-items.md`).
//!
//! Owns: the on-disk format of `work-items/{open,pending,closed}/<id>/` — `item.md`
//! (YAML front matter + description, [`meta`]), the append-only `thread.md` of
//! typed events ([`thread`]), `artifacts/` (review reports opening with their
//! verdict), `resolution.md` — ids ([`id`]), every write to it ([`Store`]) and the
//! consistency check ([`doctor`]).
//!
//! Must never own: Pods, scope, git or the workflow that runs coders and
//! reviewers; the `pod` crate builds those on top of this one.
//!
//! Invariants:
//! - `thread.md` is only ever appended to, one `write` per event under the item's
//!   lock; `item.md`, artifacts and `resolution.md` are replaced atomically (temp +
//!   fsync + rename + directory fsync). Concurrent writers in any number of
//!   processes lose nothing.
//! - Every change to an item, moving its folder included, holds the item's lock.
//! - The front matter is the authority on status; the folder follows it.
//! - Unknown event kinds and unknown front matter fields are kept, never errors.
//!
//! ```no_run
//! # fn demo() -> Result<(), work_items::WorkError> {
//! use work_items::{NewItem, Store, Verdict};
//! let store = Store::init("/repo/work-items")?;
//! let item = store.create(&NewItem { title: "Fix login".into(), author: "alice".into(), ..Default::default() })?;
//! store.comment(&item.meta.slug, "alice", "plan", "1. reproduce\n2. fix")?;
//! store.review(&item.meta.id, "reviewer", Verdict::RequestChanges, "Add a test.")?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod doctor;
pub mod durable;
mod error;
pub mod id;
pub mod meta;
pub mod store;
pub mod thread;

pub use doctor::Problem;
pub use error::{Result, WorkError};
pub use id::{ItemId, Slug};
pub use meta::{ItemDoc, ItemMeta, Status};
pub use store::{DIR_NAME, Item, NewItem, Store};
pub use thread::{Event, Thread, Verdict};
