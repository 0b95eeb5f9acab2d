//! The PostgreSQL backend (ARCHITECTURE §5 "PostgreSQL backend"), for Pods on
//! several machines sharing one registry.
//!
//! The rows are the file backend's [`Allocation`]s (JSON in a `jsonb` column) and every
//! operation runs the same [`Table`] operation, so allocation, delegation, release,
//! reclaim and the exact overlap checks (the `scope` region algebra, in Rust, over all
//! rows) behave identically. What a shared database adds, per row: the holder's
//! machine and boot, a **lease** (expiry on the *database's* clock) and a **fencing
//! token** (a new value of one sequence at every grant, so monotonic per name).
//!
//! Serialisation: every mutating operation is one transaction that first takes a
//! transaction-scoped advisory lock (`pg_advisory_xact_lock`), then reads the rows
//! (READ COMMITTED: each statement sees everything committed before the lock was
//! granted), decides in Rust, writes the difference and commits. So registry
//! transactions are executed one at a time in commit order — the same effect as
//! SERIALIZABLE, without the retry storms sixteen writers reading the whole table
//! would cause (serialisation failures and deadlocks are still retried). Reads take
//! no lock: one REPEATABLE READ snapshot, reaped in memory only (a read never
//! deletes: after a database outage, `pod registry` must not fence Pods that have
//! not had a chance to renew yet).
//!
//! Liveness of a row with a process, at the database time `now` of the transaction:
//! dead if its lease expired (`lease_expires_at <= now`); else, if it was written on
//! this machine, dead if written in another boot or if its pid is gone or reused;
//! else alive. A reservation (no process) lives until its own deadline, also judged
//! on the database clock. Pids are probed only when a decision needs it (see
//! `transact`), and only rows written since the connection last saw them are
//! decoded (the row cache, by revision): an operation's cost does not grow with
//! the JSON of a thousand rows it does not touch.

mod lease;
mod migrations;
mod target;
mod tls;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pod_ids::{PodName, SegmentId};
use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, Transaction};
use scope::Scope;

pub use lease::{Lease, LeaseGate, LeaseStatus};
pub use migrations::SCHEMA_VERSION as PG_SCHEMA_VERSION;

use crate::allocation::{Allocation, ReservationToken};
use crate::error::RegistryError;
use crate::machine::MachineId;
use crate::process::Incarnation;
use crate::registry::{
    AdoptRequest, ReclaimRequest, Reclaimed, RegisterRequest, Registry, Released, ReserveRequest,
};
use crate::table::Table;

/// Default lease: a holder renews every third of it and stops writing a quarter of
/// it before it ends; another machine may take its region once it has ended.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(5);
/// Default wait for the registry's advisory lock.
pub const DEFAULT_PG_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// The key of the advisory lock every mutating operation takes ("podsreg\0").
const OP_LOCK: i64 = 0x706f_6473_7265_6700;
/// Serialisation failures and deadlocks are retried this many times.
const MAX_ATTEMPTS: u32 = 8;

/// How to reach the database and how long leases last.
#[derive(Clone)]
pub struct PgOptions {
    /// libpq-style connection string or `postgres://` URL (may hold a password:
    /// never printed; errors show [`PgRegistry::target`]).
    pub conninfo: String,
    /// Lease length.
    pub lease: Duration,
    /// How long an operation waits for the registry's advisory lock.
    pub lock_timeout: Duration,
    /// This machine (`MachineId::local()` unless simulating another machine).
    pub machine: MachineId,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("target", &target::redacted(&self.conninfo))
            .field("lease", &self.lease)
            .field("machine", &self.machine)
            .finish()
    }
}

/// The PostgreSQL registry. Cheap to clone: clones share one connection and the
/// record of which allocations this process holds (for fencing).
#[derive(Clone, Debug)]
pub struct PgRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    options: PgOptions,
    config: postgres::Config,
    /// TLS as the connection string's `sslmode`/`sslrootcert` ask (see `tls`).
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    /// What that TLS checks, in words (`pod doctor`).
    tls_summary: String,
    target: String,
    client: Mutex<Option<Client>>,
    /// Allocations this process holds: name → (incarnation, fencing token). Every
    /// operation on behalf of one of them first checks that the row still carries
    /// this token; if not, the holder is fenced.
    held: Mutex<HashMap<PodName, (Incarnation, i64)>>,
    /// Rows decoded earlier, by name, with the revision they were read or written
    /// at: an operation re-reads only rows whose revision differs.
    rows: Mutex<RowCache>,
}

