//! The file backend, in `{runtime}/.registry/` (a folder no Pod name can take, since
//! names never start with `.`; Pods' own runtime folders are `{runtime}/{name}/`):
//! `registry.json` (the table), `registry.lock` (the operation lock) and `holds/`
//! (one lock file and one record per live holder, see [`crate::hold`]).
//!
//! Every operation: take the lock (with a deadline), read the table (missing or
//! unparsable: start empty), reap dead rows, re-insert the rows of live holds the table
//! lacks, run the operation, save by temp + fsync + rename + directory fsync, bring the
//! holds' records up to date, drop the lock.
//!
//! Files an older version left directly in `{runtime}/` (`registry.json`,
//! `registry.lock`) are ignored: the table is a runtime view of live processes, and
//! those processes re-register (or, if still running an older version, are not seen).

use std::collections::{HashMap, HashSet};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pod_ids::{PodName, SegmentId};
use scope::Scope;

use crate::allocation::{Allocation, Delegation, ReservationToken};
use crate::error::RegistryError;
use crate::hold::{Hold, HoldDir, HoldRecord, Probe};
use crate::lock::{RegistryLock, acquire};
use crate::process::Incarnation;
use crate::registry::{
    AdoptRequest, ReclaimRequest, Reclaimed, RegisterRequest, Registry, Released, ReserveRequest,
};
use crate::table::{Table, add_record};

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
    holds: HoldDir,
    deadline: Duration,
}

/// The registry's folder inside the runtime dir. It starts with `.`, so no Pod name
/// (`^[a-z0-9][a-z0-9._-]{0,62}$`) can ever be it.
const FOLDER: &str = ".registry";

