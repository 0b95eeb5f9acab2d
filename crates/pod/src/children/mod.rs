//! Child Pods (ARCHITECTURE §9): spawning with delegated scope, supervising,
//! authenticated reports, stopping, and giving the scope back.
//!
//! Spawn is two-phase and each step is durable before the next starts:
//! pending child record in the pod store → registry reservation (one-time token) →
//! the parent's in-memory scope loses write on the region → child process started
//! (same binary, own session and process group, config in a 0600 launch file) → the
//! child adopts the reservation and binds its socket (its `ready` line) → record
//! `live` → supervised through a pidfd. Any failure after the pending record kills
//! the child's group, reclaims the reservation, marks the record and reports the
//! child's stderr tail to the model.
//!
//! Scope comes back (registry, pod store, memory — in that order, with a history
//! event) only once the child's process is gone: after `stop_pod`, or when the
//! supervisor sees it exit. A child that merely finished a run keeps its scope.
//!
//! Stopping a Pod stops its children first (cascade), so a stopped child never leaves
//! grandchildren re-parented to a Pod that did not delegate to them.

pub mod approvals;
pub mod report;
pub mod restore;
pub mod supervise;
mod talk;
pub mod tools;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use pod_ids::{PodName, Roots};
use pod_registry::{AnyRegistry, Incarnation, ReclaimRequest, Registry, ReserveRequest};
use pod_store::{ChildRecord, ChildSpec, ChildStatus, PodStore};
use protocol::{ChildReport, InputMode, Request};
use rustix::process::Signal;
use scope::{Access, Scope, ScopeRule};
use tokio::sync::watch;

use crate::client::PodClient;
use crate::controller::{Command, ControllerHandle};
use crate::launch::{ChildLaunch, LaunchConfig, Manifest, StartMode};
use crate::layout::{PodPaths, ensure_private_dir};
use crate::notice_log::{Notices, end_key};
use crate::policy::AskMode;
use crate::toolbox::ScopedTools;

/// How long a child has to adopt its reservation and report ready.
const SPAWN_TIMEOUT: Duration = Duration::from_secs(20);
/// Grace after the polite shutdown request, then after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);
const TERM_GRACE: Duration = Duration::from_secs(3);
/// A child's final answer shown to the parent's model is capped at this many chars.
pub const NOTICE_CAP: usize = 4000;

/// A running child this process supervises.
struct Live {
    pid: u32,
    token: String,
    exit: watch::Receiver<Option<String>>,
    stopping: bool,
    /// Reports received (finished / errored), newest last.
    reports: Vec<ChildReport>,
    /// Bumped on every report or exit, for `wait_pod`.
    changed: watch::Sender<u64>,
    /// The `changed` value the last `wait_pod` returned for (so a report that
    /// arrived before the wait started is returned at once, not missed).
    waited: u64,
}

/// How a child process is started: fresh with a task, or restored.
struct Start<'a> {
    mode: StartMode,
    task: Option<&'a str>,
    cwd: Option<&'a str>,
    model: Option<&'a str>,
    permissions: Option<&'a crate::policy::RuleSet>,
    work: Option<crate::work::WorkGrant>,
}

/// What `spawn_pod` asks for (model-facing, validated here).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SpawnArgs {
    /// The child's name.
    pub name: String,
    /// Its task (first input).
    pub task: String,
    /// Paths it may write (recursive), inside the parent's effective write scope.
    #[serde(default)]
    pub write: Vec<String>,
    /// Paths it may read.
    #[serde(default)]
    pub read: Vec<String>,
    /// Working directory (default: the first write path, else the parent's).
    #[serde(default)]
    pub cwd: Option<String>,
    /// Model id (default: the parent's).
    #[serde(default)]
    pub model: Option<String>,
    /// Rules added on top of the parent's (they can only narrow: the strictest
    /// answer of the parent's layers and this one wins).
    #[serde(default)]
    pub permissions: Option<crate::policy::RuleSet>,
    /// Part of this Pod's work grant for the child (same item, rights a subset of
    /// this Pod's); absent: the child gets no `work_*` tools.
    #[serde(default)]
    pub work: Option<crate::work::WorkDelegation>,
}