/// name → (revision, row). Revisions come from one sequence and are never reused,
/// so an entry whose revision equals the stored one *is* the stored row, whatever
/// happened in between (even an entry written by a transaction that then failed:
/// its revision was never committed, so it never matches).
type RowCache = HashMap<String, (i64, Allocation)>;

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing a `postgres` client blocks on its private runtime, which panics on
        // a thread that runs a Tokio runtime already (see `off_runtime`).
        let client = self
            .client
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(c) = client {
            off_runtime(move || drop(c));
        }
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgRegistry")
            .field("target", &self.target)
            .finish()
    }
}

/// What the database keeps beside an allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowMeta {
    /// Machine of the process that holds it (`None` for a reservation).
    pub machine_id: Option<String>,
    /// Boot of that machine.
    pub boot_id: Option<String>,
    /// The fencing token of the current grant.
    pub fence: i64,
    /// Lease end, milliseconds since the Unix epoch on the database's clock.
    pub lease_expires_ms: Option<i64>,
    /// Insertion order (keeps conflict reports identical to the file backend's).
    position: i64,
}

/// A snapshot for diagnostics (`pod doctor`, `pod registry`).
#[derive(Debug, Clone)]
pub struct PgSnapshot {
    /// The database's clock at the read, ms since the epoch.
    pub db_now_ms: i64,
    /// The local clock at the middle of the round trip, ms since the epoch.
    pub local_now_ms: i64,
    /// Every stored row (not reaped) with its metadata.
    pub rows: Vec<(Allocation, RowMeta)>,
    /// The schema version found.
    pub schema_version: i32,
}

impl PgSnapshot {
    /// Local clock minus the database's (positive: this machine is ahead).
    pub fn clock_skew_ms(&self) -> i64 {
        self.local_now_ms - self.db_now_ms
    }

    /// Rows with a process whose lease has ended but which no operation has reaped.
    pub fn expired_leases(&self) -> Vec<&(Allocation, RowMeta)> {
        self.rows
            .iter()
            .filter(|(a, m)| {
                a.process.is_some() && m.lease_expires_ms.is_none_or(|e| e <= self.db_now_ms)
            })
            .collect()
    }
}

type Metas = HashMap<PodName, RowMeta>;

/// Which holder (if any) an operation acts for, to check its fencing token.
#[derive(Clone, Copy)]
enum Actor<'a> {
    Nobody,
    Holder(&'a PodName, Option<Incarnation>),
}