impl FileRegistry {
    /// Uses `runtime_dir/.registry/` (created 0700, as is `runtime_dir` if missing)
    /// for `registry.json`, `registry.lock` and `holds/`.
    pub fn open(runtime_dir: impl Into<PathBuf>) -> Result<FileRegistry, RegistryError> {
        let dir = runtime_dir.into().join(FOLDER);
        let holds = dir.join("holds");
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&holds)
            .map_err(RegistryError::io(&holds))?;
        Ok(FileRegistry {
            table: dir.join("registry.json"),
            temp: dir.join("registry.json.tmp"),
            lock: dir.join("registry.lock"),
            dir,
            holds: HoldDir::new(holds),
            deadline: DEFAULT_LOCK_DEADLINE,
        })
    }

    /// [`Registry::register`], and the calling process takes the row's [`Hold`]: keep
    /// it for the process's life, so the row survives the loss of the table. The lock
    /// is taken inside the same transaction as the row, so there is no instant at
    /// which the row exists but a lost table would forget it. The calling process
    /// must be the one in `req.process` (the hold dies with the caller).
    ///
    /// ```
    /// use pod_registry::{FileRegistry, ProcessStamp, RegisterRequest, Registry};
    /// use scope::{Access, ScopeRule};
    /// let dir = tempfile::tempdir().unwrap();
    /// let reg = FileRegistry::open(dir.path()).unwrap();
    /// let req = |name: &str, path: &str| RegisterRequest {
    ///     name: name.parse().unwrap(),
    ///     process: ProcessStamp::current().unwrap(),
    ///     socket: None,
    ///     allow: vec![ScopeRule::trusted(path, Access::Write, true).unwrap()],
    ///     deny: vec![],
    ///     segment_id: None,
    ///     restoring_children: vec![],
    /// };
    /// let (_row, hold) = reg.register_held(req("lead", "/w")).unwrap();
    /// std::fs::remove_file(reg.table_path()).unwrap(); // the table is only a cache
    /// assert!(reg.register(req("other", "/w/src")).is_err());
    /// drop(hold); // the holder is gone: its region is free again
    /// std::fs::remove_file(reg.table_path()).unwrap();
    /// reg.register(req("other", "/w/src")).unwrap();
    /// ```
    pub fn register_held(&self, req: RegisterRequest) -> Result<(Allocation, Hold), RegistryError> {
        let (name, incarnation) = (req.name.clone(), req.process.incarnation);
        let (row, hold) =
            self.transact_inner(true, Some((&name, incarnation)), |t, _| t.register(req))?;
        Ok((row, hold.ok_or_else(|| missing_hold(&name))?))
    }

    /// [`Registry::adopt`], and the calling (child) process takes the row's [`Hold`],
    /// as in [`FileRegistry::register_held`].
    pub fn adopt_held(&self, req: AdoptRequest) -> Result<(Allocation, Hold), RegistryError> {
        let (name, incarnation) = (req.name.clone(), req.process.incarnation);
        let (row, hold) =
            self.transact_inner(true, Some((&name, incarnation)), |t, _| t.adopt(req))?;
        Ok((row, hold.ok_or_else(|| missing_hold(&name))?))
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

    /// Reads the table without the lock, without reaping and without rebuilding from
    /// holds (diagnostics, tests). Safe to call at any time: the file is only ever
    /// replaced by rename.
    pub fn read_unlocked(&self) -> Result<Table, RegistryError> {
        match self.load()? {
            Loaded::Table(t) => Ok(t),
            Loaded::Missing => Ok(Table::default()),
            Loaded::Corrupt(message) => Err(RegistryError::Corrupt {
                path: self.table.clone(),
                message,
            }),
        }
    }

    fn load(&self) -> Result<Loaded, RegistryError> {
        let bytes = match std::fs::read(&self.table) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::Missing),
            Err(e) => return Err(RegistryError::io(&self.table)(e)),
        };
        Ok(match serde_json::from_slice(&bytes) {
            Ok(t) => Loaded::Table(t),
            Err(e) => Loaded::Corrupt(e.to_string()),
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

    /// Lock, load, reap, rebuild from holds, run `op`, save when anything changed,
    /// update the holds' records.
    fn transact<T>(
        &self,
        mutates: bool,
        op: impl FnOnce(&mut Table, u64) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        self.transact_inner(mutates, None, op).map(|(out, _)| out)
    }

    /// [`FileRegistry::transact`]; with `hold_for`, the caller also takes that row's
    /// hold once `op` succeeded, before the table is committed.
    fn transact_inner<T>(
        &self,
        mutates: bool,
        hold_for: Option<(&PodName, Incarnation)>,
        op: impl FnOnce(&mut Table, u64) -> Result<T, RegistryError>,
    ) -> Result<(T, Option<Hold>), RegistryError> {
        let _lock = acquire(&self.lock, self.deadline)?;
        let now = now_unix_ms();
        let mut p = self.prepare(now)?;
        let mut hold = None;
        let out = match op(&mut p.table, now) {
            Ok(v) => {
                if mutates {
                    if let Some((name, incarnation)) = hold_for {
                        hold = Some(self.holds.take(name, incarnation)?);
                        // The new holder's record goes before the table commits: if
                        // the commit fails, the caller drops the hold and the record
                        // is a dead hold's, removed by the next operation.
                        if let Some(bytes) = record_of(&p.table, name) {
                            self.holds.write(name, &bytes)?;
                        }
                        p.held.insert(name.clone());
                    }
                    p.changed = true;
                }
                Ok(v)
            }
            Err(e) => {
                if mutates {
                    // A refused operation may have changed the table half-way: start
                    // again from the file (what was reaped or rebuilt is still saved,
                    // so the next caller does not redo it).
                    p = self.prepare(now)?;
                }
                Err(e)
            }
        };
        if p.changed {
            self.save(&p.table)?;
            // The table is committed; the holds' records follow it. A crash before
            // this point leaves records one operation behind, which only ever misses
            // or keeps a delegation record or a segment, never a region (see `hold`).
            // For the same reason a failure here is only logged: the operation has
            // happened, and reporting it as failed would make the caller act as if
            // it had not (e.g. drop a hold whose row is committed). A record left
            // behind is rewritten the next time its row changes; dead holds' files
            // are removed by the next operation that changes the table.
            if let Err(e) = self.sync_holds(&p, hold_for.map(|(n, _)| n)) {
                tracing::warn!(error = %e, "cannot bring the registry's hold records up to date");
            }
        }
        out.map(|v| (v, hold))
    }

    /// Loads the table (missing or unparsable: empty), reaps it, and re-inserts the
    /// rows of live holds it lacks.
    fn prepare(&self, now: u64) -> Result<Prepared, RegistryError> {
        let (mut table, mut changed) = match self.load()? {
            Loaded::Table(t) => (t, false),
            Loaded::Missing => (Table::default(), true),
            Loaded::Corrupt(message) => {
                // The table is a cache of the holds: rebuilding it loses only rows
                // nobody holds (registered without a hold), never a live holder's.
                tracing::warn!(path = %self.table.display(), %message, "registry table unparsable; rebuilding it from the holds");
                (Table::default(), true)
            }
        };
        let held = self.holds.scan()?;
        let records_before = records(&table, &held);
        changed |= !table.reap(now, &mut |p| p.is_alive()).is_empty();
        // "Per-Pod liveness locks are the ground truth": before anything is decided,
        // every live hold the table lacks gets its row (and its pending reservations)
        // back.
        let rebuilt = self.rebuild_from_holds(&mut table, &held)?;
        if rebuilt.inserted {
            changed = true;
            // Reservations brought back may have expired meanwhile.
            table.reap(now, &mut |p| p.is_alive());
        }
        Ok(Prepared {
            table,
            changed,
            held,
            records_before,
            live_unreadable: rebuilt.live_unreadable,
        })
    }

    /// Re-inserts the row of every live hold that the table lacks (or has only as a
    /// reservation: an older table from before the child adopted it).
    fn rebuild_from_holds(
        &self,
        table: &mut Table,
        held: &HashSet<PodName>,
    ) -> Result<Rebuilt, RegistryError> {
        let mut out = Rebuilt::default();
        for name in held {
            if table.get(name).is_some_and(|r| r.process.is_some()) {
                continue;
            }
            if let Probe::Dead = self.holds.probe(name)? {
                continue; // its files are removed by `sync_holds`
            }
            let Some(record) = self
                .holds
                .read(name)
                .filter(|r| &r.row.name == name && r.row.process.is_some())
            else {
                // Live but without a usable record: leave its files alone (never
                // remove a live holder's lock), nothing to insert.
                out.live_unreadable.insert(name.clone());
                continue;
            };
            tracing::warn!(pod = %name, "registry table lacked a live Pod's row; re-inserted it from its hold");
            table.allocations.retain(|a| &a.name != name);
            let mut rows = vec![record.row];
            rows.extend(
                record
                    .reservations
                    .into_iter()
                    .filter(|r| r.process.is_none() && table.get(&r.name).is_none()),
            );
            for row in rows {
                out.inserted_names.push(row.name.clone());
                table.allocations.push(row);
            }
            out.inserted = true;
        }
        // A parent kept by an older table may lack the record of a child re-inserted
        // here: give it back, so the parent's effective scope excludes the child's
        // region again (records live on the parent, ARCHITECTURE §5).
        for child in &out.inserted_names {
            let Some(c) = table.get(child) else { continue };
            let (Some(parent), rules) = (c.delegated_from.clone(), c.allow.clone()) else {
                continue;
            };
            if let Some(p) = table.get_mut(&parent)
                && !p.delegations.iter().any(|d| &d.child == child)
            {
                add_record(
                    &mut p.delegations,
                    Delegation {
                        child: child.clone(),
                        rules,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Rewrites the records whose content changed and removes the holds whose row is
    /// gone (released, reaped, or a dead holder the table never had).
    fn sync_holds(
        &self,
        p: &Prepared,
        just_written: Option<&PodName>,
    ) -> Result<(), RegistryError> {
        let (table, before) = (&p.table, &p.records_before);
        for name in &p.held {
            if p.live_unreadable.contains(name) && table.get(name).is_none() {
                continue;
            }
            match record_of(table, name) {
                None => self.holds.remove(name)?,
                Some(_) if Some(name) == just_written => {}
                Some(bytes) => {
                    if before.get(name) != Some(&bytes) {
                        self.holds.write(name, &bytes)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A loaded, reaped and rebuilt table, and what the holds looked like.
struct Prepared {
    table: Table,
    /// The table differs from the file (rebuilt, reaped, or mutated).
    changed: bool,
    /// Names with a hold lock file.
    held: HashSet<PodName>,
    /// Their records as the loaded table had them.
    records_before: HashMap<PodName, Vec<u8>>,
    /// Live holds whose record could not be read (their files are kept).
    live_unreadable: HashSet<PodName>,
}

/// What rebuilding from holds did.
#[derive(Default)]
struct Rebuilt {
    /// Rows were inserted.
    inserted: bool,
    /// Their names (holders and their pending reservations).
    inserted_names: Vec<PodName>,
    /// Live holds whose record could not be read.
    live_unreadable: HashSet<PodName>,
}

/// What the table file held.
enum Loaded {
    Table(Table),
    Missing,
    Corrupt(String),
}

/// The encoded hold record of `name` as `table` has it, `None` when `name` has no
/// row with a process (a reservation is recorded in its parent's hold instead).
fn record_of(table: &Table, name: &PodName) -> Option<Vec<u8>> {
    let row = table.get(name).filter(|r| r.process.is_some())?;
    let record = HoldRecord {
        row: row.clone(),
        reservations: table
            .allocations
            .iter()
            .filter(|a| a.process.is_none() && a.delegated_from.as_ref() == Some(name))
            .cloned()
            .collect(),
    };
    serde_json::to_vec(&record).ok()
}

/// The records of every held name, as `table` has them.
fn records(table: &Table, held: &HashSet<PodName>) -> HashMap<PodName, Vec<u8>> {
    held.iter()
        .filter_map(|n| record_of(table, n).map(|r| (n.clone(), r)))
        .collect()
}

fn missing_hold(name: &PodName) -> RegistryError {
    RegistryError::NotRegistered {
        name: name.clone(),
        detail: " (no hold was taken)".into(),
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
