//! [`PodStore`]: where records live, reading and listing them, and the one locked
//! read-modify-write path every field-specific update goes through.
//!
//! ```text
//! {pods_root}/{name}/metadata.json       the record (replaced atomically)
//! {pods_root}/{name}/metadata.json.tmp   temp of an update in flight (or killed)
//! {pods_root}/{name}.lock                per-Pod update lock (flock)
//! ```
//!
//! Every path is the root joined with a validated [`PodName`] and fixed file names,
//! so no path ever leaves the pods root (ARCHITECTURE §6: pod metadata is only
//! read or written under the pods root).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pod_ids::{PodName, SegmentId, SessionId};
use time::OffsetDateTime;

use crate::durable::{ensure_private_dir, replace_atomically, sync_dir};
use crate::error::{Result, StoreError, io_err};
use crate::history::DEFAULT_HISTORY_LIMIT;
use crate::lock::PodLock;
use crate::record::{FORMAT_VERSION, Manifest, ParentLink, PodRecord, PodState};

const METADATA: &str = "metadata.json";
const METADATA_TMP: &str = "metadata.json.tmp";
/// Default deadline for the per-Pod lock. Updates take milliseconds; anything
/// near this means a holder is stuck, and the caller should hear about it.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The name-keyed store of Pod records under one pods root.
///
/// Cheap to clone; holds no open files. Reads take no lock (the rename makes every
/// committed state visible whole); every update takes the Pod's lock.
#[derive(Debug, Clone)]
pub struct PodStore {
    root: PathBuf,
    lock_timeout: Duration,
    pub(crate) history_limit: usize,
}

/// One entry of [`PodStore::list`]: a Pod directory and its record, or the error
/// reading it (so one corrupt file does not hide the other Pods).
#[derive(Debug)]
pub struct ListedPod {
    /// The Pod's name (its directory name).
    pub name: PodName,
    /// Its `metadata.json`.
    pub path: PathBuf,
    /// The parsed record, or why it could not be read.
    pub record: Result<PodRecord>,
}