impl PgRegistry {
    /// Connects, and brings the schema up to date. Fails with
    /// [`RegistryError::Unavailable`] when the database cannot be reached.
    pub fn connect(options: PgOptions) -> Result<PgRegistry, RegistryError> {
        let target = target::redacted(&options.conninfo);
        let invalid = |e: String| {
            RegistryError::Config(format!(
                "the registry url is not a valid PostgreSQL connection string ({e})"
            ))
        };
        let split = tls::split(&options.conninfo).map_err(invalid)?;
        let mut config: postgres::Config = split
            .driver
            .parse()
            .map_err(|e: postgres::Error| invalid(e.to_string()))?;
        let tls = tls::connector(&split)
            .map_err(|e| RegistryError::Config(format!("registry database {target}: {e}")))?;
        let unix_only = config
            .get_hosts()
            .iter()
            .all(|h| matches!(h, postgres::config::Host::Unix(_)));
        let tls_summary = split.describe(unix_only);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(3));
        }
        // A silent network (partition) must surface as an error, not a hang: the
        // holder's lease is judged locally anyway, but new allocations should fail fast.
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(5))
            .tcp_user_timeout(options.lease.max(Duration::from_secs(2)));
        if config.get_application_name().is_none() {
            config.application_name("pods-registry");
        }
        let reg = PgRegistry {
            inner: Arc::new(Inner {
                options,
                config,
                tls,
                tls_summary,
                target,
                client: Mutex::new(None),
                held: Mutex::new(HashMap::new()),
                rows: Mutex::new(HashMap::new()),
            }),
        };
        off_runtime(|| {
            let mut guard = reg.client()?;
            match guard.as_mut() {
                Some(c) => migrations::migrate(c, &reg.inner.target),
                None => Ok(()),
            }
        })?;
        Ok(reg)
    }

    /// The database, without password (for messages and `pod doctor`).
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// What protects the connection: TLS and what of the certificate is checked.
    pub fn tls(&self) -> &str {
        &self.inner.tls_summary
    }

    /// The lease length.
    pub fn lease(&self) -> Duration {
        self.inner.options.lease
    }

    /// This registry's machine identity.
    pub fn machine(&self) -> &MachineId {
        &self.inner.options.machine
    }

    fn new_client(&self) -> Result<Client, RegistryError> {
        let mut c = self
            .inner
            .config
            .connect(self.inner.tls.clone())
            .map_err(|e| connect_error(&self.inner.target, &e))?;
        let ms = self.inner.options.lock_timeout.as_millis();
        c.batch_execute(&format!("SET lock_timeout = {ms}"))
            .map_err(|e| db_error(&self.inner.target, e))?;
        Ok(c)
    }

    /// The shared connection, connected if needed.
    fn client(&self) -> Result<MutexGuard<'_, Option<Client>>, RegistryError> {
        let mut guard = self.inner.client.lock().unwrap_or_else(|p| p.into_inner());
        if guard.as_ref().is_none_or(|c| c.is_closed()) {
            *guard = Some(self.new_client()?);
        }
        Ok(guard)
    }

    /// Runs `body` in a transaction on the shared connection, retrying serialisation
    /// failures and deadlocks, and reconnecting once when the connection broke (the
    /// server restarted since the last operation).
    fn with_tx<T: Send>(
        &self,
        isolation: IsolationLevel,
        body: impl FnMut(&mut Transaction<'_>) -> Result<T, TxError> + Send,
    ) -> Result<T, RegistryError> {
        off_runtime(|| self.with_tx_here(isolation, body))
    }

    fn with_tx_here<T>(
        &self,
        isolation: IsolationLevel,
        mut body: impl FnMut(&mut Transaction<'_>) -> Result<T, TxError>,
    ) -> Result<T, RegistryError> {
        let mut reconnected = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut guard = self.client()?;
            let Some(client) = guard.as_mut() else {
                return Err(RegistryError::Unavailable {
                    target: self.inner.target.clone(),
                    message: "no connection".into(),
                });
            };
            let result = (|| {
                let mut tx = client
                    .build_transaction()
                    .isolation_level(isolation)
                    .start()?;
                let out = body(&mut tx)?;
                tx.commit()?;
                Ok(out)
            })();
            match result {
                Ok(v) => return Ok(v),
                Err(TxError::Registry(e)) => return Err(e),
                Err(TxError::Pg(e)) => {
                    let retry = matches!(
                        e.code(),
                        Some(&SqlState::T_R_SERIALIZATION_FAILURE)
                            | Some(&SqlState::T_R_DEADLOCK_DETECTED)
                    );
                    if retry && attempt < MAX_ATTEMPTS {
                        continue;
                    }
                    if e.code().is_none() || is_connection_loss(&e) {
                        *guard = None;
                        if !reconnected {
                            reconnected = true;
                            continue;
                        }
                        return Err(unavailable(&self.inner.target, &e));
                    }
                    if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
                        return Err(RegistryError::Database {
                            target: self.inner.target.clone(),
                            message: format!(
                                "the registry lock was not granted within {:?}: another registry operation is stuck (see pg_stat_activity)",
                                self.inner.options.lock_timeout
                            ),
                        });
                    }
                    return Err(db_error(&self.inner.target, e));
                }
            }
        }
    }

    /// Lock, read, reap, check the actor's fence, run `op`; with `mutates`, write the
    /// difference and commit. Returns `op`'s result and the rows' metadata afterwards.
    fn transact<T: Send>(
        &self,
        mutates: bool,
        actor: Actor<'_>,
        mut op: impl FnMut(&mut Table, u64) -> Result<T, RegistryError> + Send,
    ) -> Result<(T, Metas), RegistryError> {
        let isolation = if mutates {
            IsolationLevel::ReadCommitted
        } else {
            IsolationLevel::RepeatableRead
        };
        let fence = self.held_fence(actor);
        let local = &self.inner.options.machine;
        self.with_tx(isolation, |tx| {
            if mutates {
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&OP_LOCK])?;
            }
            let now = db_now_ms(tx)?;
            let (loaded, metas) = load(tx, &self.inner.rows)?;
            let mut decide = |probe: bool| -> Result<(Table, Result<T, RegistryError>), TxError> {
                let mut table = loaded.clone();
                reap(&mut table, &metas, now, local, probe);
                if let (Actor::Holder(name, _), Some((inc, fence))) = (actor, fence) {
                    check_fence(&table, &metas, name, inc, fence)?;
                }
                let out = op(&mut table, now_u64(now));
                Ok((table, out))
            };
            // A mutation first decides without probing this machine's processes:
            // rows are judged by lease and boot only, so a dead process whose lease
            // has not ended counts as live. If that decision succeeds it is exactly
            // the decision made had that process died just after this transaction
            // (a row that blocked nothing changes nothing), so it stands. If it
            // fails, a dead process may be what blocked it: decide again with every
            // process probed, which is the file backend's rule. Reads probe at once.
            let (table, out) = match mutates {
                true => match decide(false)? {
                    (t, Ok(v)) => (t, Ok(v)),
                    (_, Err(_)) => decide(true)?,
                },
                false => decide(true)?,
            };
            let out = out.map_err(TxError::Registry)?;
            let metas = if mutates {
                self.write_back(tx, &table, &loaded, metas, now)?
            } else {
                metas
            };
            Ok((out, metas))
        })
    }

    /// Deletes the rows `table` lost, writes those that changed (compared with the
    /// rows as loaded, so an operation encodes and writes only what it touched). A
    /// row whose process changed (new, adopted) is a new grant: new fencing token,
    /// this machine, a fresh lease. Other changes (delegation records, parent links)
    /// keep the grant. Every write gives the row a new revision.
    fn write_back(
        &self,
        tx: &mut Transaction<'_>,
        table: &Table,
        loaded: &Table,
        mut metas: Metas,
        now: i64,
    ) -> Result<Metas, TxError> {
        let before: HashMap<&PodName, &Allocation> =
            loaded.allocations.iter().map(|a| (&a.name, a)).collect();
        let after: HashSet<&PodName> = table.allocations.iter().map(|a| &a.name).collect();
        let mut cache = self.inner.rows.lock().unwrap_or_else(|p| p.into_inner());
        for name in before.keys().filter(|n| !after.contains(*n)) {
            tx.execute(
                "DELETE FROM pod_registry_allocations WHERE name = $1",
                &[&name.as_str()],
            )?;
            metas.remove(*name);
            cache.remove(name.as_str());
        }
        let lease_ms = i64::try_from(self.inner.options.lease.as_millis()).unwrap_or(i64::MAX);
        let local = &self.inner.options.machine;
        for a in &table.allocations {
            let old_row = before.get(&a.name).copied();
            if old_row == Some(a) {
                continue;
            }
            let old = metas.get(&a.name);
            let regranted = old.is_none()
                || old_row.map(|b| b.process.map(|p| p.incarnation))
                    != Some(a.process.map(|p| p.incarnation));
            let meta = match old {
                Some(m) if !regranted => m.clone(),
                _ => {
                    let fence: i64 = tx
                        .query_one("SELECT nextval('pod_registry_fence')", &[])?
                        .get(0);
                    let held = a.process.is_some();
                    RowMeta {
                        machine_id: held.then(|| local.machine.clone()),
                        boot_id: held.then(|| local.boot.clone()),
                        fence,
                        lease_expires_ms: held.then(|| now.saturating_add(lease_ms)),
                        position: old.map_or(fence, |m| m.position),
                    }
                }
            };
            let lease_secs = meta.lease_expires_ms.map(|ms| ms as f64 / 1000.0);
            let rev: i64 = tx
                .query_one(
                    "INSERT INTO pod_registry_allocations
                         (name, row, machine_id, boot_id, fence, lease_expires_at, position, rev)
                     VALUES ($1, $2::text::jsonb, $3, $4, $5, to_timestamp($6), $7,
                             nextval('pod_registry_rev'))
                     ON CONFLICT (name) DO UPDATE SET
                         row = EXCLUDED.row, machine_id = EXCLUDED.machine_id,
                         boot_id = EXCLUDED.boot_id, fence = EXCLUDED.fence,
                         lease_expires_at = EXCLUDED.lease_expires_at, rev = EXCLUDED.rev
                     RETURNING rev",
                    &[
                        &a.name.as_str(),
                        &to_json(a)?,
                        &meta.machine_id,
                        &meta.boot_id,
                        &meta.fence,
                        &lease_secs,
                        &meta.position,
                    ],
                )?
                .get(0);
            cache.insert(a.name.as_str().to_owned(), (rev, a.clone()));
            metas.insert(a.name.clone(), meta);
        }
        Ok(metas)
    }

    fn held_fence(&self, actor: Actor<'_>) -> Option<(Incarnation, i64)> {
        let Actor::Holder(name, inc) = actor else {
            return None;
        };
        let held = self.inner.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(name)
            .copied()
            .filter(|(i, _)| inc.is_none_or(|x| x == *i))
    }

    /// [`Registry::register`], and the calling process takes a [`Lease`] on the row:
    /// keep it for the process's life; it renews the lease in the background and
    /// tells (through its [`LeaseGate`]) whether the process may write right now.
    pub fn register_leased(
        &self,
        req: RegisterRequest,
    ) -> Result<(Allocation, Lease), RegistryError> {
        let (name, inc) = (req.name.clone(), req.process.incarnation);
        let t0 = Instant::now();
        let (row, metas) = self.transact(true, Actor::Nobody, |t, _| t.register(req.clone()))?;
        let lease = self.lease_for(&name, inc, &metas, t0)?;
        Ok((row, lease))
    }

    /// [`Registry::adopt`], and the calling (child) process takes a [`Lease`], as in
    /// [`PgRegistry::register_leased`].
    pub fn adopt_leased(&self, req: AdoptRequest) -> Result<(Allocation, Lease), RegistryError> {
        let (name, inc) = (req.name.clone(), req.process.incarnation);
        let t0 = Instant::now();
        let (row, metas) = self.transact(true, Actor::Nobody, |t, _| t.adopt(req.clone()))?;
        let lease = self.lease_for(&name, inc, &metas, t0)?;
        Ok((row, lease))
    }

    fn lease_for(
        &self,
        name: &PodName,
        inc: Incarnation,
        metas: &Metas,
        granted_at: Instant,
    ) -> Result<Lease, RegistryError> {
        let fence = metas
            .get(name)
            .map(|m| m.fence)
            .ok_or_else(|| RegistryError::Fenced {
                name: name.clone(),
                detail: " (its row vanished as it was granted)".into(),
            })?;
        self.inner
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.clone(), (inc, fence));
        // The renewer gets its own connection, so a slow operation never delays a
        // renewal.
        let renewer = PgRegistry {
            inner: Arc::new(Inner {
                options: self.inner.options.clone(),
                config: self.inner.config.clone(),
                tls: self.inner.tls.clone(),
                tls_summary: self.inner.tls_summary.clone(),
                target: self.inner.target.clone(),
                client: Mutex::new(None),
                held: Mutex::new(HashMap::new()),
                rows: Mutex::new(HashMap::new()),
            }),
        };
        Ok(Lease::start(renewer, name.clone(), inc, fence, granted_at))
    }

    /// Extends the lease of the grant `(name, incarnation, fence)` to the database's
    /// now + lease. Fails with [`RegistryError::Fenced`] when the row is gone or is
    /// another grant. A lease that has ended but whose row nobody reaped yet is
    /// extended: the holder stopped writing when it ended, and nobody else could be
    /// granted the region without reaping the row first (both under the lock).
    pub fn renew(
        &self,
        name: &PodName,
        incarnation: Incarnation,
        fence: i64,
    ) -> Result<(), RegistryError> {
        let lease_ms = i64::try_from(self.inner.options.lease.as_millis()).unwrap_or(i64::MAX);
        self.with_tx(IsolationLevel::ReadCommitted, |tx| {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&OP_LOCK])?;
            let now = db_now_ms(tx)?;
            let row = tx.query_opt(
                "SELECT fence, row->'process'->>'incarnation' FROM pod_registry_allocations
                 WHERE name = $1",
                &[&name.as_str()],
            )?;
            let current = row.map(|r| (r.get::<_, i64>(0), r.get::<_, Option<String>>(1)));
            let inc = incarnation.to_string();
            match current {
                Some((f, Some(i))) if f == fence && i == inc => {}
                other => {
                    return Err(TxError::Registry(RegistryError::Fenced {
                        name: name.clone(),
                        detail: match other {
                            None => format!(" (fencing token {fence}: the row was reclaimed)"),
                            Some((f, _)) => format!(
                                " (fencing token {fence} is no longer current: the row now carries {f})"
                            ),
                        },
                    }));
                }
            }
            tx.execute(
                "UPDATE pod_registry_allocations SET lease_expires_at = to_timestamp($2)
                 WHERE name = $1",
                &[&name.as_str(), &(now.saturating_add(lease_ms) as f64 / 1000.0)],
            )?;
            Ok(())
        })
    }

    /// Every stored row with its lease and fence, the database's clock and ours,
    /// without reaping (diagnostics).
    pub fn snapshot(&self) -> Result<PgSnapshot, RegistryError> {
        let before = SystemTime::now();
        let (db_now_ms, table, metas, schema_version) =
            self.with_tx(IsolationLevel::RepeatableRead, |tx| {
                let now = db_now_ms(tx)?;
                let (t, m) = load(tx, &self.inner.rows)?;
                let v: i32 = tx
                    .query_one(
                        "SELECT coalesce(max(version), 0) FROM pod_registry_schema",
                        &[],
                    )?
                    .get(0);
                Ok((now, t, m, v))
            })?;
        let after = SystemTime::now();
        let ms = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        };
        let local_now_ms = (ms(before) + ms(after)) / 2;
        let rows = table
            .allocations
            .into_iter()
            .filter_map(|a| metas.get(&a.name).cloned().map(|m| (a, m)))
            .collect();
        Ok(PgSnapshot {
            db_now_ms,
            local_now_ms,
            rows,
            schema_version,
        })
    }

    /// The fencing token of `name`'s current grant, if it has a row.
    pub fn fence_of(&self, name: &PodName) -> Result<Option<i64>, RegistryError> {
        Ok(self
            .snapshot()?
            .rows
            .into_iter()
            .find(|(a, _)| &a.name == name)
            .map(|(_, m)| m.fence))
    }

    fn op<T: Send>(
        &self,
        actor: Actor<'_>,
        op: impl FnMut(&mut Table, u64) -> Result<T, RegistryError> + Send,
    ) -> Result<T, RegistryError> {
        self.transact(true, actor, op).map(|(v, _)| v)
    }

    fn read<T: Send>(
        &self,
        op: impl FnMut(&mut Table, u64) -> Result<T, RegistryError> + Send,
    ) -> Result<T, RegistryError> {
        self.transact(false, Actor::Nobody, op).map(|(v, _)| v)
    }
}

