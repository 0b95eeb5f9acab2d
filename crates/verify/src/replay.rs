//! Replays paths the model checker explored against the real stores: a real
//! [`FileRegistry`], a real [`PodStore`] and a real session log per Pod, with a real
//! OS process (a `sleep`) standing for each Pod process, killed with SIGKILL when the
//! model kills it. Each model action becomes the calls the runtime makes for it
//! (`pod::children` and `pod::children::restore`), and after every step the real
//! state must project onto the model's state (registry rows, child records, notices
//! in the logs, shown and waiting — the real `pod::notice_log` records and keys
//! them) and satisfy the same invariants computed from real data: no two
//! live rows' effective writes overlap (`Table::overlapping_effective_writes`), and
//! the scopes the running Pods' tools would get (manifest − children not reclaimed −
//! registry records of re-parented grandchildren) never share a writable path.

use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::time::Duration;

use pod::journal::Journal;
use pod::notice_log::{self, Notices, end_key};
use pod_ids::{PodName, SegmentId, SessionId};
use pod_registry::{
    AdoptRequest, FileRegistry, Incarnation, ProcessStamp, ReclaimRequest, RegisterRequest,
    Registry, ReservationToken, ReserveRequest, process_start_time,
};
use pod_store::{ChildSpec, ChildStatus, Manifest, PodStore};
use scope::{Access, Scope, ScopeRule};
use session_store::{EntryKind, NewSegment, SessionStore};

use crate::model::{Action, PODS, Pc, Pod, Said, ScopeProtocol, State, Status};

/// A real Pod process: a `sleep` and the stamp it registers with.
struct Proc {
    child: Child,
    stamp: ProcessStamp,
}

/// The real system a path is replayed on.
pub struct World {
    _dir: tempfile::TempDir,
    reg: FileRegistry,
    store: PodStore,
    sessions: SessionStore,
    logs: BTreeMap<Pod, Journal>,
    /// Each running Pod process's notice journal (rebuilt from its log at start).
    notices: BTreeMap<Pod, Notices>,
    /// Model incarnation → real process.
    procs: BTreeMap<u8, Proc>,
    tokens: BTreeMap<Pod, ReservationToken>,
}

fn name(p: Pod) -> PodName {
    let n = match p {
        Pod::L => "lead",
        Pod::C => "child",
        Pod::G => "grandchild",
    };
    PodName::new(n).expect("valid name")
}

fn pod_of(n: &PodName) -> Pod {
    PODS.into_iter()
        .find(|p| &name(*p) == n)
        .expect("only our pods")
}

fn rule(p: Pod) -> ScopeRule {
    ScopeRule::trusted(p.path(), Access::Write, true).expect("canonical")
}

fn notice_text(n: (Said, Pod, u8)) -> String {
    match n.0 {
        Said::Lost => format!("child_lost{{name: {}}} life {}", name(n.1), n.2),
        Said::Exited => format!("child_exited{{name: {}}} life {}", name(n.1), n.2),
        Said::Finished => format!("child_finished{{name: {}}} life {}", name(n.1), n.2),
    }
}

impl World {
    /// An empty system with the lead running (the model's initial state).
    pub fn new() -> anyhow::Result<World> {
        let dir = crate::targets::scratch_dir()?;
        let reg =
            FileRegistry::open(dir.path().join("run"))?.with_lock_deadline(Duration::from_secs(5));
        let store = PodStore::new(dir.path().join("pods"));
        let sessions = SessionStore::new(dir.path().join("sessions"));
        let mut logs = BTreeMap::new();
        for p in PODS {
            logs.insert(
                p,
                Journal::new(sessions.create_segment(NewSegment::default())?),
            );
        }
        let mut w = World {
            _dir: dir,
            reg,
            store,
            sessions,
            logs,
            notices: BTreeMap::new(),
            procs: BTreeMap::new(),
            tokens: BTreeMap::new(),
        };
        w.open_notices(Pod::L)?;
        w.ensure_record(Pod::L)?;
        let stamp = w.start(1)?;
        w.reg.register(RegisterRequest {
            name: name(Pod::L),
            process: stamp,
            socket: None,
            allow: vec![rule(Pod::L)],
            deny: vec![],
            segment_id: None,
            restoring_children: vec![],
        })?;
        Ok(w)
    }