impl PodStore {
    /// A store rooted at `pods_root` (usually `Roots::pods`). Touches nothing on
    /// disk; the root is created (0700) by the first `create_pending`.
    pub fn new(pods_root: impl Into<PathBuf>) -> PodStore {
        PodStore {
            root: pods_root.into(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            history_limit: DEFAULT_HISTORY_LIMIT,
        }
    }

    /// Sets how long an update waits for the per-Pod lock before failing with
    /// [`StoreError::LockTimeout`].
    pub fn with_lock_timeout(mut self, timeout: Duration) -> PodStore {
        self.lock_timeout = timeout;
        self
    }

    /// Sets how many history events a record keeps (oldest dropped first).
    pub fn with_history_limit(mut self, limit: usize) -> PodStore {
        self.history_limit = limit;
        self
    }

    /// The pods root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of Pod `name`.
    pub fn pod_dir(&self, name: &PodName) -> PathBuf {
        self.root.join(name.as_str())
    }

    /// The `metadata.json` of Pod `name`.
    pub fn metadata_path(&self, name: &PodName) -> PathBuf {
        self.pod_dir(name).join(METADATA)
    }

    fn lock_path(&self, name: &PodName) -> PathBuf {
        // `{name}.lock` can never be a Pod directory: names may not end in `.lock`.
        self.root.join(format!("{name}.lock"))
    }

    /// Whether Pod `name` has a record. A directory without `metadata.json` (a
    /// creation that crashed before its commit point) does not count.
    pub fn exists(&self, name: &PodName) -> Result<bool> {
        let path = self.metadata_path(name);
        path.try_exists().map_err(io_err("stat", &path))
    }

    /// Reads Pod `name`'s record. A file that fails to parse is
    /// [`StoreError::Corrupt`] naming the file, line and column.
    pub fn read(&self, name: &PodName) -> Result<PodRecord> {
        read_record(name, &self.metadata_path(name))
    }

    /// Every Pod under the root, sorted by name. Entries that are not Pod
    /// directories (invalid names, lock and temp files, stray files, symlinks,
    /// directories without `metadata.json`) are skipped; a record that cannot be
    /// read is listed with its error while the others still list. A missing root
    /// lists nothing.
    pub fn list(&self) -> Result<Vec<ListedPod>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("list", &self.root)(e)),
        };
        let mut pods = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("list", &self.root))?;
            let Some(name) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            // file_type does not follow symlinks: a symlink named like a Pod could
            // lead reads outside the pods root, so it is not a Pod.
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let path = entry.path().join(METADATA);
            let has_record = fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
            if !is_dir || !has_record {
                continue;
            }
            let record = read_record(&name, &path);
            pods.push(ListedPod { name, path, record });
        }
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(pods)
    }

    /// Creates Pod `name` in `pending` state (first phase of a spawn or start).
    /// Fails with [`StoreError::AlreadyExists`] if it has a record.
    pub fn create_pending(
        &self,
        name: &PodName,
        session: SessionId,
        segment: SegmentId,
        manifest: Manifest,
        parent: Option<ParentLink>,
    ) -> Result<PodRecord> {
        ensure_private_dir(&self.root)?;
        let _lock = PodLock::acquire(&self.lock_path(name), self.lock_timeout)?;
        let path = self.metadata_path(name);
        if path.try_exists().map_err(io_err("stat", &path))? {
            return Err(StoreError::AlreadyExists {
                name: name.clone(),
                path,
            });
        }
        // A directory left by a creation that crashed before its commit point is
        // reused; ensure_private_dir fsyncs the root when it makes a new one.
        ensure_private_dir(&self.pod_dir(name))?;
        let now = OffsetDateTime::now_utc();
        let record = PodRecord {
            version: FORMAT_VERSION,
            name: name.clone(),
            created_at: now,
            updated_at: now,
            state: PodState::Pending { session, segment },
            manifest,
            parent,
            children: Vec::new(),
            history: Vec::new(),
            unknown: Default::default(),
        };
        self.commit(&record)?;
        tracing::debug!(pod = %name, "pod record created (pending)");
        Ok(record)
    }

    /// Points Pod `name` at `(session, segment)` as `active`.
    pub fn set_active(
        &self,
        name: &PodName,
        session: SessionId,
        segment: SegmentId,
    ) -> Result<PodRecord> {
        self.update_record(name, "set_active", |r| {
            r.state = PodState::Active { session, segment };
            Ok(())
        })
    }

    /// Points Pod `name` at `(session, segment)` as `pending`.
    pub fn set_pending(
        &self,
        name: &PodName,
        session: SessionId,
        segment: SegmentId,
    ) -> Result<PodRecord> {
        self.update_record(name, "set_pending", |r| {
            r.state = PodState::Pending { session, segment };
            Ok(())
        })
    }

    /// Replaces Pod `name`'s manifest snapshot.
    pub fn set_manifest(&self, name: &PodName, manifest: Manifest) -> Result<PodRecord> {
        self.update_record(name, "set_manifest", |r| {
            r.manifest = manifest;
            Ok(())
        })
    }

    /// Sets one key of the manifest's forward-compatible `extra` settings, leaving
    /// the rest of the manifest untouched.
    pub fn set_manifest_extra(
        &self,
        name: &PodName,
        key: &str,
        value: serde_json::Value,
    ) -> Result<PodRecord> {
        self.update_record(name, "set_manifest_extra", |r| {
            r.manifest.extra.insert(key.to_owned(), value);
            Ok(())
        })
    }

    /// Sets or clears Pod `name`'s parent link.
    pub fn set_parent(&self, name: &PodName, parent: Option<ParentLink>) -> Result<PodRecord> {
        self.update_record(name, "set_parent", |r| {
            r.parent = parent;
            Ok(())
        })
    }

    /// Deletes Pod `name`'s record and directory (tests, cleanup). Returns whether
    /// there was anything to delete. Takes the lock, so it never interleaves with
    /// an update.
    pub fn remove(&self, name: &PodName) -> Result<bool> {
        let lock_path = self.lock_path(name);
        if !self.root.exists() {
            return Ok(false);
        }
        let lock = PodLock::acquire(&lock_path, self.lock_timeout)?;
        let dir = self.pod_dir(name);
        let existed = match fs::remove_dir_all(&dir) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(io_err("remove", &dir)(e)),
        };
        lock.unlink(&lock_path)?;
        sync_dir(&self.root)?;
        Ok(existed)
    }

    /// The locked read-modify-write every update goes through: lock, read the
    /// current record, apply `f`, and (if `f` says it changed something) stamp
    /// `updated_at` and commit. Returns the resulting record and `f`'s value.
    ///
    /// ARCHITECTURE §6: "every update is a field-specific operation run under a
    /// per-Pod lock (read-modify-write inside the lock)". Reading before locking,
    /// or writing outside this function, would lose concurrent updates.
    pub(crate) fn update<T>(
        &self,
        name: &PodName,
        op: &'static str,
        f: impl FnOnce(&mut PodRecord, OffsetDateTime) -> Result<(T, bool)>,
    ) -> Result<(PodRecord, T)> {
        let path = self.metadata_path(name);
        // Checked before locking so that updating a missing Pod does not leave a
        // lock file behind; checked again (by the read) under the lock.
        if !path.try_exists().map_err(io_err("stat", &path))? {
            return Err(StoreError::NotFound {
                name: name.clone(),
                path,
            });
        }
        let _lock = PodLock::acquire(&self.lock_path(name), self.lock_timeout)?;
        let mut record = read_record(name, &path)?;
        let now = OffsetDateTime::now_utc();
        let (value, changed) = f(&mut record, now)?;
        if changed {
            record.updated_at = now;
            // Keep a newer format's version number: its fields are preserved.
            record.version = record.version.max(FORMAT_VERSION);
            self.commit(&record)?;
            tracing::debug!(pod = %name, op, "pod record updated");
        }
        Ok((record, value))
    }

    /// [`Self::update`] for operations that always change the record.
    pub(crate) fn update_record(
        &self,
        name: &PodName,
        op: &'static str,
        f: impl FnOnce(&mut PodRecord) -> Result<()>,
    ) -> Result<PodRecord> {
        self.update(name, op, |r, _| f(r).map(|()| ((), true)))
            .map(|(r, ())| r)
    }

    /// Writes `record` to its `metadata.json`. Only called with the Pod's lock held.
    fn commit(&self, record: &PodRecord) -> Result<()> {
        // Compact, not pretty: records with hundreds of children are rewritten on
        // every update, and pretty printing costs ~50% more time (`jq` reads it).
        let mut bytes = serde_json::to_vec(record).map_err(|source| StoreError::Serialize {
            name: record.name.clone(),
            source,
        })?;
        bytes.push(b'\n');
        let dir = self.pod_dir(&record.name);
        // The rename inside is the commit point; before it the old file is intact.
        replace_atomically(&dir.join(METADATA), &dir.join(METADATA_TMP), &bytes)
    }
}

/// Reads and parses the record at `path`, checking it belongs to `name`.
fn read_record(name: &PodName, path: &Path) -> Result<PodRecord> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::NotFound {
                name: name.clone(),
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(io_err("read", path)(e)),
    };
    let record: PodRecord = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    if &record.name != name {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!(
                "its name field is {:?} but it lives in the directory of {:?}",
                record.name.as_str(),
                name.as_str()
            ),
        });
    }
    Ok(record)
}
