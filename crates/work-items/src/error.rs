//! [`WorkError`]: what went wrong, and on which item or path.

use std::path::{Path, PathBuf};

/// Errors of the work-item store. Each names the item or path it is about.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// A filesystem operation failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store has not been initialised.
    #[error("no work-items folder at {}: run `pod work init` in the repository", .0.display())]
    NotInitialised(PathBuf),
    /// No item has that id or slug.
    #[error("no work item {0:?}: `pod work list` shows ids and slugs")]
    NotFound(String),
    /// More than one item answers to that name (a damaged store).
    #[error("{name:?} names {count} work items; run `pod work doctor`")]
    Ambiguous {
        /// The id or slug asked for.
        name: String,
        /// How many answer to it.
        count: usize,
    },
    /// A file of the store is not in the expected format.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where in the file.
        message: String,
    },
    /// An argument is not acceptable (an empty title, a bad label, ...).
    #[error("{0}")]
    Invalid(String),
    /// The item's lock was held for longer than the deadline.
    #[error("timed out after {waited:?} waiting for the lock {}", path.display())]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: std::time::Duration,
    },
}

impl WorkError {
    /// A format error at `path`.
    pub fn format(path: &Path, message: impl Into<String>) -> WorkError {
        WorkError::Format {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// Maps an I/O error to [`WorkError::Io`] naming the operation and the path.
pub(crate) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> WorkError {
    let path = path.to_path_buf();
    move |source| WorkError::Io { op, path, source }
}

/// Result of the store.
pub type Result<T, E = WorkError> = std::result::Result<T, E>;
