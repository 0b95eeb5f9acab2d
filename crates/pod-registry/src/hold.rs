//! Holds: the per-Pod ground truth the table is rebuilt from.
//!
//! The table (`registry.json`) is a cache. Each live process that holds a row through
//! [`crate::FileRegistry::register_held`] or [`crate::FileRegistry::adopt_held`] keeps
//! an exclusive `flock` on `holds/{name}.lock` for its whole life (the [`Hold`] guard);
//! `holds/{name}.json` records its row and the reservations it made that no child has
//! adopted yet. Every operation, under the registry lock, re-inserts the row of every
//! locked hold the table lacks (the table was deleted, truncated, replaced, or is an
//! older copy), before it decides anything. A lock the kernel dropped (the holder
//! exited or was killed) is a dead hold: its files are removed.
//!
//! Why this is enough for "never two writers": a row's held scope (allow − deny) never
//! changes after it is created, so any version of a hold's record protects exactly the
//! region the holder may write; a record that lags its row by one operation (a crash
//! between the table's commit and the record's rewrite) can only miss or keep a
//! delegation record or a segment, never a region. Files are only created, replaced
//! or removed under the registry lock, and the lock file's inode is never replaced
//! while a holder may hold it (records are separate files, replaced by rename).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use pod_ids::PodName;
use rustix::fs::{FlockOperation, flock};
use serde::{Deserialize, Serialize};

use crate::allocation::Allocation;
use crate::error::RegistryError;
use crate::process::Incarnation;

const LOCK_SUFFIX: &str = ".lock";

/// Keeps a Pod's row alive across the loss of the table, for as long as it is not
/// dropped (closing the descriptor releases the lock; so does the process's death).
///
/// Keep it for the life of the process that holds the row, and drop it *after*
/// releasing the row: a released row's hold files are removed by the release.
#[derive(Debug)]
pub struct Hold {
    _file: File,
    name: PodName,
    incarnation: Incarnation,
}

impl Hold {
    /// The Pod whose row this keeps.
    pub fn name(&self) -> &PodName {
        &self.name
    }

    /// The incarnation of the row.
    pub fn incarnation(&self) -> Incarnation {
        self.incarnation
    }
}

/// What `holds/{name}.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HoldRecord {
    /// The holder's row.
    pub(crate) row: Allocation,
    /// Rows reserved for children of the holder and not adopted yet (they have no
    /// process of their own to hold them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) reservations: Vec<Allocation>,
}

/// Whether the probe found the hold's lock taken.
pub(crate) enum Probe {
    /// Some live process holds the lock.
    Live,
    /// Nobody holds it (the holder is gone), or the files vanished.
    Dead,
}

/// The `holds/` folder.
#[derive(Debug, Clone)]
pub(crate) struct HoldDir {
    dir: PathBuf,
}

impl HoldDir {
    pub(crate) fn new(dir: PathBuf) -> HoldDir {
        HoldDir { dir }
    }

    fn lock_path(&self, name: &PodName) -> PathBuf {
        self.dir.join(format!("{}{LOCK_SUFFIX}", name.as_str()))
    }

    fn record_path(&self, name: &PodName) -> PathBuf {
        self.dir.join(format!("{}.json", name.as_str()))
    }

    fn temp_path(&self, name: &PodName) -> PathBuf {
        // A leading dot: never a lock name, never a Pod name.
        self.dir.join(format!(".{}.json.tmp", name.as_str()))
    }

    /// Names with a lock file. Pod names never end in `.lock`, so the suffix is
    /// unambiguous; anything else in the folder is ignored.
    pub(crate) fn scan(&self) -> Result<HashSet<PodName>, RegistryError> {
        let mut out = HashSet::new();
        let entries = std::fs::read_dir(&self.dir).map_err(RegistryError::io(&self.dir))?;
        for entry in entries {
            let entry = entry.map_err(RegistryError::io(&self.dir))?;
            let file = entry.file_name();
            let Some(stem) = file.to_str().and_then(|f| f.strip_suffix(LOCK_SUFFIX)) else {
                continue;
            };
            if let Ok(name) = stem.parse::<PodName>() {
                out.insert(name);
            }
        }
        Ok(out)
    }