/// Runs `f` on a short-lived thread of its own. The `postgres` client drives its
/// connection with a private Tokio runtime, which must not be entered from a thread
/// that already runs one (the Pod's runtime calls the registry); a scoped thread per
/// operation costs tens of microseconds beside a database round trip of milliseconds.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Reaps `table` at database time `now` (see the module doc for liveness). With
/// `probe`, a row held on this machine, in this boot, with its lease running is
/// judged by its process (pid alive with the recorded start time, one probe per
/// distinct process); without, such a row counts as live.
fn reap(table: &mut Table, metas: &Metas, now: i64, local: &MachineId, probe: bool) {
    let mut verdicts: HashMap<(u32, u64), bool> = HashMap::new();
    table.reap_rows(now_u64(now), &mut |a, p| {
        let Some(m) = metas.get(&a.name) else {
            return false;
        };
        if m.lease_expires_ms.is_none_or(|e| e <= now) {
            return false;
        }
        if m.machine_id.as_deref() != Some(local.machine.as_str()) {
            return true;
        }
        if m.boot_id.as_deref() != Some(local.boot.as_str()) {
            return false;
        }
        !probe
            || *verdicts
                .entry((p.pid, p.pid_start_time))
                .or_insert_with(|| p.is_alive())
    });
}

/// The holder's row must still carry its grant's token (after reaping: an ended lease
/// reaped in this very transaction fences its holder too).
fn check_fence(
    table: &Table,
    metas: &Metas,
    name: &PodName,
    inc: Incarnation,
    fence: i64,
) -> Result<(), TxError> {
    let current = table
        .get(name)
        .filter(|a| a.is_incarnation(inc))
        .and_then(|_| metas.get(name))
        .map(|m| m.fence);
    if current == Some(fence) {
        return Ok(());
    }
    Err(TxError::Registry(RegistryError::Fenced {
        name: name.clone(),
        detail: format!(" (fencing token {fence} is no longer current)"),
    }))
}

