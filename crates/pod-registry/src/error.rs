//! Why a registry operation was refused or failed. Every message names the Pod, the
//! rule or the path involved, and the fix where there is one.

use std::path::PathBuf;
use std::time::Duration;

use pod_ids::{PodName, SegmentId};
use scope::{DelegationError, ScopeRule};

/// A refused or failed registry operation.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Another live Pod already uses the name.
    #[error(
        "pod {name} is already registered by a live process (pid {pid:?}): stop it or pick another name"
    )]
    NameTaken {
        /// The name.
        name: PodName,
        /// The holder's pid, if it is a running process (not a pending reservation).
        pid: Option<u32>,
    },
    /// A write rule overlaps write scope another live Pod holds.
    #[error(
        "write rule {ours} of pod {pod} overlaps {theirs} held by live pod {owner}{via}: narrow the scope (e.g. deny that region) or stop {owner}"
    )]
    WriteConflict {
        /// The Pod asking.
        pod: PodName,
        /// The requested rule involved (boxed to keep the error small).
        ours: Box<ScopeRule>,
        /// The deepest Pod really holding the region.
        owner: PodName,
        /// The owner's rule involved.
        theirs: Box<ScopeRule>,
        /// Extra detail, e.g. " (reserved for child x)"; empty when none.
        via: String,
    },
    /// The segment is already written by another live Pod.
    #[error(
        "segment {segment} is already held by live pod {holder}: fork the session or stop {holder}"
    )]
    SegmentHeld {
        /// The segment.
        segment: SegmentId,
        /// Its holder.
        holder: PodName,
    },
    /// A delegation was refused by the delegator's scope.
    #[error("pod {parent} cannot delegate to {child}: {source}")]
    Delegation {
        /// The delegator.
        parent: PodName,
        /// The child asked for.
        child: PodName,
        /// Which rule and why.
        #[source]
        source: DelegationError,
    },
    /// No live allocation with this name (and incarnation, where given).
    #[error("pod {name} is not registered{detail}")]
    NotRegistered {
        /// The name.
        name: PodName,
        /// E.g. " with incarnation ..." or " (it is only reserved)".
        detail: String,
    },
    /// Adoption refused: no pending reservation, wrong token, or already adopted.
    #[error("cannot adopt the reservation for {name}: {reason}")]
    Adopt {
        /// The child name.
        name: PodName,
        /// Why.
        reason: &'static str,
    },
    /// Reclaiming would give the parent back a region a live Pod still holds.
    #[error(
        "cannot reclaim {rule} from {child} for {parent}: live pod {holder} still holds it; wait for it to exit or release it first"
    )]
    ReclaimStillHeld {
        /// The parent.
        parent: PodName,
        /// The child whose delegation is reclaimed.
        child: PodName,
        /// The parent's rule that would become writable.
        rule: ScopeRule,
        /// Who holds the region.
        holder: PodName,
    },
    /// The lock was not acquired before the deadline.
    #[error(
        "registry lock {path:?} still held after {waited:?}{holder}: that process is hung or slow; if it is gone the next try proceeds"
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we tried.
        waited: Duration,
        /// " by pid N" when the holder wrote its pid, else empty.
        holder: String,
    },
    /// The table does not parse (read without the lock) or cannot be encoded.
    /// Operations never fail on it: they rebuild the table from the live holds.
    #[error(
        "registry table {path:?} is corrupt ({message}): it is a runtime view; the next registry operation rebuilds it from the live Pods' holds"
    )]
    Corrupt {
        /// The table file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A process holds the hold lock of a name that has no row (it released its row
    /// but still keeps its [`crate::Hold`]).
    #[error(
        "hold file {path:?} of pod {name} is still locked by a process that released that name: drop its hold (or stop it) and retry"
    )]
    HoldBusy {
        /// The name.
        name: PodName,
        /// The lock file.
        path: PathBuf,
    },
    /// File-system failure.
    #[error("registry I/O on {path:?} failed: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The registry database cannot be reached (PostgreSQL backend).
    #[error(
        "registry database {target} is unreachable ({message}): no new Pod can start or spawn until it is back; running Pods keep working while their leases last"
    )]
    Unavailable {
        /// The database, without its password.
        target: String,
        /// What the driver said.
        message: String,
    },
    /// The registry database was reached but would not take the connection: its
    /// certificate failed verification, or it refused the user (PostgreSQL backend).
    /// Unlike [`RegistryError::Unavailable`], waiting does not help.
    #[error(
        "registry database {target} refused the connection ({message}): check the url's user and password, sslmode and sslrootcert"
    )]
    Refused {
        /// The database, without its password.
        target: String,
        /// What the driver or the server said.
        message: String,
    },
    /// The registry database answered with an error (PostgreSQL backend).
    #[error("registry database {target} refused the operation: {message}")]
    Database {
        /// The database, without its password.
        target: String,
        /// What the server said.
        message: String,
    },
    /// The holder's allocation is no longer the one it was granted: its lease expired
    /// and the allocation was reclaimed (or replaced) meanwhile.
    #[error(
        "pod {name} lost its registry allocation{detail}: it must stop without writing and be restored (`pod resume {name}`)"
    )]
    Fenced {
        /// The Pod.
        name: PodName,
        /// E.g. " (fencing token 12 is no longer current)".
        detail: String,
    },
    /// The database holds a registry schema newer than this binary knows.
    #[error(
        "registry database {target} has schema version {found}, newer than this pods knows ({known}): upgrade pods on this machine"
    )]
    SchemaTooNew {
        /// The database, without its password.
        target: String,
        /// The version found.
        found: i32,
        /// The newest version this binary knows.
        known: i32,
    },
    /// Neither `$PODS_MACHINE_ID`, `/etc/machine-id` nor the boot id is readable.
    #[error(
        "cannot tell this machine's identity: set PODS_MACHINE_ID (unique per machine) or create /etc/machine-id (systemd-machine-id-setup)"
    )]
    NoMachineId,
    /// The `[registry]` configuration is unusable.
    #[error("registry configuration: {0}")]
    Config(String),
    /// `/proc/PID/stat` unreadable.
    #[error("cannot read the start time of pid {pid}: {message}")]
    ProcessStat {
        /// The pid.
        pid: u32,
        /// Why.
        message: String,
    },
}

impl RegistryError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> RegistryError {
        let path = path.into();
        move |source| RegistryError::Io { path, source }
    }
}