    fn ensure_record(&self, p: Pod) -> anyhow::Result<()> {
        if !self.store.exists(&name(p))? {
            let manifest = Manifest {
                scope: Scope::allowing(vec![rule(p)]),
                ..Manifest::default()
            };
            let (session, segment) = (SessionId::new(), SegmentId::new());
            self.store
                .create_pending(&name(p), session, segment, manifest, None)?;
            self.store.set_active(&name(p), session, segment)?;
        }
        Ok(())
    }

    fn start(&mut self, inc: u8) -> anyhow::Result<ProcessStamp> {
        let child = Command::new("sleep").arg("600").spawn()?;
        let pid = child.id();
        let stamp = ProcessStamp {
            incarnation: Incarnation::random(),
            pid,
            pid_start_time: process_start_time(pid)?,
        };
        self.procs.insert(inc, Proc { child, stamp });
        Ok(stamp)
    }

    fn kill(&mut self, inc: u8) {
        if let Some(mut p) = self.procs.remove(&inc) {
            let _ = p.child.kill(); // SIGKILL
            let _ = p.child.wait();
        }
    }

    fn stamp(&self, inc: Option<u8>) -> Option<ProcessStamp> {
        inc.and_then(|i| self.procs.get(&i)).map(|p| p.stamp)
    }