/// Every row in insertion order with its metadata. The metadata (leases change
/// at every renewal) is read for all rows; the JSON only for rows whose revision
/// `cache` does not hold, and those are decoded into it.
fn load(tx: &mut Transaction<'_>, cache: &Mutex<RowCache>) -> Result<(Table, Metas), TxError> {
    let heads = tx.query(
        "SELECT name, rev, machine_id, boot_id, fence,
                (extract(epoch FROM lease_expires_at) * 1000)::bigint, position
         FROM pod_registry_allocations ORDER BY position",
        &[],
    )?;
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    let stale: Vec<&str> = heads
        .iter()
        .filter(|r| {
            cache
                .get(r.get::<_, &str>(0))
                .is_none_or(|(rev, _)| *rev != r.get::<_, i64>(1))
        })
        .map(|r| r.get(0))
        .collect();
    if !stale.is_empty() {
        for r in tx.query(
            "SELECT name, rev, row::text FROM pod_registry_allocations WHERE name = ANY($1)",
            &[&stale],
        )? {
            let name: String = r.get(0);
            let a: Allocation = serde_json::from_str(r.get(2)).map_err(|e| {
                TxError::Registry(RegistryError::Database {
                    target: String::from("registry"),
                    message: format!("row {name} is not a valid allocation: {e}"),
                })
            })?;
            cache.insert(name, (r.get(1), a));
        }
    }
    let present: HashSet<&str> = heads.iter().map(|r| r.get(0)).collect();
    cache.retain(|name, _| present.contains(name.as_str()));
    let mut table = Table::default();
    let mut metas = HashMap::with_capacity(heads.len());
    for r in &heads {
        let name: &str = r.get(0);
        let rev: i64 = r.get(1);
        // Both reads see the same rows: every writer holds the registry lock (and
        // a read runs in one snapshot).
        let Some((_, a)) = cache.get(name).filter(|(r, _)| *r == rev) else {
            return Err(TxError::Registry(RegistryError::Database {
                target: String::from("registry"),
                message: format!("row {name} changed while it was read"),
            }));
        };
        metas.insert(
            a.name.clone(),
            RowMeta {
                machine_id: r.get(2),
                boot_id: r.get(3),
                fence: r.get(4),
                lease_expires_ms: r.get(5),
                position: r.get(6),
            },
        );
        table.allocations.push(a.clone());
    }
    Ok((table, metas))
}