/// The child Pods of this Pod process.
pub struct Children {
    roots: Roots,
    name: PodName,
    incarnation: Incarnation,
    registry: AnyRegistry,
    store: PodStore,
    manifest: Manifest,
    tools: ScopedTools,
    controller: OnceLock<ControllerHandle>,
    live: Mutex<HashMap<PodName, Live>>,
    /// What this Pod does with calls needing an approval (children inherit
    /// `approve_all` only).
    ask_mode: AskMode,
    /// Approval requests children reported and nobody answered yet.
    approvals: Mutex<HashMap<(PodName, u64), protocol::ApprovalRequest>>,
    /// `child_finished` hooks (set once the journal exists).
    hooks: OnceLock<crate::policy::HookRunner>,
    /// Where every notice is recorded before what it reports is acknowledged (set
    /// once the journal exists, before reconciliation).
    notices: OnceLock<Arc<Notices>>,
    /// Notices recorded before the controller existed (a relinked child exiting
    /// during start-up); handed over by `set_controller`.
    early: Mutex<Vec<Command>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A region handed to a child must not share a file (a hard link) with anything
/// outside it: the child's shell could write through its name into the parent's
/// region, or the parent's into the child's (ARCHITECTURE §4, issue 19). The walk
/// runs on a blocking thread; a region that cannot be walked is refused too.
async fn refuse_shared_inodes(write: &[ScopeRule]) -> Result<(), String> {
    let roots: Vec<std::path::PathBuf> = write
        .iter()
        .map(|r| r.path.as_path().to_path_buf())
        .filter(|p| p.exists())
        .collect();
    tokio::task::spawn_blocking(move || {
        for root in roots {
            let leaving = ::tools::sandbox::links_leaving(&root)
                .map_err(|e| format!("cannot check {} for hard links: {e}", root.display()))?;
            if let Some(l) = leaving.first() {
                return Err(format!(
                    "write path {} holds {} file(s) with hard links outside it (e.g. {}: {} links, {} inside); a child's region must not share files with the rest: copy or remove those links first",
                    root.display(),
                    leaving.len(),
                    l.path.display(),
                    l.links,
                    l.inside
                ));
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| e.to_string())?
}

impl Children {
    /// The children manager of Pod `name` (this process, `incarnation`).
    pub fn new(
        roots: Roots,
        name: PodName,
        incarnation: Incarnation,
        registry: AnyRegistry,
        manifest: Manifest,
        tools: ScopedTools,
        ask_mode: AskMode,
    ) -> Arc<Children> {
        let store = PodStore::new(roots.pods.clone());
        let c = Arc::new(Children {
            roots,
            name,
            incarnation,
            registry,
            store,
            manifest,
            tools,
            controller: OnceLock::new(),
            live: Mutex::new(HashMap::new()),
            ask_mode,
            approvals: Mutex::new(HashMap::new()),
            hooks: OnceLock::new(),
            notices: OnceLock::new(),
            early: Mutex::new(Vec::new()),
        });
        c.refresh_scope();
        c
    }

    /// Where notices are recorded (set before reconciliation).
    pub fn set_notices(&self, notices: Arc<Notices>) {
        let _ = self.notices.set(notices);
    }

    fn notices(&self) -> Result<&Arc<Notices>, String> {
        self.notices
            .get()
            .ok_or_else(|| "no session log to record the notice in yet".to_string())
    }

    /// Where notices go (set once the controller exists).
    pub fn set_controller(&self, c: ControllerHandle) {
        // Under the `early` lock, so a notice sent meanwhile is not overtaken.
        let mut early = lock(&self.early);
        let _ = self.controller.set(c.clone());
        let waiting: Vec<Command> = early.drain(..).collect();
        drop(early);
        if !waiting.is_empty() {
            tokio::spawn(async move {
                for cmd in waiting {
                    c.send(cmd).await;
                }
            });
        }
    }

    fn token_path(&self, child: &PodName) -> PathBuf {
        PodPaths::new(&self.roots, &self.name)
            .dir
            .join("children")
            .join(format!("{}.token", child.as_str()))
    }

    /// The child records in this Pod's store record.
    pub fn records(&self) -> Vec<ChildRecord> {
        self.store
            .read(&self.name)
            .map(|r| r.children)
            .unwrap_or_default()
    }

    /// Whether `child`'s process runs under this Pod's supervision.
    pub fn is_running(&self, child: &PodName) -> bool {
        lock(&self.live)
            .get(child)
            .is_some_and(|l| l.exit.borrow().is_none())
    }

    /// Write rules still held by children (anything not reclaimed).
    fn delegated_write(&self) -> Vec<ScopeRule> {
        self.records()
            .into_iter()
            .filter(|c| c.status != ChildStatus::Reclaimed)
            .flat_map(|c| c.write)
            .collect()
    }

    /// Regions the registry records as delegated by this Pod to Pods this Pod's
    /// store does not list as children: grandchildren re-parented to us when their
    /// own parent died (registry "release" semantics).
    fn adopted_grandchildren(&self) -> Vec<(PodName, Vec<ScopeRule>)> {
        // A reclaimed record (an earlier life of the same name) does not make it
        // known: its region would otherwise be writable by us while it lives again
        // under us (found by the model checker, `crates/verify`).
        let known: Vec<PodName> = self
            .records()
            .into_iter()
            .filter(|c| c.status != ChildStatus::Reclaimed)
            .map(|c| c.name)
            .collect();
        match self.registry.get(&self.name) {
            Ok(Some(row)) => row
                .delegations
                .into_iter()
                .filter(|d| !known.contains(&d.child))
                .map(|d| (d.child, d.rules))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Takes over grandchildren the registry re-parented to us (their parent died):
    /// records them as our children and supervises them, so `list_pods`, `stop_pod`,
    /// the stop cascade and the next restore cover them. Their reports went to their
    /// dead parent's socket; they are not accepted here (no token of ours).
    ///
    /// A re-parented grandchild already gone (it exited between the registry's
    /// re-parenting and this call) is nobody's child to supervise: its record on our
    /// row is reclaimed here, or it would keep its region from us until we restart
    /// (found by the model checker, `crates/verify`).
    /// Returns the grandchildren taken over, with their rules, for the notice.
    fn adopt_orphans(self: &Arc<Self>) -> Vec<String> {
        let mut adopted = Vec::new();
        for (name, rules) in self.adopted_grandchildren() {
            let row = match self.registry.get(&name) {
                Ok(row) => row,
                Err(_) => continue,
            };
            let Some(p) = row
                .as_ref()
                .and_then(|r| r.process)
                .filter(|p| p.is_alive())
            else {
                if let Err(e) = self.registry.reclaim_delegation(ReclaimRequest {
                    parent: self.name.clone(),
                    child: name.clone(),
                    rules,
                    releasing_child: None,
                }) {
                    tracing::warn!(child = name.as_str(), error = %e, "cannot reclaim a gone grandchild's region");
                }
                continue;
            };
            let Some(row) = row else { continue };
            let shown = format!("{name} ({})", fmt_rules(&rules));
            let (write, read) = rules.into_iter().partition(|r| r.access == Access::Write);
            let spec = ChildSpec {
                name: name.clone(),
                write,
                read,
            };
            if self.store.add_pending_child(&self.name, spec).is_err() {
                continue;
            }
            let _ = self
                .store
                .mark_child_live(&self.name, &name, row.socket.clone(), Some(p.pid));
            adopted.push(shown);
            if let Some(exit) = supervise::watch_exit(p.pid) {
                let bytes: [u8; 32] = rand::random();
                let token = bytes.iter().map(|b| format!("{b:02x}")).collect();
                self.adopt_live(name, p.pid, token, exit);
            }
        }
        self.refresh_scope();
        adopted
    }

    /// This Pod's effective scope: its manifest scope minus every region a child
    /// holds (ARCHITECTURE §4) — per its own records *and* per the registry, so a
    /// grandchild re-parented to us keeps its region out of our tools too.
    pub fn effective(&self) -> Scope {
        let mut held = self.delegated_write();
        held.extend(
            self.adopted_grandchildren()
                .into_iter()
                .flat_map(|(_, r)| r)
                .filter(|r| r.access == Access::Write),
        );
        self.manifest.scope.effective_write(&held)
    }

    /// Pushes the effective scope to the tools (file tools and the next bash call).
    fn refresh_scope(&self) {
        self.tools.set_scope(self.effective());
    }

    fn notify(&self, text: String) {
        self.hand_over(notice_command(text, false));
    }

    /// Gives a notice already in the log to the controller (or keeps it until the
    /// controller exists).
    pub(super) fn hand_over(&self, cmd: Command) {
        let early = lock(&self.early);
        match self.controller.get() {
            Some(c) => {
                let c = c.clone();
                drop(early);
                tokio::spawn(async move { c.send(cmd).await });
            }
            None => {
                let mut early = early;
                early.push(cmd);
            }
        }
    }

    /// Records the notice of event `key` in the log (durably) before what it
    /// reports is acknowledged or acted on (ARCHITECTURE §9 "notices"). `Ok(false)`:
    /// that event was told already.
    fn record_notice(
        &self,
        key: &str,
        text: &str,
        quiet: bool,
        hook: Option<&serde_json::Value>,
    ) -> Result<bool, String> {
        self.notices()?
            .record(key, text, quiet, hook)
            .map_err(|e| format!("the notice could not be recorded: {e}"))
    }

    fn resolve(&self, base: &std::path::Path, p: &str) -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { base.join(p) }
    }

    /// Spawns a child; the `Ok` text is the tool result for the model.
    pub async fn spawn(self: &Arc<Self>, args: SpawnArgs) -> Result<String, String> {
        let child = PodName::new(&args.name).map_err(|e| format!("invalid child name: {e}"))?;
        if child == self.name {
            return Err(format!("{child} is this Pod's own name"));
        }
        if let Some(p) = &args.permissions {
            p.validate().map_err(|e| format!("permissions: {e}"))?;
        }
        // Invariant (§15): a work grant only narrows down the tree.
        let work = match (&args.work, &self.manifest.work) {
            (None, _) => None,
            (Some(_), None) => {
                return Err("work: you hold no work grant, so you cannot give one".into());
            }
            (Some(ask), Some(ours)) => Some(ours.delegate(ask)?),
        };
        if self.store.exists(&child).map_err(|e| e.to_string())? {
            return Err(format!(
                "the name {child} is already used by another Pod; choose another name"
            ));
        }
        let base = self.manifest.cwd.clone();
        let effective = self.effective();
        let mut write = Vec::new();
        for p in &args.write {
            let rule = ScopeRule::new(self.resolve(&base, p), Access::Write, true)
                .map_err(|e| format!("write path {p:?}: {e}"))?;
            // A child gets a strict part of a write rule, never a whole one: the parent
            // must keep somewhere to stand (and the registry refuses it anyway).
            if let Some(whole) = self.manifest.scope.allow.iter().find(|a| {
                a.access == Access::Write && a.path.as_path().starts_with(rule.path.as_path())
            }) {
                return Err(format!(
                    "write path {} would give the child all of your write rule {}; a child gets a strict part of your scope (a subdirectory)",
                    rule.path.as_path().display(),
                    whole.path.as_path().display()
                ));
            }
            if !effective.can_write_all(&rule) {
                let holder = self
                    .records()
                    .into_iter()
                    .filter(|c| c.status != ChildStatus::Reclaimed)
                    .find(|c| c.write.iter().any(|w| scope::overlaps(w, &rule)));
                return Err(match holder {
                    Some(h) => format!(
                        "write path {} overlaps the region delegated to child {} ({}); stop it first or choose another path",
                        rule.path.as_path().display(),
                        h.name,
                        h.status
                    ),
                    None => format!(
                        "write path {} is outside your effective write scope",
                        rule.path.as_path().display()
                    ),
                });
            }
            write.push(rule);
        }
        refuse_shared_inodes(&write).await?;
        let mut read = Vec::new();
        for p in &args.read {
            let rule = ScopeRule::new(self.resolve(&base, p), Access::Read, true)
                .map_err(|e| format!("read path {p:?}: {e}"))?;
            if !effective.can_read(rule.path.as_path()) {
                return Err(format!(
                    "read path {} is outside your scope",
                    rule.path.as_path().display()
                ));
            }
            read.push(rule);
        }
        // Phase one, durable before anything else exists: a crash from here on leaves
        // a pending record that the next restore reconciles (never an invisible child).
        self.store
            .add_pending_child(
                &self.name,
                ChildSpec {
                    name: child.clone(),
                    write: write.clone(),
                    read: read.clone(),
                },
            )
            .map_err(|e| e.to_string())?;
        let rules: Vec<ScopeRule> = write.iter().chain(read.iter()).cloned().collect();
        let token = match self.registry.reserve_child(ReserveRequest {
            parent: self.name.clone(),
            parent_incarnation: self.incarnation,
            child: child.clone(),
            rules: rules.clone(),
            ttl: SPAWN_TIMEOUT + Duration::from_secs(5),
        }) {
            Ok(t) => t,
            Err(e) => {
                let _ = self
                    .store
                    .reclaim_child(&self.name, &child, format!("spawn refused: {e}"));
                self.refresh_scope();
                return Err(format!("spawn of {child} refused: {e}"));
            }
        };
        // The parent loses write on the region now, before the child can write.
        self.refresh_scope();
        let how = Start {
            mode: StartMode::Fresh,
            task: Some(&args.task),
            cwd: args.cwd.as_deref(),
            model: args.model.as_deref(),
            permissions: args.permissions.as_ref(),
            work,
        };
        match self
            .start(&child, how, &write, &rules, token.expose())
            .await
        {
            Ok(msg) => Ok(msg),
            Err(e) => {
                let _ = self
                    .give_back(&child, &rules, &format!("spawn failed: {e}"))
                    .await;
                Err(e)
            }
        }
    }

    /// Restores a stopped or lost child under this Pod's allocation, from the
    /// child's own record (manifest and delegated scope, never the default profile).
    /// Same two phases as a spawn; returns the child's pid once it is ready.
    pub async fn resume_child(self: &Arc<Self>, child: &PodName) -> Result<u32, String> {
        if lock(&self.live)
            .get(child)
            .is_some_and(|l| l.exit.borrow().is_none())
        {
            return Err(format!("child {child} is already running"));
        }
        let rec = self
            .records()
            .into_iter()
            .find(|c| &c.name == child)
            .ok_or_else(|| format!("{child} is not a child of {}", self.name))?;
        let effective = self.effective_without(child);
        if let Some(r) = rec.write.iter().find(|r| !effective.can_write_all(r)) {
            return Err(format!(
                "{} is not back with {} (held by another child?)",
                r.path.as_path().display(),
                self.name
            ));
        }
        self.store
            .add_pending_child(
                &self.name,
                ChildSpec {
                    name: child.clone(),
                    write: rec.write.clone(),
                    read: rec.read.clone(),
                },
            )
            .map_err(|e| e.to_string())?;
        let rules: Vec<ScopeRule> = rec.write.iter().chain(rec.read.iter()).cloned().collect();
        let token = match self.registry.reserve_child(ReserveRequest {
            parent: self.name.clone(),
            parent_incarnation: self.incarnation,
            child: child.clone(),
            rules: rules.clone(),
            ttl: SPAWN_TIMEOUT + Duration::from_secs(5),
        }) {
            Ok(t) => t,
            Err(e) => {
                let _ = self
                    .store
                    .reclaim_child(&self.name, child, format!("resume refused: {e}"));
                self.refresh_scope();
                return Err(format!("resume of {child} refused: {e}"));
            }
        };
        self.refresh_scope();
        let how = Start {
            mode: StartMode::Resume,
            task: None,
            cwd: None,
            model: None,
            permissions: None,
            work: None,
        };
        match self
            .start(child, how, &rec.write, &rules, token.expose())
            .await
        {
            Ok(_) => lock(&self.live)
                .get(child)
                .map(|l| l.pid)
                .ok_or_else(|| format!("child {child} exited right after resuming")),
            Err(e) => {
                let _ = self
                    .give_back(child, &rules, &format!("resume failed: {e}"))
                    .await;
                Err(e)
            }
        }
    }

    /// The effective scope as if `child` held nothing (its record is reclaimed or
    /// about to be replaced).
    fn effective_without(&self, child: &PodName) -> Scope {
        let held: Vec<ScopeRule> = self
            .records()
            .into_iter()
            .filter(|c| c.status != ChildStatus::Reclaimed && &c.name != child)
            .flat_map(|c| c.write)
            .collect();
        self.manifest.scope.effective_write(&held)
    }

    async fn start(
        self: &Arc<Self>,
        child: &PodName,
        how: Start<'_>,
        write: &[ScopeRule],
        rules: &[ScopeRule],
        reservation: &str,
    ) -> Result<String, String> {
        // The parent's scope lost the region already (new processes get the
        // narrowed domain); a background process started before keeps the old
        // Landlock domain (as does a bash call running in parallel), so it goes
        // before the child can exist (ARCHITECTURE §13).
        let mut stopped = Vec::new();
        for r in write {
            stopped.extend(self.tools.background().stop_covering(r).await);
        }
        let stopped_note = if stopped.is_empty() {
            String::new()
        } else {
            tracing::info!(
                child = child.as_str(),
                ?stopped,
                "background processes covering the delegated region stopped"
            );
            format!(
                "\nstopped your processes that could write the delegated region: {}",
                stopped.join("; ")
            )
        };
        let callback_token: String = {
            let bytes: [u8; 32] = rand::random();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        };
        let tp = self.token_path(child);
        if let Some(dir) = tp.parent() {
            ensure_private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        // 0600: the callback secret, kept so a restored parent can check reports.
        write_private(&tp, callback_token.as_bytes())
            .map_err(|e| format!("{}: {e}", tp.display()))?;
        let cwd = match how.cwd {
            Some(c) => self.resolve(&self.manifest.cwd, c),
            None => write
                .first()
                .map(|r| r.path.as_path().to_path_buf())
                .unwrap_or_else(|| self.manifest.cwd.clone()),
        };
        // A resumed child runs from its own record's manifest (ignored here).
        // Identity, not names: the region is pinned as it is now (opened without
        // following symlinks); the child's every shell checks it (ARCHITECTURE §13).
        let mut pins = std::collections::BTreeMap::new();
        for r in write {
            let p = r.path.as_path();
            let id = ::tools::sandbox::identity(p)
                .map_err(|e| format!("write path {}: {e}", p.display()))?;
            pins.insert(p.to_path_buf(), id);
        }
        let manifest = (how.mode == StartMode::Fresh).then(|| {
            let mut m = self.manifest.clone();
            m.scope = Scope::allowing(rules.to_vec());
            m.pins = pins;
            m.cwd = cwd;
            if let Some(model) = how.model {
                m.model = model.to_string();
            }
            // Invariant (policy): rules only narrow down the tree.
            if let Some(layer) = how.permissions {
                m.permissions = m.permissions.narrowed(layer.clone());
            }
            // A child holds only the work grant it was given, and never drives a
            // workflow: that is its lead's.
            m.work = how.work;
            m.workflow = None;
            m
        });
        let parent_socket = PodPaths::new(&self.roots, &self.name).socket();
        let cfg = LaunchConfig {
            name: child.clone(),
            roots: (&self.roots).into(),
            mode: how.mode,
            manifest,
            child: Some(ChildLaunch {
                parent: self.name.clone(),
                parent_socket,
                reservation: Some(reservation.to_string()),
                callback_token: callback_token.clone(),
            }),
            owner: None,
            // A child asks its parent (and any attached client); only the user's
            // --approve-all reaches down the tree.
            ask_mode: match self.ask_mode {
                AskMode::ApproveAll => AskMode::ApproveAll,
                // A workflow lead's driver is code: nobody there answers a request.
                _ if self.manifest.workflow.is_some() => AskMode::Deny,
                _ => AskMode::Prompt,
            },
            allow_broad_write: false,
        };
        let roots = self.roots.clone();
        let pid = tokio::task::spawn_blocking(move || {
            crate::launcher::launch(&roots, &cfg, SPAWN_TIMEOUT)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| {
            let tail = supervise::stderr_tail(&PodPaths::new(&self.roots, child).log(), 1500);
            format!("child {child} did not start: {e:#}\nchild stderr (tail):\n{tail}")
        })?;
        let exit = supervise::watch_exit(pid)
            .ok_or_else(|| format!("child {child} (pid {pid}) exited right after starting"))?;
        crash_hook("POD_TEST_CRASH_BEFORE_LIVE", child);
        let socket = PodPaths::new(&self.roots, child).socket();
        self.store
            .mark_child_live(&self.name, child, Some(socket.clone()), Some(pid))
            .map_err(|e| {
                supervise::signal_group(pid, Signal::KILL);
                e.to_string()
            })?;
        self.adopt_live(child.clone(), pid, callback_token, exit);
        if let Some(task) = how.task {
            let mut c = PodClient::connect(&socket, None)
                .await
                .map_err(|e| format!("cannot reach child {child}: {e}"))?;
            c.request(Request::SendInput {
                text: task.to_string(),
                mode: InputMode::Queue,
                attachments: Vec::new(),
            })
            .await
            .map_err(|e| format!("cannot give child {child} its task: {e}"))?;
        }
        Ok(format!(
            "spawned child Pod {child} (pid {pid}) with write {}; it is working on its task. \
             You get a notice when it finishes; its region is not writable by you until you stop it (stop_pod).{stopped_note}",
            fmt_rules(write)
        ))
    }

    /// Starts supervising a running child.
    fn adopt_live(
        self: &Arc<Self>,
        child: PodName,
        pid: u32,
        token: String,
        exit: watch::Receiver<Option<String>>,
    ) {
        let (changed, _) = watch::channel(0);
        lock(&self.live).insert(
            child.clone(),
            Live {
                pid,
                token,
                exit: exit.clone(),
                stopping: false,
                reports: Vec::new(),
                changed,
                waited: 0,
            },
        );
        let me = Arc::downgrade(self);
        let mut exit = exit;
        tokio::spawn(async move {
            let _ = exit.wait_for(Option::is_some).await;
            let reason = exit.borrow().clone().unwrap_or_default();
            if let Some(me) = me.upgrade() {
                me.on_exit(&child, &reason).await;
            }
        });
    }

    /// The supervisor saw a child's process end.
    async fn on_exit(self: &Arc<Self>, child: &PodName, reason: &str) {
        let stopping = {
            let g = lock(&self.live);
            let Some(l) = g.get(child) else { return };
            l.changed.send_modify(|n| *n += 1);
            l.stopping
        };
        if stopping {
            return; // stop_pod gives the scope back itself
        }
        let record = self.records().into_iter().find(|c| &c.name == child);
        let rules: Vec<ScopeRule> = record
            .as_ref()
            .map(|c| c.write.iter().chain(c.read.iter()).cloned().collect())
            .unwrap_or_default();
        let head = format!(
            "child_exited{{name: {child}, reason: {reason:?}}}: child Pod {child} ended without being stopped;"
        );
        // In the log before the record says lost (ARCHITECTURE §9 "notices"): a
        // crash from here on re-queues this notice at restore, and reconciliation,
        // finding the key of this life, completes the reclaim without a second one.
        let key = record.as_ref().map(|c| end_key(child, c.created_at));
        let first = format!(
            "{head} its scope ({}) comes back to you once it is reclaimed.",
            fmt_rules(&rules)
        );
        let told_before = match &key {
            Some(k) => match self.record_notice(k, &first, false, None) {
                Ok(new) => !new,
                Err(e) => {
                    tracing::error!(child = child.as_str(), error = %e, "cannot record the exit notice");
                    false
                }
            },
            None => false,
        };
        crash_hook("POD_TEST_CRASH_AFTER_EXIT_NOTICE", child);
        let _ = self
            .store
            .mark_child_lost(&self.name, child, format!("exited: {reason}"));
        let back = self
            .give_back(
                child,
                &rules,
                &format!("exited without being stopped: {reason}"),
            )
            .await;
        // Tell the model only what is true: the scope may stay delegated.
        let held = match &back {
            Ok(adopted) => adopted.clone(),
            Err(_) => self.adopt_orphans(),
        };
        let scope = match back {
            Ok(_) if !held.is_empty() => format!(
                "its scope ({}) is back with you except what its own children hold: {} — they are your children now (list_pods, stop_pod)",
                fmt_rules(&rules),
                held.join(", ")
            ),
            Ok(_) => format!("its scope ({}) is back with you", fmt_rules(&rules)),
            Err(e) => format!(
                "its scope ({}) stays delegated for now: {e}",
                fmt_rules(&rules)
            ),
        };
        if told_before {
            return;
        }
        let text = format!("{head} {scope}.");
        if let Some(k) = &key
            && let Err(e) = self
                .notices()
                .and_then(|n| n.amend(k, &text).map_err(|e| e.to_string()))
        {
            tracing::error!(child = child.as_str(), error = %e, "cannot record the exit notice's outcome");
        }
        self.notify(text);
    }

    fn rules_of(&self, child: &PodName) -> Vec<ScopeRule> {
        self.records()
            .into_iter()
            .find(|c| &c.name == child)
            .map(|c| c.write.into_iter().chain(c.read).collect())
            .unwrap_or_default()
    }

    /// Returns a gone (or never started) child's scope: registry, then pod store,
    /// then memory. Idempotent.
    /// `Err` (with the registry's reason) when the region could not be given back,
    /// e.g. a grandchild that outlived its parent still holds part of it.
    /// `Ok` holds the grandchildren taken over: the registry re-parents a gone
    /// child's own children to us during the reclaim, and whoever gives back must
    /// supervise them (or reclaim the records of those already gone), on every path
    /// — exit, stop, failed spawn — or a region stays lost (found by the model
    /// checker, `crates/verify`).
    async fn give_back(
        self: &Arc<Self>,
        child: &PodName,
        rules: &[ScopeRule],
        reason: &str,
    ) -> Result<Vec<String>, String> {
        if let Some(pid) = lock(&self.live).get(child).map(|l| l.pid) {
            supervise::signal_group(pid, Signal::KILL);
        }
        // The registry first: once it no longer shows the delegation, the region is
        // ours in the only place other Pods look.
        if let Err(e) = self.registry.reclaim_delegation(ReclaimRequest {
            parent: self.name.clone(),
            child: child.clone(),
            rules: rules.to_vec(),
            releasing_child: None,
        }) {
            tracing::warn!(child = child.as_str(), error = %e, "registry reclaim refused; scope stays delegated");
            return Err(e.to_string());
        }
        if let Err(e) = self.store.reclaim_child(&self.name, child, reason) {
            tracing::warn!(child = child.as_str(), error = %e, "cannot record the reclaim");
        }
        let _ = std::fs::remove_file(self.token_path(child));
        self.refresh_scope();
        Ok(self.adopt_orphans())
    }

    /// Stops a child: shutdown request, then SIGTERM, then SIGKILL of its group;
    /// its scope comes back only once its process is gone.
    pub async fn stop(self: &Arc<Self>, child: &PodName) -> Result<String, String> {
        let (pid, mut exit) = {
            let mut g = lock(&self.live);
            let l = g
                .get_mut(child)
                .ok_or_else(|| format!("{child} is not a running child of this Pod"))?;
            l.stopping = true;
            (l.pid, l.exit.clone())
        };
        let _ = self.store.mark_child_stopping(&self.name, child);
        let socket = PodPaths::new(&self.roots, child).socket();
        let polite = async {
            let mut c = PodClient::connect(&socket, None).await.ok()?;
            c.request(Request::Shutdown).await.ok()
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), polite).await;
        let mut how = "stopped on request";
        if !supervise::wait_gone(&mut exit, STOP_GRACE).await {
            supervise::signal_group(pid, Signal::TERM);
            how = "terminated (SIGTERM) after the shutdown request timed out";
            if !supervise::wait_gone(&mut exit, TERM_GRACE).await {
                supervise::signal_group(pid, Signal::KILL);
                how = "killed (SIGKILL)";
                if !supervise::wait_gone(&mut exit, TERM_GRACE).await {
                    return Err(format!(
                        "child {child} (pid {pid}) is still running after SIGKILL; its scope stays delegated"
                    ));
                }
            }
        }
        let rules = self.rules_of(child);
        let back = self.give_back(child, &rules, how).await;
        lock(&self.live).remove(child);
        match back {
            Ok(_) => Ok(format!(
                "child {child} {how}; its scope ({}) is back with you",
                fmt_rules(&rules)
            )),
            Err(e) => Ok(format!(
                "child {child} {how}, but its scope ({}) stays delegated: {e}",
                fmt_rules(&rules)
            )),
        }
    }

    /// Stops every running child (this Pod is shutting down).
    pub async fn stop_all(self: &Arc<Self>) {
        let names: Vec<PodName> = lock(&self.live).keys().cloned().collect();
        for n in names {
            if let Err(e) = self.stop(&n).await {
                tracing::warn!(child = n.as_str(), error = %e, "stopping child");
            }
        }
    }

    /// A report arrived on our socket from process `peer_pid`. Accepted only from
    /// the child's own process holding its callback token; anything else is refused
    /// and logged (PITFALLS: any local process could otherwise fake "finished").
    pub fn report(
        &self,
        peer_pid: Option<u32>,
        child: &str,
        token: &str,
        report: ChildReport,
        quiet: bool,
        report_id: Option<String>,
    ) -> Result<(), String> {
        let refuse = |why: &str| {
            tracing::warn!(child, ?peer_pid, why, "rejected a child report");
            Err(format!("report for child {child:?} rejected: {why}"))
        };
        let Ok(name) = PodName::new(child) else {
            return refuse("invalid name");
        };
        let mut g = lock(&self.live);
        let Some(l) = g.get_mut(&name) else {
            return refuse("not a running child of this Pod");
        };
        if peer_pid != Some(l.pid) {
            return refuse("the sender is not the child's process");
        }
        if !constant_eq(token.as_bytes(), l.token.as_bytes()) {
            return refuse("bad token");
        }
        drop(g); // not held across the fsync below
        // A child of an older pods sends no id: such a report cannot be told from
        // its retry, so it gets a key of its own.
        let report_key = || {
            format!(
                "report:{name}:{}",
                report_id.clone().unwrap_or_else(random_hex)
            )
        };
        let (key, text) = match &report {
            ChildReport::ApprovalRequested { approval } => (
                format!("approval:{name}:{}", approval.id),
                approvals::notice(&name, approval),
            ),
            ChildReport::Finished { final_text } => (
                report_key(),
                format!(
                    "child_finished{{name: {name}}}: child Pod {name} finished its run and is idle (it keeps its scope until you stop it). Its answer:\n{}",
                    cap(final_text, NOTICE_CAP)
                ),
            ),
            ChildReport::Errored { error } => (
                report_key(),
                format!(
                    "child_errored{{name: {name}}}: child Pod {name}'s run failed: {}",
                    cap(error, NOTICE_CAP)
                ),
            ),
        };
        let quiet = quiet && !matches!(report, ChildReport::ApprovalRequested { .. });
        // Durable before the child gets its answer (ARCHITECTURE §9 "notices"): the
        // child stops retrying once answered, so an unrecorded notice would be lost.
        // An error makes the child retry.
        let hook = self.finished_hook_input(&name, &report);
        if !self.record_notice(&key, &text, quiet, hook.as_ref())? {
            tracing::info!(
                child,
                key,
                "a retried report already recorded: not told again"
            );
            return Ok(());
        }
        crash_hook("POD_TEST_CRASH_AFTER_REPORT_NOTICE", &name);
        if let Some(l) = lock(&self.live).get_mut(&name) {
            l.reports.push(report.clone());
            l.changed.send_modify(|n| *n += 1);
        }
        if let ChildReport::ApprovalRequested { approval } = &report {
            lock(&self.approvals).insert((name.clone(), approval.id), approval.clone());
            self.notify(text);
            return Ok(());
        }
        if quiet {
            tracing::info!(
                child,
                "report of a run this Pod did not ask for: shown with its next run"
            );
        }
        match hook {
            Some(input) => self.notify_after_hooks(input, text, quiet, key),
            None => self.hand_over(notice_command(text, quiet)),
        }
        Ok(())
    }
}

/// A notice for the controller: `quiet` ones ride with the next run, others start one.
fn notice_command(text: String, quiet: bool) -> Command {
    if quiet {
        Command::QuietNotice { text }
    } else {
        Command::Notice { text }
    }
}

/// 128 random bits as hex: callback tokens and report ids.
pub(crate) fn random_hex() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Test-only crash injection: SIGKILLs this process when `var` names `child`.
/// Compiled only into debug builds (tests), never into release binaries.
pub(crate) fn crash_hook(var: &str, child: &PodName) {
    #[cfg(debug_assertions)]
    if std::env::var(var).is_ok_and(|v| v == child.as_str()) {
        let _ = rustix::process::kill_process(rustix::process::getpid(), Signal::KILL);
    }
    let _ = (var, child);
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

/// Comparison whose time does not depend on where the first difference is.
fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `s` capped at `max` chars with a truncation marker.
pub fn cap(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max).collect();
    format!("{head}\n[... truncated: {} more chars]", n - max)
}

/// Rules as `path (write), path (read)`.
pub fn fmt_rules(rules: &[ScopeRule]) -> String {
    if rules.is_empty() {
        return "nothing".into();
    }
    rules
        .iter()
        .map(|r| {
            format!(
                "{} ({})",
                r.path.as_path().display(),
                if r.access == Access::Write {
                    "write"
                } else {
                    "read"
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_marks_truncation_and_keeps_short_text() {
        assert_eq!(cap("short", 10), "short");
        let long = "x".repeat(25);
        let c = cap(&long, 10);
        assert!(c.starts_with(&"x".repeat(10)) && c.ends_with("[... truncated: 15 more chars]"));
    }

    #[test]
    fn constant_eq_compares_whole_tokens() {
        assert!(constant_eq(b"abc", b"abc"));
        assert!(!constant_eq(b"abc", b"abd"));
        assert!(!constant_eq(b"abc", b"abcd"));
    }
}
