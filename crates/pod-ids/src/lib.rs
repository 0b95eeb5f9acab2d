//! Identifiers shared by every pods crate, and where pods keeps its files.
//!
//! Owns: [`PodName`] (the one validated Pod name type used at every ingress: CLI,
//! spawn tool, protocol, stores), [`SessionId`] and [`SegmentId`] (UUIDv7 newtypes),
//! and [`Roots`], the resolution of the data, runtime and config directories
//! (ARCHITECTURE §3).
//!
//! Must never own: any I/O beyond reading environment variables and the uid, any
//! knowledge of what lives under the roots beyond their names.
//!
//! Invariants: a `PodName` value is always valid (it can only be built through
//! validation, including when deserialised), so a name can be joined onto a
//! directory without escaping it.
#![deny(missing_docs)]

mod ids;
mod name;
mod roots;

pub use ids::{IdError, SegmentId, SessionId};
pub use name::{NameError, PodName};
pub use roots::{RootOverrides, Roots, RootsError};