fn db_now_ms(tx: &mut Transaction<'_>) -> Result<i64, TxError> {
    // clock_timestamp(), not now(): the transaction may have waited for the lock, and
    // leases are judged at the moment of the decision.
    Ok(tx
        .query_one(
            "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint",
            &[],
        )?
        .get(0))
}

fn now_u64(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0)
}

fn to_json(a: &Allocation) -> Result<String, TxError> {
    serde_json::to_string(a).map_err(|e| {
        TxError::Registry(RegistryError::Database {
            target: String::from("registry"),
            message: format!("cannot encode allocation {}: {e}", a.name),
        })
    })
}

/// An error inside a transaction body: the driver's (maybe retried) or a decision.
pub(crate) enum TxError {
    Pg(postgres::Error),
    Registry(RegistryError),
}

impl From<postgres::Error> for TxError {
    fn from(e: postgres::Error) -> Self {
        TxError::Pg(e)
    }
}

fn is_connection_loss(e: &postgres::Error) -> bool {
    e.is_closed()
        || matches!(
            e.code(),
            Some(&SqlState::ADMIN_SHUTDOWN)
                | Some(&SqlState::CRASH_SHUTDOWN)
                | Some(&SqlState::CANNOT_CONNECT_NOW)
                | Some(&SqlState::CONNECTION_FAILURE)
                | Some(&SqlState::CONNECTION_EXCEPTION)
        )
}

