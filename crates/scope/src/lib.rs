//! Filesystem scope: what a Pod may read and write (ARCHITECTURE §4).
//!
//! Owns: [`ScopeRule`] (`{path, access, recursive}`), [`Scope`] (`allow` + `deny`),
//! canonicalisation of paths at ingress ([`canonicalize`]), component-wise coverage,
//! region overlap, the effective write scope of a Pod with delegations, and the
//! delegation check.
//!
//! Must never own: enforcement (that is `tools`, through capability handles and
//! Landlock), who holds what right now (that is `pod-registry`), or persistence.
//!
//! Invariants:
//! - A [`CanonicalPath`] is absolute and has no `.`/`..` components and no symlinks in
//!   the prefix that existed when it was made. Only [`canonicalize`] builds one from
//!   user input; deserialisation re-checks the lexical form but never re-resolves, so
//!   the three state surfaces compare equal byte for byte.
//! - Every region test is component-wise (`/src` never covers `/srcx`).
//! - A write rule that passes [`Scope::check_delegation`] is covered by one of the
//!   delegator's write allows, covers none of them whole (delegation hands over a
//!   strict part), and overlaps none of its denies nor any sibling's write delegation.
//!
//! ```
//! use scope::{Access, Scope, ScopeRule};
//! let w = ScopeRule::trusted("/w", Access::Write, true).unwrap();
//! let scope = Scope { allow: vec![w], deny: vec![] };
//! let child = ScopeRule::trusted("/w/a", Access::Write, true).unwrap();
//! assert!(scope.check_delegation(&child, &[]).is_ok());
//! let effective = scope.effective_write(&[child]);
//! assert!(!effective.can_write("/w/a/x".as_ref()));
//! assert!(effective.can_write("/w/b".as_ref()));
//! ```
#![deny(missing_docs)]

mod canonical;
mod region;
mod rule;
mod scope_set;

pub use canonical::{CanonicalPath, canonicalize};
pub use region::overlaps;
pub use rule::{Access, ScopeError, ScopeRule};
pub use scope_set::{DelegationError, Scope, WriteConflict};
