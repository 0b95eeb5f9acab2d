//! The one error type of the store. Every message names the segment or path it is
//! about and, where there is one, the fix.

use std::io;
use std::path::PathBuf;

use pod_ids::SegmentId;

/// Everything that can go wrong in the session store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("session store: cannot {op} {path}: {source}")]
    Io {
        /// What we were doing (`open`, `fsync`, `rename`, ...).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// No index entry (or no file) exists for this segment id.
    #[error(
        "segment {segment_id} not found: {path} does not exist (was it created in another sessions root?)"
    )]
    SegmentNotFound {
        /// The segment asked for.
        segment_id: SegmentId,
        /// The index entry or segment file that is missing.
        path: PathBuf,
    },
    /// A complete line in a segment does not parse, or breaks the format rules.
    #[error("corrupt segment {path} at line {line}: {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// 1-based line number (0 when only the byte position is known, see `reason`).
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Another process (or another writer in this process) holds the segment's lock.
    #[error("segment {path} is already open for writing by {}; stop that process or fork the segment instead", holder(.pid))]
    Locked {
        /// The segment file.
        path: PathBuf,
        /// The pid recorded by the holder, if it could be read.
        pid: Option<u32>,
    },
    /// A segment file holds no complete `segment_start` entry.
    #[error(
        "segment {path} has no segment_start entry: it was never completely created; delete it or pick another segment"
    )]
    MissingStart {
        /// The segment file.
        path: PathBuf,
    },
    /// Fork or compaction at a turn that the segment does not contain.
    #[error(
        "segment {segment_id} has no turn {turn}: it holds turns {first}..={last}{}",
        ancestor_hint(.ancestor)
    )]
    UnknownTurn {
        /// The segment asked about.
        segment_id: SegmentId,
        /// The turn asked for.
        turn: u64,
        /// The turn the segment starts from (its fork or compaction point, else 0).
        first: u64,
        /// The last completed turn in the segment.
        last: u64,
        /// The segment the earlier turns live in, when `turn < first`.
        ancestor: Option<SegmentId>,
    },
    /// `EntryKind::Unknown` was passed to `append`.
    #[error("cannot append an entry of unknown kind: only kinds this version knows can be written")]
    AppendUnknown,
    /// An earlier failed append could not be rolled back, so appending further could
    /// glue a new entry onto a partial one.
    #[error(
        "segment {path} writer is unusable after a failed write that could not be rolled back; reopen the segment"
    )]
    Poisoned {
        /// The segment file.
        path: PathBuf,
    },
    /// Serialising an entry failed (not expected for well-formed values).
    #[error("cannot encode an entry for {path}: {source}")]
    Encode {
        /// The segment file.
        path: PathBuf,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
}

fn holder(pid: &Option<u32>) -> String {
    match pid {
        Some(p) => format!("pid {p}"),
        None => "another process (pid not recorded yet)".to_owned(),
    }
}

fn ancestor_hint(a: &Option<SegmentId>) -> String {
    match a {
        Some(s) => format!("; earlier turns are in segment {s}"),
        None => String::new(),
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Builds a `map_err` closure that wraps an `io::Error` with the op and path.
pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}