fn unavailable(target: &str, e: &postgres::Error) -> RegistryError {
    RegistryError::Unavailable {
        target: target.to_owned(),
        message: with_source(e),
    }
}

fn with_source(e: &postgres::Error) -> String {
    use std::error::Error as _;
    match e.source() {
        Some(s) => format!("{e}: {s}"),
        None => e.to_string(),
    }
}

/// A failed connect: a server that answered with an error (authentication,
/// pg_hba.conf) or a certificate rustls rejected is `Refused`, not down — retrying
/// cannot help and the message must not send the user looking for an outage.
fn connect_error(target: &str, e: &postgres::Error) -> RegistryError {
    let server_said = e.code().is_some() && !is_connection_loss(e);
    if server_said || rejected_by_tls(e) || tls_declined(e) {
        RegistryError::Refused {
            target: target.to_owned(),
            message: with_source(e),
        }
    } else {
        unavailable(target, e)
    }
}

/// Whether the server declined TLS that the connection string requires: the driver
/// reports it as a TLS error whose cause is its own message, not an I/O error (an
/// I/O error during the handshake is the network's, and may pass). The driver gives
/// no error kind to match, so its message is matched (`pg_tls` tests it).
fn tls_declined(e: &postgres::Error) -> bool {
    use std::error::Error as _;
    e.to_string().starts_with("error performing TLS handshake")
        && e.source().is_some_and(|s| !s.is::<std::io::Error>())
}

