//! Errors of the pod store. Every variant names the Pod, the child or the path it
//! concerns, so a message alone tells the user where to look.

use std::path::PathBuf;
use std::time::Duration;

use pod_ids::PodName;

use crate::child::ChildStatus;

/// Result alias of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What went wrong in a pod-store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No record exists for the Pod.
    #[error("pod {name} not found: no {path} (create it first, or check --pods-dir)")]
    NotFound {
        /// The Pod asked for.
        name: PodName,
        /// The `metadata.json` that does not exist.
        path: PathBuf,
    },
    /// `create_pending` on a name that already has a record.
    #[error("pod {name} already exists at {path}: choose another name or restore it")]
    AlreadyExists {
        /// The Pod name.
        name: PodName,
        /// Its existing `metadata.json`.
        path: PathBuf,
    },
    /// A `metadata.json` that does not parse as a Pod record.
    #[error(
        "pod record {path} is corrupt at line {line}, column {column}: {message} (fix or move the file away; other Pods are unaffected)"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first problem (0 if unknown).
        line: usize,
        /// 1-based column of the first problem (0 if unknown).
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A filesystem call failed.
    #[error("pod store could not {action} {path}: {source}")]
    Io {
        /// What we were doing (`open`, `fsync`, `rename into place`, ...).
        action: &'static str,
        /// The path it concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The per-Pod lock stayed held by another process past the deadline.
    #[error(
        "pod record lock {path} still held by another process after {waited:?}: another pods process is stuck updating this Pod; retry, or find it with `fuser {path}`"
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
    /// The Pod has no child record with that name.
    #[error("pod {pod} has no child named {child}")]
    ChildNotFound {
        /// The parent Pod.
        pod: PodName,
        /// The child asked for.
        child: PodName,
    },
    /// `add_pending_child` for a name whose record is still pending, live or stopping.
    #[error(
        "pod {pod} already has a child named {child} that is {status}: stop or reclaim it first, or choose another name"
    )]
    ChildExists {
        /// The parent Pod.
        pod: PodName,
        /// The child name.
        child: PodName,
        /// The existing record's status.
        status: ChildStatus,
    },
    /// A child status change that the lifecycle forbids (e.g. a reclaimed child
    /// becoming live again: its scope is already back with the parent).
    #[error("pod {pod} cannot mark child {child} {to}: it is {from}")]
    ChildTransition {
        /// The parent Pod.
        pod: PodName,
        /// The child.
        child: PodName,
        /// Its current status.
        from: ChildStatus,
        /// The requested status.
        to: ChildStatus,
    },
    /// A record could not be serialised (should not happen; names the Pod).
    #[error("pod record for {name} could not be serialised: {source}")]
    Serialize {
        /// The Pod.
        name: PodName,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
}

/// Builds a closure mapping an `io::Error` to [`StoreError::Io`] for `path`.
pub(crate) fn io_err(
    action: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io {
        action,
        path,
        source,
    }
}