    fn outstanding(&self, p: Pod) -> Vec<PodName> {
        self.store
            .read(&name(p))
            .map(|r| {
                r.children
                    .into_iter()
                    .filter(|c| c.status != ChildStatus::Reclaimed)
                    .map(|c| c.name)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn reclaim(&self, p: Pod, x: Pod) -> bool {
        self.reg
            .reclaim_delegation(ReclaimRequest {
                parent: name(p),
                child: name(x),
                rules: vec![rule(x)],
                releasing_child: None,
            })
            .is_ok()
    }

    /// `Children::adopt_orphans`.
    fn adopt_orphans(&self, p: Pod) -> anyhow::Result<()> {
        let known: Vec<PodName> = self
            .store
            .read(&name(p))?
            .children
            .into_iter()
            .filter(|c| c.status != ChildStatus::Reclaimed)
            .map(|c| c.name)
            .collect();
        let Some(row) = self.reg.get(&name(p))? else {
            return Ok(());
        };
        for d in row
            .delegations
            .into_iter()
            .filter(|d| !known.contains(&d.child))
        {
            let alive = self
                .reg
                .get(&d.child)?
                .and_then(|r| r.process)
                .is_some_and(|s| s.is_alive());
            if alive {
                self.store.add_pending_child(
                    &name(p),
                    ChildSpec {
                        name: d.child.clone(),
                        write: d.rules,
                        read: vec![],
                    },
                )?;
                self.store.mark_child_live(&name(p), &d.child, None, None)?;
            } else {
                let _ = self.reclaim(p, pod_of(&d.child));
            }
        }
        Ok(())
    }

    /// `give_back`: registry, store, then the orphans.
    fn give_back(&self, p: Pod, x: Pod) -> anyhow::Result<()> {
        if self.reclaim(p, x) {
            self.store.reclaim_child(&name(p), &name(x), "given back")?;
            self.adopt_orphans(p)?;
        }
        Ok(())
    }

    /// A Pod process starts: its notice keys come from its log (as in `restore`).
    fn open_notices(&mut self, p: Pod) -> anyhow::Result<()> {
        let journal = self.journal(p)?;
        let keys = notice_log::replay(&self.entries(p)?).keys;
        self.notices.insert(p, Notices::new(journal, keys));
        Ok(())
    }

    fn journal(&self, p: Pod) -> anyhow::Result<Journal> {
        self.logs
            .get(&p)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no log for {p:?}"))
    }

    fn entries(&self, p: Pod) -> anyhow::Result<Vec<EntryKind>> {
        let seg = self.journal(p)?.segment_id();
        Ok(self
            .sessions
            .read_segment(seg)?
            .entries
            .into_iter()
            .map(|e| e.kind)
            .collect())
    }

    fn notices_of(&self, p: Pod) -> anyhow::Result<&Notices> {
        self.notices
            .get(&p)
            .ok_or_else(|| anyhow::anyhow!("{p:?} has no running process"))
    }

    /// The key the runtime gives the end of child `x`'s current life in `p`'s log.
    fn end_key(&self, p: Pod, x: Pod) -> anyhow::Result<String> {
        let rec = self.store.read(&name(p))?;
        let c = rec
            .child(&name(x))
            .ok_or_else(|| anyhow::anyhow!("{p:?} has no record of {x:?}"))?;
        Ok(end_key(&name(x), c.created_at))
    }

    /// A run of `p` shows what its log says is waiting (`system_item`s).
    fn show_waiting(&self, p: Pod) -> anyhow::Result<()> {
        let journal = self.journal(p)?;
        for w in notice_log::replay(&self.entries(p)?).waiting {
            journal.record(&EntryKind::SystemItem { text: w.text }, None)?;
        }
        Ok(())
    }

    /// Performs `a` for real. `before` is the model state it is taken in (for the
    /// runtime's memory: what operation a Pod is in), `after` the model's result.
    pub fn apply(&mut self, before: &State, a: Action, after: &State) -> anyhow::Result<()> {
        let inc = |p: Pod| before.up[p as usize];
        match a {
            Action::SpawnPending(p, x) => {
                self.store.add_pending_child(
                    &name(p),
                    ChildSpec {
                        name: name(x),
                        write: vec![rule(x)],
                        read: vec![],
                    },
                )?;
            }
            Action::Step(p) => self.step(before, p, after)?,
            Action::Finish(x) => {
                // `Children::report`: recorded under the report's key before the ack.
                if let Some(q) = x.parent() {
                    let n = (Said::Finished, x, before.life[x as usize]);
                    let key = format!("report:{}:{}", name(x), n.2);
                    self.notices_of(q)?
                        .record(&key, &notice_text(n), false, None)?;
                }
            }
            Action::UserStop(_) => {} // memory only
            Action::RunInbox(p) => self.show_waiting(p)?,
            Action::Stop(p, x) => {
                let _ = self.store.mark_child_stopping(&name(p), &name(x));
            }
            Action::Shutdown(x) => {
                if let Some(i) = inc(x) {
                    if let Some(s) = self.stamp(Some(i)) {
                        self.reg.release(&name(x), s.incarnation)?;
                    }
                    self.kill(i);
                }
            }
            Action::StopReclaim(p, x) => self.give_back(p, x)?,
            Action::ExitSeen(p, x) => {
                // `Children::on_exit`: the notice, keyed by the record's life, first.
                let n = (Said::Exited, x, before.life[x as usize]);
                let key = self.end_key(p, x)?;
                self.notices_of(p)?
                    .record(&key, &notice_text(n), false, None)?;
            }
            Action::Kill(p) => {
                if let Some(i) = inc(p) {
                    self.kill(i);
                }
                self.notices.remove(&p);
            }
            Action::Restore(p) => {
                let i = before.next_inc;
                let stamp = self.start(i)?;
                let ok = self
                    .reg
                    .register(RegisterRequest {
                        name: name(p),
                        process: stamp,
                        socket: None,
                        allow: vec![rule(p)],
                        deny: vec![],
                        segment_id: None,
                        restoring_children: self.outstanding(p),
                    })
                    .is_ok();
                if ok {
                    self.open_notices(p)?;
                } else {
                    self.kill(i);
                }
            }
            Action::Expire(_) => anyhow::bail!("reservation expiry is not replayed"),
            Action::Lapse(_) | Action::LeaseEnd(_) | Action::Renew(_) => {
                anyhow::bail!("leases are not replayed on the file registry")
            }
        }
        Ok(())
    }

    fn step(&mut self, before: &State, p: Pod, after: &State) -> anyhow::Result<()> {
        let Some(m) = before.mem[p as usize].as_ref() else {
            return Ok(());
        };
        let my = self.stamp(before.up[p as usize]);
        match m.pc {
            Pc::Ready => {}
            Pc::Reserve(x) => {
                let Some(me) = my else { return Ok(()) };
                match self.reg.reserve_child(ReserveRequest {
                    parent: name(p),
                    parent_incarnation: me.incarnation,
                    child: name(x),
                    rules: vec![rule(x)],
                    ttl: Duration::from_secs(3600),
                }) {
                    Ok(t) => {
                        self.tokens.insert(x, t);
                    }
                    Err(_) => {
                        self.store
                            .reclaim_child(&name(p), &name(x), "spawn refused")?;
                    }
                }
            }
            Pc::Launch(x) => {
                let i = before.next_inc;
                let stamp = self.start(i)?;
                let token = self
                    .tokens
                    .remove(&x)
                    .unwrap_or_else(|| ReservationToken::from_secret("none"));
                let adopted = self.reg.adopt(AdoptRequest {
                    name: name(x),
                    token,
                    process: stamp,
                    socket: None,
                    segment_id: None,
                });
                if adopted.is_ok() {
                    self.ensure_record(x)?;
                    self.open_notices(x)?;
                } else {
                    self.kill(i);
                }
            }
            Pc::MarkLive(x, child) => {
                if self.procs.contains_key(&child) && before.up[x as usize] == Some(child) {
                    let _ = self.store.mark_child_live(&name(p), &name(x), None, None);
                } else {
                    self.give_back(p, x)?;
                }
            }
            Pc::ExitLost(x) => {
                let _ = self.store.mark_child_lost(&name(p), &name(x), "exited");
            }
            Pc::ExitReclaim(x) => {
                self.reclaim(p, x);
            }
            Pc::ExitRecord(x) => {
                self.store.reclaim_child(&name(p), &name(x), "exited")?;
                self.adopt_orphans(p)?;
            }
            Pc::Reconcile(pending) => {
                let Some(x) = PODS.into_iter().find(|x| pending & (1 << *x as u8) != 0) else {
                    return Ok(());
                };
                let row = self.reg.get(&name(x))?;
                let alive = row
                    .as_ref()
                    .and_then(|r| r.process)
                    .is_some_and(|s| s.is_alive());
                // What the real registration returned (compared with the model's
                // registry after the restore step).
                let relinked = m.relinked & (1 << x as u8) != 0;
                match (alive, relinked) {
                    (true, true) => {
                        let _ = self.store.mark_child_live(&name(p), &name(x), None, None);
                    }
                    (true, false) => {}
                    (false, _) => {
                        self.reclaim(p, x);
                    }
                }
            }
            Pc::ReconcileNotice(_, x) => {
                // `Children::reconcile`: recorded, then shown, unless this life's end
                // is in the log already.
                let n = (Said::Lost, x, before.life[x as usize]);
                let key = self.end_key(p, x)?;
                let notices = self.notices_of(p)?;
                if !notices.knows(&key) {
                    let text = notice_text(n);
                    notices.record(&key, &text, true, None)?;
                    self.journal(p)?
                        .record(&EntryKind::SystemItem { text }, None)?;
                }
            }
            Pc::ReconcileRecord(_, x) => {
                let rec = self.store.read(&name(p))?;
                if rec
                    .child(&name(x))
                    .is_some_and(|c| c.status != ChildStatus::Lost)
                {
                    self.store
                        .mark_child_lost(&name(p), &name(x), "gone at restore")?;
                }
                self.store
                    .reclaim_child(&name(p), &name(x), "lost at restore")?;
            }
        }
        // `Children::reconcile` ends by taking over re-parented grandchildren.
        let reconciling = |pc: Pc| {
            matches!(
                pc,
                Pc::Reconcile(_) | Pc::ReconcileNotice(..) | Pc::ReconcileRecord(..)
            )
        };
        if reconciling(m.pc)
            && after.mem[p as usize]
                .as_ref()
                .is_some_and(|a| a.pc == Pc::Ready)
        {
            self.adopt_orphans(p)?;
        }
        Ok(())
    }

    /// The real state must be the model's, and must satisfy the invariants.
    pub fn check(&self, s: &State) -> Result<(), String> {
        let rows = self.reg.list().map_err(|e| e.to_string())?;
        let mut m = s.clone();
        m.reap_for_replay();
        for p in PODS {
            let real = rows.iter().find(|r| r.name == name(p));
            let want = m.rows[p as usize].as_ref();
            let real_view = real.map(|r| {
                (
                    r.process.is_some(),
                    r.delegated_from.as_ref().map(pod_of),
                    r.origin.as_ref().map(pod_of),
                    r.delegations
                        .iter()
                        .fold(0u8, |a, d| a | (1 << pod_of(&d.child) as u8)),
                )
            });
            let want_view = want.map(|r| {
                (
                    r.process.is_some(),
                    r.delegated_from,
                    r.origin,
                    r.delegations,
                )
            });
            if real_view != want_view {
                return Err(format!(
                    "registry row {p:?}: real {real_view:?}, model {want_view:?}"
                ));
            }
            let real_records: Vec<(Pod, Status)> = match self.store.read(&name(p)) {
                Ok(r) => r
                    .children
                    .iter()
                    .map(|c| (pod_of(&c.name), status(c.status)))
                    .collect(),
                Err(_) => Vec::new(),
            };
            let want_records: Vec<(Pod, Status)> = PODS
                .into_iter()
                .filter_map(|x| s.records[p as usize][x as usize].map(|st| (x, st)))
                .collect();
            let mut real_sorted = real_records.clone();
            real_sorted.sort_by_key(|(x, _)| *x);
            if real_sorted != want_records {
                return Err(format!(
                    "records of {p:?}: real {real_sorted:?}, model {want_records:?}"
                ));
            }
        }
        let table = self.reg.read_unlocked().map_err(|e| e.to_string())?;
        if let Some((a, b, _)) = table.overlapping_effective_writes().first() {
            return Err(format!(
                "registry: {a} and {b} have overlapping effective writes"
            ));
        }
        // The scopes the running Pods' tools would get, from real data (a Pod still
        // reconciling at start-up serves no tool call yet).
        let serving = |p: Pod| {
            s.mem[p as usize].as_ref().is_some_and(|m| {
                !matches!(
                    m.pc,
                    Pc::Reconcile(_) | Pc::ReconcileNotice(..) | Pc::ReconcileRecord(..)
                )
            })
        };
        let scopes: Vec<(Pod, Scope)> = PODS
            .into_iter()
            .filter(|p| serving(*p))
            .map(|p| (p, self.tool_scope(p, &rows)))
            .collect();
        for (i, (p, a)) in scopes.iter().enumerate() {
            for (q, b) in &scopes[i + 1..] {
                if let Some(c) = a.write_conflict(b) {
                    return Err(format!("{p:?} and {q:?} can both write: {c:?}"));
                }
            }
        }
        for p in PODS {
            let entries = self.entries(p).map_err(|e| e.to_string())?;
            let shown: Vec<String> = entries
                .iter()
                .filter_map(|e| match e {
                    EntryKind::SystemItem { text } => Some(text.clone()),
                    _ => None,
                })
                .collect();
            let want: Vec<String> = s.log[p as usize].iter().map(|n| notice_text(*n)).collect();
            if shown != want {
                return Err(format!("log of {p:?}: real {shown:?}, model {want:?}"));
            }
            let waiting: Vec<String> = notice_log::replay(&entries)
                .waiting
                .into_iter()
                .map(|w| w.text)
                .collect();
            let want: Vec<String> = s.queued[p as usize]
                .iter()
                .map(|n| notice_text(*n))
                .collect();
            if waiting != want {
                return Err(format!(
                    "waiting notices of {p:?}: real {waiting:?}, model {want:?}"
                ));
            }
        }
        Ok(())
    }

    /// `Children::effective` over the real store and registry.
    fn tool_scope(&self, p: Pod, rows: &[pod_registry::Allocation]) -> Scope {
        let records = self
            .store
            .read(&name(p))
            .map(|r| r.children)
            .unwrap_or_default();
        let mut held: Vec<ScopeRule> = records
            .iter()
            .filter(|c| c.status != ChildStatus::Reclaimed)
            .flat_map(|c| c.write.clone())
            .collect();
        if let Some(row) = rows.iter().find(|r| r.name == name(p)) {
            for d in &row.delegations {
                if !records
                    .iter()
                    .any(|c| c.name == d.child && c.status != ChildStatus::Reclaimed)
                {
                    held.extend(d.rules.iter().cloned());
                }
            }
        }
        Scope::allowing(vec![rule(p)]).effective_write(&held)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let incs: Vec<u8> = self.procs.keys().copied().collect();
        for i in incs {
            self.kill(i);
        }
    }
}

fn status(s: ChildStatus) -> Status {
    match s {
        ChildStatus::Pending => Status::Pending,
        ChildStatus::Live => Status::Live,
        ChildStatus::Stopping => Status::Stopping,
        ChildStatus::Lost => Status::Lost,
        ChildStatus::Reclaimed => Status::Reclaimed,
    }
}

/// Replays one path of actions from the initial state, checking after every step.
pub fn replay(model: &ScopeProtocol, actions: &[Action]) -> Result<(), String> {
    let mut world = World::new().map_err(|e| e.to_string())?;
    let mut s = State::initial(model);
    world.check(&s).map_err(|e| format!("initial state: {e}"))?;
    for (i, a) in actions.iter().enumerate() {
        let next = stateright::Model::next_state(model, &s, *a).ok_or("no next state")?;
        world
            .apply(&s, *a, &next)
            .map_err(|e| format!("step {i} {a:?} of {actions:?}: {e}"))?;
        world
            .check(&next)
            .map_err(|e| format!("after step {i} {a:?} of {actions:?}: {e}"))?;
        s = next;
    }
    Ok(())
}