    /// Whether a live process holds `name`'s lock. Opens a fresh descriptor, so a
    /// hold taken by this very process (another open file description) counts too.
    pub(crate) fn probe(&self, name: &PodName) -> Result<Probe, RegistryError> {
        let path = self.lock_path(name);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Probe::Dead),
            Err(e) => return Err(RegistryError::io(&path)(e)),
        };
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                // Ours now: the holder is gone. Closing `file` gives it back.
                Ok(()) => return Ok(Probe::Dead),
                Err(rustix::io::Errno::WOULDBLOCK) => return Ok(Probe::Live),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(RegistryError::io(&path)(e.into())),
            }
        }
    }

    /// The record of a live hold; `None` when missing or unreadable (a holder killed
    /// between creating its lock and its record: it is dead, so nothing is lost).
    pub(crate) fn read(&self, name: &PodName) -> Option<HoldRecord> {
        let path = self.record_path(name);
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable hold record ignored");
                None
            }
        }
    }

    /// Creates (or reuses) `name`'s lock file and takes its lock for the caller.
    pub(crate) fn take(
        &self,
        name: &PodName,
        incarnation: Incarnation,
    ) -> Result<Hold, RegistryError> {
        let path = self.lock_path(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(RegistryError::io(&path))?;
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::INTR) => continue,
                // The operation re-inserted every live hold's row first, so a live
                // holder of this name made the operation fail with `NameTaken`
                // already; reaching this means a process holds the lock of a name it
                // no longer has a row for (it released without dropping its hold).
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(RegistryError::HoldBusy {
                        name: name.clone(),
                        path,
                    });
                }
                Err(e) => return Err(RegistryError::io(&path)(e.into())),
            }
        }
        Ok(Hold {
            _file: file,
            name: name.clone(),
            incarnation,
        })
    }

    /// Replaces `name`'s record.
    pub(crate) fn write(&self, name: &PodName, record: &[u8]) -> Result<(), RegistryError> {
        let temp = self.temp_path(name);
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .map_err(RegistryError::io(&temp))?;
        f.write_all(record).map_err(RegistryError::io(&temp))?;
        drop(f);
        // The rename is the commit point: readers see the old or the new record,
        // whole. No fsync: a record only matters while its holder process lives, and
        // power loss ends every holder, so only a process crash must be survived, and
        // against that the rename alone is atomic (the page cache outlives the process).
        let path = self.record_path(name);
        std::fs::rename(&temp, &path).map_err(RegistryError::io(&path))
    }

    /// Removes `name`'s record, a temp a killed writer left, and the lock file (a
    /// released row, or a dead holder). A holder still holding the unlinked lock keeps
    /// nothing: its row is gone.
    pub(crate) fn remove(&self, name: &PodName) -> Result<(), RegistryError> {
        // The lock file last: a crash in between leaves a lock file without a record,
        // which a probe treats like any other hold (live: nothing to insert, files
        // kept; dead: removed).
        for path in [
            self.record_path(name),
            self.temp_path(name),
            self.lock_path(name),
        ] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(RegistryError::io(&path)(e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_can_live_in_a_runtime_shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Hold>();
    }

    #[test]
    fn scan_lists_only_lock_files_of_valid_names() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "a.lock",
            "a.json",
            ".a.json.tmp",
            "Bad.lock",
            "b.json",
            "c.lock",
        ] {
            std::fs::write(dir.path().join(f), b"").unwrap();
        }
        let holds = HoldDir::new(dir.path().to_owned());
        let mut names: Vec<String> = holds
            .scan()
            .unwrap()
            .into_iter()
            .map(|n| n.as_str().to_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "c"]);
        // Nobody holds them: both probe dead; a record that is not JSON reads as none.
        assert!(matches!(
            holds.probe(&"a".parse().unwrap()).unwrap(),
            Probe::Dead
        ));
        assert!(holds.read(&"a".parse().unwrap()).is_none());
    }
}
