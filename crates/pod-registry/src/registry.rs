//! The backend-neutral registry interface and its request types.
//!
//! The file backend ([`crate::FileRegistry`]) is the embedded default; a shared-database
//! backend (PostgreSQL, for Pods on several machines) would implement the same trait,
//! running the same [`crate::Table`] operations inside one serialisable transaction.

use std::path::PathBuf;
use std::time::Duration;

use pod_ids::{PodName, SegmentId};
use scope::{Scope, ScopeRule};

use crate::allocation::{Allocation, ReservationToken};
use crate::error::RegistryError;
use crate::process::{Incarnation, ProcessStamp};

/// Register a top-level Pod (or restore one).
#[derive(Debug, Clone)]
pub struct RegisterRequest {
    /// The Pod.
    pub name: PodName,
    /// The calling process.
    pub process: ProcessStamp,
    /// Socket path hint.
    pub socket: Option<PathBuf>,
    /// Canonical allow rules.
    pub allow: Vec<ScopeRule>,
    /// Canonical deny rules.
    pub deny: Vec<ScopeRule>,
    /// Segment the Pod appends to.
    pub segment_id: Option<SegmentId>,
    /// For a restoring parent: the outstanding children its pod store lists. A live
    /// allocation named here whose `origin` is this Pod is not a conflict; it is
    /// re-linked as this Pod's child in the same transaction. Nothing else is exempt.
    pub restoring_children: Vec<PodName>,
}

/// A parent reserves scope for a named child.
#[derive(Debug, Clone)]
pub struct ReserveRequest {
    /// The delegating Pod.
    pub parent: PodName,
    /// Its current incarnation (a stale process cannot delegate).
    pub parent_incarnation: Incarnation,
    /// The child to be.
    pub child: PodName,
    /// Canonical rules to hand over.
    pub rules: Vec<ScopeRule>,
    /// How long the child has to adopt before the region returns to the parent.
    pub ttl: Duration,
}

/// A child process takes its reservation.
#[derive(Debug, Clone)]
pub struct AdoptRequest {
    /// The child name the reservation was made for.
    pub name: PodName,
    /// The one-time token from the parent.
    pub token: ReservationToken,
    /// The child process.
    pub process: ProcessStamp,
    /// Socket path hint.
    pub socket: Option<PathBuf>,
    /// Segment the child appends to.
    pub segment_id: Option<SegmentId>,
}

/// A parent takes back what it delegated to a child.
#[derive(Debug, Clone)]
pub struct ReclaimRequest {
    /// The delegating Pod.
    pub parent: PodName,
    /// The child.
    pub child: PodName,
    /// The delegated rules to take back (as recorded; others stay delegated).
    pub rules: Vec<ScopeRule>,
    /// Set when the child is exiting and releases through its parent: the child's
    /// allocation is removed too if it still has this incarnation.
    pub releasing_child: Option<Incarnation>,
}

/// What a reclaim changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reclaimed {
    /// Rules were removed from the parent's delegation record.
    pub record_removed: bool,
    /// The child's allocation (reservation or releasing incarnation) was removed.
    pub child_removed: bool,
}

/// What a release did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// The allocation of that incarnation was removed.
    Removed,
    /// No allocation of that name has that incarnation (already gone, or a newer
    /// process holds the name); nothing changed.
    NotHeld,
}

/// Machine-wide write-scope allocations (ARCHITECTURE §5). Every call reaps dead
/// entries first and is atomic: it sees and leaves a consistent table.
pub trait Registry: Send + Sync {
    /// Registers a top-level Pod; refuses a live duplicate name, a held segment, and
    /// any write rule overlapping another live Pod's write scope.
    fn register(&self, req: RegisterRequest) -> Result<Allocation, RegistryError>;
    /// Reserves rules for a child; returns the one-time adoption token.
    fn reserve_child(&self, req: ReserveRequest) -> Result<ReservationToken, RegistryError>;
    /// The child process adopts its reservation.
    fn adopt(&self, req: AdoptRequest) -> Result<Allocation, RegistryError>;
    /// Removes the allocation held by this incarnation; children are re-parented.
    fn release(&self, name: &PodName, incarnation: Incarnation) -> Result<Released, RegistryError>;
    /// Removes the parent's record of a delegation (idempotent, independent of the
    /// child's allocation).
    fn reclaim_delegation(&self, req: ReclaimRequest) -> Result<Reclaimed, RegistryError>;
    /// A restoring parent takes back live children whose `origin` is its name.
    fn relink(
        &self,
        parent: &PodName,
        parent_incarnation: Incarnation,
        children: &[PodName],
    ) -> Result<Vec<PodName>, RegistryError>;
    /// Records the segment a Pod now appends to.
    fn update_segment(
        &self,
        name: &PodName,
        incarnation: Incarnation,
        segment: Option<SegmentId>,
    ) -> Result<(), RegistryError>;
    /// Which live Pod appends to a segment.
    fn holder_of_segment(&self, segment: SegmentId) -> Result<Option<PodName>, RegistryError>;
    /// All live allocations (and pending reservations).
    fn list(&self) -> Result<Vec<Allocation>, RegistryError>;
    /// One allocation by name.
    fn get(&self, name: &PodName) -> Result<Option<Allocation>, RegistryError>;
    /// A Pod's effective write scope: allow − deny − delegated write scope.
    fn effective_write(&self, name: &PodName) -> Result<Scope, RegistryError>;
}
