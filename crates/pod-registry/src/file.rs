//! The file backend: `{runtime}/registry.json` guarded by `{runtime}/registry.lock`.
//!
//! Every operation: take the lock (with a deadline), read the table, reap dead rows,
//! run the operation, save by temp + fsync + rename + directory fsync, drop the lock.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pod_ids::{PodName, SegmentId};
use scope::Scope;

use crate::allocation::{Allocation, ReservationToken};
use crate::error::RegistryError;
use crate::lock::{RegistryLock, acquire};
use crate::process::Incarnation;
use crate::registry::{
    AdoptRequest, ReclaimRequest, Reclaimed, RegisterRequest, Registry, Released, ReserveRequest,
};
use crate::table::Table;

/// How long an operation waits for the lock by default.
pub const DEFAULT_LOCK_DEADLINE: Duration = Duration::from_secs(5);

/// The embedded registry backend: one JSON table and a lock file in the runtime dir.
///
/// ```
/// use pod_registry::{FileRegistry, ProcessStamp, RegisterRequest, Registry};
/// use scope::{Access, ScopeRule};
/// let dir = tempfile::tempdir().unwrap();
/// let reg = FileRegistry::open(dir.path().join("run")).unwrap();
/// let me = ProcessStamp::current().unwrap();
/// reg.register(RegisterRequest {
///     name: "lead".parse().unwrap(),
///     process: me,
///     socket: None,
///     allow: vec![ScopeRule::trusted("/w", Access::Write, true).unwrap()],
///     deny: vec![],
///     segment_id: None,
///     restoring_children: vec![],
/// }).unwrap();
/// let other = RegisterRequest {
///     name: "other".parse().unwrap(),
///     process: me,
///     socket: None,
///     allow: vec![ScopeRule::trusted("/w/src", Access::Write, true).unwrap()],
///     deny: vec![],
///     segment_id: None,
///     restoring_children: vec![],
/// };
/// let err = reg.register(other).unwrap_err().to_string();
/// assert!(err.contains("held by live pod lead"), "{err}");
/// ```
#[derive(Debug, Clone)]
pub struct FileRegistry {
    table: PathBuf,
    temp: PathBuf,
    lock: PathBuf,
    dir: PathBuf,
    deadline: Duration,
}

impl FileRegistry {
    /// Uses `runtime_dir` (created 0700 if missing) for `registry.json` and
    /// `registry.lock`.
    pub fn open(runtime_dir: impl Into<PathBuf>) -> Result<FileRegistry, RegistryError> {
        let dir = runtime_dir.into();
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(RegistryError::io(&dir))?;
        Ok(FileRegistry {
            table: dir.join("registry.json"),
            temp: dir.join("registry.json.tmp"),
            lock: dir.join("registry.lock"),
            dir,
            deadline: DEFAULT_LOCK_DEADLINE,
        })
    }

    /// Changes how long operations wait for the lock.
    pub fn with_lock_deadline(mut self, deadline: Duration) -> FileRegistry {
        self.deadline = deadline;
        self
    }

    /// The table file.
    pub fn table_path(&self) -> &Path {
        &self.table
    }

    /// Takes the registry lock and holds it until the guard is dropped, for tools that
    /// must see a frozen table (backups, diagnostics). Every operation waits meanwhile.
    pub fn hold_lock(&self) -> Result<RegistryLock, RegistryError> {
        acquire(&self.lock, self.deadline)
    }

    /// Reads the table without the lock and without reaping (diagnostics, tests).
    /// Safe to call at any time: the file is only ever replaced by rename.
    pub fn read_unlocked(&self) -> Result<Table, RegistryError> {
        self.load()
    }

