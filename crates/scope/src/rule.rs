//! One scope rule and the errors of building one.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::canonical::{CanonicalPath, canonicalize};
use crate::region::Region;

/// What a rule grants or denies. Write implies read, so `Read < Write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write.
    Write,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
        })
    }
}

/// `{path, access, recursive}`. A recursive rule covers the path and everything
/// below it; a non-recursive one covers the path and its direct children.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ScopeRule {
    /// Canonical path the rule is about.
    pub path: CanonicalPath,
    /// Granted (in allow) or removed (in deny) access.
    pub access: Access,
    /// Whether it covers the whole subtree.
    pub recursive: bool,
}

/// Why a path or rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// Scope paths must be absolute.
    #[error("scope path {path:?} is relative: use an absolute path")]
    Relative {
        /// The input.
        path: PathBuf,
    },
    /// A `..` would have to climb out of a part of the path that does not exist.
    #[error(
        "scope path {path:?} has a '..' after a missing directory, which cannot be resolved: name the target directly"
    )]
    DotDotEscape {
        /// The input.
        path: PathBuf,
    },
    /// A stored path is not in canonical form.
    #[error("scope path {path:?} is not canonical (contains '.' or '..')")]
    NotCanonical {
        /// The input.
        path: PathBuf,
    },
    /// A path pods cannot store or hand to the kernel: scopes are kept as JSON text
    /// (UTF-8) and opened by name (no NUL byte). Found by fuzzing (issue 17): such a
    /// path used to pass ingress and then fail as a "corrupt registry table".
    #[error("scope path {path:?} {problem}: pods can only hold UTF-8 paths without NUL bytes")]
    InvalidBytes {
        /// The input.
        path: PathBuf,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Too many symlinks.
    #[error("scope path {path:?} goes through too many symlinks (a loop?)")]
    SymlinkLoop {
        /// The input.
        path: PathBuf,
    },
    /// The filesystem refused a lookup while resolving symlinks.
    #[error("cannot resolve scope path at {path:?}: {message}")]
    Io {
        /// Where resolution failed.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
}

impl ScopeRule {
    /// Builds a rule from user input, canonicalising the path (ingress).
    pub fn new(
        path: impl AsRef<Path>,
        access: Access,
        recursive: bool,
    ) -> Result<ScopeRule, ScopeError> {
        Ok(ScopeRule {
            path: canonicalize(path)?,
            access,
            recursive,
        })
    }

    /// Builds a rule from a path already in canonical form, without touching the
    /// filesystem (stored rules, tests).
    pub fn trusted(
        path: impl Into<PathBuf>,
        access: Access,
        recursive: bool,
    ) -> Result<ScopeRule, ScopeError> {
        Ok(ScopeRule {
            path: CanonicalPath::trusted(path)?,
            access,
            recursive,
        })
    }

    /// Whether the rule's region contains `path` (component-wise; `path` is
    /// expected canonical).
    pub fn covers(&self, path: &Path) -> bool {
        self.region().contains(path)
    }

    /// Whether every path in `other`'s region is in this rule's region.
    pub fn contains_rule(&self, other: &ScopeRule) -> bool {
        self.region().contains_region(&other.region())
    }

    /// This rule with another access level.
    pub fn with_access(&self, access: Access) -> ScopeRule {
        ScopeRule {
            access,
            ..self.clone()
        }
    }

    pub(crate) fn region(&self) -> Region<'_> {
        if self.recursive {
            Region::Tree(self.path.as_path())
        } else {
            Region::Dir(self.path.as_path())
        }
    }
}

impl fmt::Display for ScopeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = if self.recursive { "/**" } else { "/*" };
        write!(f, "{} {}{}", self.access, self.path, suffix)
    }
}

impl fmt::Debug for ScopeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
