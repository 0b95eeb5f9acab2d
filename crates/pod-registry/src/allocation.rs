//! One row of the registry table and the records hanging off it.
//!
//! Representation of delegation (ARCHITECTURE §5):
//! - Every allocation keeps `delegations`: the rules it has handed to each named
//!   child. The record lives on the *parent*, so the parent's effective write scope
//!   (`allow − deny − delegations`) and a later reclaim never depend on the child's
//!   allocation still existing.
//! - A child's allocation holds the delegated rules as its own `allow`, points at its
//!   current parent in `delegated_from`, and at the Pod that first delegated to it in
//!   `origin` (kept across re-parenting, used by relational restore).
//! - A reserved, not yet adopted child is an allocation with `reservation` set and no
//!   `process`; it holds its region (nobody else may take it) until adopted or expired.

use std::fmt;
use std::path::PathBuf;

use pod_ids::{PodName, SegmentId};
use serde::{Deserialize, Serialize};

use scope::{Access, Scope, ScopeRule};

use crate::alias::RootIds;
use crate::process::ProcessStamp;

/// Rules a parent has delegated to one named child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    /// The child.
    pub child: PodName,
    /// Canonical rules handed over (write rules leave the parent's effective scope).
    pub rules: Vec<ScopeRule>,
}

/// A one-time secret that lets exactly one child process adopt a reservation.
///
/// Never printed: `Debug` and `Display` redact it; [`ReservationToken::expose`] is the
/// only way to read it (to pass it to the child, e.g. through an environment variable).
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReservationToken(String);

impl ReservationToken {
    /// 32 random bytes, hex-encoded.
    pub(crate) fn random() -> ReservationToken {
        let bytes: [u8; 32] = rand::random();
        ReservationToken(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Wraps a token received from the parent (e.g. from the environment).
    pub fn from_secret(secret: impl Into<String>) -> ReservationToken {
        ReservationToken(secret.into())
    }

    /// The secret, to hand to the child process.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Comparison in time independent of where the first difference is, so the token
    /// cannot be guessed byte by byte. Hand-written (ten lines) instead of pulling in
    /// `subtle` for one comparison.
    pub(crate) fn matches(&self, other: &ReservationToken) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Equal in constant time (see [`ReservationToken::matches`]): the PostgreSQL backend
/// compares rows to find the ones an operation changed.
impl PartialEq for ReservationToken {
    fn eq(&self, other: &ReservationToken) -> bool {
        self.matches(other)
    }
}

impl Eq for ReservationToken {}

impl fmt::Debug for ReservationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReservationToken(<redacted>)")
    }
}

/// A reservation for a child that has not adopted it yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The one-time adoption secret.
    pub token: ReservationToken,
    /// Milliseconds since the Unix epoch after which the reservation is void.
    pub expires_at_unix_ms: u64,
    /// The parent that made it.
    pub reserved_by: PodName,
}

/// Who holds which scope right now: one row of the live registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The Pod.
    pub name: PodName,
    /// The running process, `None` while only reserved.
    pub process: Option<ProcessStamp>,
    /// Socket path (a last-known hint, never proof of liveness).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
    /// Granted canonical rules.
    #[serde(default)]
    pub allow: Vec<ScopeRule>,
    /// Removed canonical rules (the registry holds denies so delegation checks them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<ScopeRule>,
    /// Current parent (after re-parenting, the released parent's parent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegated_from: Option<PodName>,
    /// The Pod that originally delegated to this one; never changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<PodName>,
    /// Segment this Pod appends to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_id: Option<SegmentId>,
    /// Pending reservation (only while not adopted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<Reservation>,
    /// What this Pod has delegated to its children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delegations: Vec<Delegation>,
    /// Device and inode of the existing paths its write rules touch, recorded when
    /// the row was created, so a second path to a held directory (a bind mount)
    /// conflicts too. Empty in rows written by older versions (no alias check).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub root_ids: Vec<RootIds>,
}

impl Allocation {
    /// `allow` + `deny`: everything this Pod and its delegation subtree hold.
    pub fn held(&self) -> Scope {
        Scope {
            allow: self.allow.clone(),
            deny: self.deny.clone(),
        }
    }

    /// Write rules currently delegated to children.
    pub fn delegated_write_rules(&self) -> Vec<ScopeRule> {
        self.delegations
            .iter()
            .flat_map(|d| d.rules.iter())
            .filter(|r| r.access == Access::Write)
            .cloned()
            .collect()
    }

    /// Effective write scope: allow − deny − write scope delegated to children.
    pub fn effective_write(&self) -> Scope {
        self.held().effective_write(&self.delegated_write_rules())
    }

    /// Whether this row matches the given process incarnation.
    pub fn is_incarnation(&self, incarnation: crate::Incarnation) -> bool {
        self.process.is_some_and(|p| p.incarnation == incarnation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_redacted_and_compares_exactly() {
        let t = ReservationToken::random();
        assert!(!format!("{t:?}").contains(t.expose()));
        assert!(t.matches(&ReservationToken::from_secret(t.expose())));
        assert!(!t.matches(&ReservationToken::from_secret("x")));
        let mut near = t.expose().to_owned();
        near.pop();
        near.push('g');
        assert!(!t.matches(&ReservationToken::from_secret(near)));
    }
}