    fn load(&self) -> Result<Table, RegistryError> {
        let bytes = match std::fs::read(&self.table) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Table::default()),
            Err(e) => return Err(RegistryError::io(&self.table)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt {
            path: self.table.clone(),
            message: e.to_string(),
        })
    }

    fn save(&self, table: &Table) -> Result<(), RegistryError> {
        let json = serde_json::to_vec(table).map_err(|e| RegistryError::Corrupt {
            path: self.table.clone(),
            message: e.to_string(),
        })?;
        // The temp name is fixed: only the lock holder writes it, and a temp left by a
        // killed holder is truncated here and never read.
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&self.temp)
            .map_err(RegistryError::io(&self.temp))?;
        f.write_all(&json).map_err(RegistryError::io(&self.temp))?;
        f.sync_all().map_err(RegistryError::io(&self.temp))?;
        drop(f);
        // The rename is the commit point: before it, `registry.json` is the old complete
        // table (the temp is fully written and fsynced, so the rename can never expose a
        // partial file); after it, the new one. A crash at any instant therefore leaves
        // the old or the new table, never an empty or torn one.
        std::fs::rename(&self.temp, &self.table).map_err(RegistryError::io(&self.table))?;
        // Make the rename itself durable across power loss.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(RegistryError::io(&self.dir))?;
        Ok(())
    }

    /// Lock, load, reap, run `op`, save when anything changed.
    fn transact<T>(
        &self,
        mutates: bool,
        op: impl FnOnce(&mut Table, u64) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let _lock = acquire(&self.lock, self.deadline)?;
        let mut table = self.load()?;
        let now = now_unix_ms();
        let reaped = table.reap(now, &mut |p| p.is_alive());
        let out = op(&mut table, now);
        // A refused operation changed nothing worth keeping, but what was reaped is
        // still saved so the next caller does not redo it.
        if (mutates && out.is_ok()) || !reaped.is_empty() {
            if out.is_err() {
                table = self.load()?;
                table.reap(now, &mut |p| p.is_alive());
            }
            self.save(&table)?;
        }
        out
    }
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Registry for FileRegistry {
    fn register(&self, req: RegisterRequest) -> Result<Allocation, RegistryError> {
        self.transact(true, |t, _| t.register(req))
    }

    fn reserve_child(&self, req: ReserveRequest) -> Result<ReservationToken, RegistryError> {
        self.transact(true, |t, now| t.reserve_child(req, now))
    }

    fn adopt(&self, req: AdoptRequest) -> Result<Allocation, RegistryError> {
        self.transact(true, |t, _| t.adopt(req))
    }

    fn release(&self, name: &PodName, incarnation: Incarnation) -> Result<Released, RegistryError> {
        self.transact(true, |t, _| Ok(t.release(name, incarnation)))
    }

    fn reclaim_delegation(&self, req: ReclaimRequest) -> Result<Reclaimed, RegistryError> {
        self.transact(true, |t, _| t.reclaim_delegation(req))
    }

    fn relink(
        &self,
        parent: &PodName,
        parent_incarnation: Incarnation,
        children: &[PodName],
    ) -> Result<Vec<PodName>, RegistryError> {
        self.transact(true, |t, _| t.relink(parent, parent_incarnation, children))
    }

    fn update_segment(
        &self,
        name: &PodName,
        incarnation: Incarnation,
        segment: Option<SegmentId>,
    ) -> Result<(), RegistryError> {
        self.transact(true, |t, _| t.update_segment(name, incarnation, segment))
    }

    fn holder_of_segment(&self, segment: SegmentId) -> Result<Option<PodName>, RegistryError> {
        self.transact(false, |t, _| Ok(t.holder_of_segment(segment)))
    }

    fn list(&self) -> Result<Vec<Allocation>, RegistryError> {
        self.transact(false, |t, _| Ok(t.allocations.clone()))
    }

    fn get(&self, name: &PodName) -> Result<Option<Allocation>, RegistryError> {
        self.transact(false, |t, _| Ok(t.get(name).cloned()))
    }

    fn effective_write(&self, name: &PodName) -> Result<Scope, RegistryError> {
        self.transact(false, |t, _| {
            t.get(name).map(Allocation::effective_write).ok_or_else(|| {
                RegistryError::NotRegistered {
                    name: name.clone(),
                    detail: String::new(),
                }
            })
        })
    }
}
