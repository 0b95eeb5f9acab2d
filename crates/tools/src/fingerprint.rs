//! Per-Pod memory of which file versions the model has seen, so `edit_file` only
//! edits what the model actually read.

use std::collections::HashMap;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// What a file looked like when this Pod last read or wrote it. mtime and length
/// are cheap but can miss a same-second, same-size rewrite; the content hash closes
/// that gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    mtime: Option<SystemTime>,
    len: u64,
    hash: u64,
}

impl Fingerprint {
    /// Fingerprint of `contents` with the given metadata.
    pub fn of(contents: &[u8], mtime: Option<SystemTime>) -> Fingerprint {
        // std's SipHash is not collision-resistant against an adversary, but the
        // adversary would be the model's own Pod; this only detects accidents.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        h.write(contents);
        Fingerprint {
            mtime,
            len: contents.len() as u64,
            hash: h.finish(),
        }
    }
}

/// Canonical path → fingerprint of the version this Pod last read or wrote.
/// Cloning shares the state (one tracker per Pod).
#[derive(Debug, Clone, Default)]
pub struct ReadTracker {
    seen: Arc<Mutex<HashMap<PathBuf, Fingerprint>>>,
}

impl ReadTracker {
    /// An empty tracker.
    pub fn new() -> ReadTracker {
        ReadTracker::default()
    }

    /// Records that the Pod now knows this version of `path`.
    pub fn record(&self, path: &Path, fp: Fingerprint) {
        // A poisoned lock only means another call panicked mid-insert; the map is
        // still a valid map, so keep using it.
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.insert(path.to_owned(), fp);
    }

    /// The version the Pod last saw, if any.
    pub fn get(&self, path: &Path) -> Option<Fingerprint> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(path).copied()
    }
}