/// Whether a `rustls::Error` (a certificate or handshake failure) is in `e`'s
/// chain; the TLS connector reports it inside an `io::Error`.
fn rejected_by_tls(e: &postgres::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        cur = err.source();
    }
    false
}

pub(crate) fn db_error(target: &str, e: postgres::Error) -> RegistryError {
    if e.code().is_none() || is_connection_loss(&e) {
        return unavailable(target, &e);
    }
    let message = e
        .as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_owned());
    RegistryError::Database {
        target: target.to_owned(),
        message,
    }
}

impl Registry for PgRegistry {
    fn register(&self, req: RegisterRequest) -> Result<Allocation, RegistryError> {
        self.op(Actor::Nobody, |t, _| t.register(req.clone()))
    }

    fn reserve_child(&self, req: ReserveRequest) -> Result<ReservationToken, RegistryError> {
        let parent = req.parent.clone();
        self.op(
            Actor::Holder(&parent, Some(req.parent_incarnation)),
            |t, now| t.reserve_child(req.clone(), now),
        )
    }

    fn adopt(&self, req: AdoptRequest) -> Result<Allocation, RegistryError> {
        self.op(Actor::Nobody, |t, _| t.adopt(req.clone()))
    }

    fn release(&self, name: &PodName, incarnation: Incarnation) -> Result<Released, RegistryError> {
        let out = self.op(Actor::Nobody, |t, _| Ok(t.release(name, incarnation)));
        if out.is_ok() {
            let mut held = self.inner.held.lock().unwrap_or_else(|p| p.into_inner());
            if held.get(name).is_some_and(|(i, _)| *i == incarnation) {
                held.remove(name);
            }
        }
        out
    }

    fn reclaim_delegation(&self, req: ReclaimRequest) -> Result<Reclaimed, RegistryError> {
        let parent = req.parent.clone();
        self.op(Actor::Holder(&parent, None), |t, _| {
            t.reclaim_delegation(req.clone())
        })
    }

    fn relink(
        &self,
        parent: &PodName,
        parent_incarnation: Incarnation,
        children: &[PodName],
    ) -> Result<Vec<PodName>, RegistryError> {
        self.op(Actor::Holder(parent, Some(parent_incarnation)), |t, _| {
            t.relink(parent, parent_incarnation, children)
        })
    }

    fn update_segment(
        &self,
        name: &PodName,
        incarnation: Incarnation,
        segment: Option<SegmentId>,
    ) -> Result<(), RegistryError> {
        self.op(Actor::Holder(name, Some(incarnation)), |t, _| {
            t.update_segment(name, incarnation, segment)
        })
    }

    fn holder_of_segment(&self, segment: SegmentId) -> Result<Option<PodName>, RegistryError> {
        self.read(|t, _| Ok(t.holder_of_segment(segment)))
    }

    fn list(&self) -> Result<Vec<Allocation>, RegistryError> {
        self.read(|t, _| Ok(t.allocations.clone()))
    }

    fn get(&self, name: &PodName) -> Result<Option<Allocation>, RegistryError> {
        self.read(|t, _| Ok(t.get(name).cloned()))
    }

    fn effective_write(&self, name: &PodName) -> Result<Scope, RegistryError> {
        self.read(|t, _| {
            t.get(name).map(Allocation::effective_write).ok_or_else(|| {
                RegistryError::NotRegistered {
                    name: name.clone(),
                    detail: String::new(),
                }
            })
        })
    }
}
