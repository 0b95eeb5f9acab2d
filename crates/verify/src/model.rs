//! A model of the scope protocol (ARCHITECTURE §4, §5, §9) for the `stateright`
//! model checker: three Pods in a line — lead `L` (top level, writes `/w`), child `C`
//! (`/w/c`), grandchild `G` (`/w/c/g`) — and every step the runtime takes that
//! changes durable or shared state, each one atomic, with SIGKILL possible between
//! any two:
//!
//! - two-phase spawn (pending record → registry reservation with a one-time token →
//!   the child process adopts it → record `live`), also used to resume a child;
//! - a child's run ending (`child_report` → `child_finished` notice recorded in the
//!   parent's log, keyed by the report, before the child gets its answer → shown by
//!   the parent's next run);
//! - `stop_pod` (record `stopping` → the child shuts down cleanly, releasing its row
//!   after stopping its own children → the parent reclaims);
//! - the supervisor seeing a child exit (`child_exited` notice recorded, keyed by the
//!   child's life → `lost` → registry reclaim → `reclaimed`; the registry re-parents
//!   grandchildren, which the parent then takes over);
//! - restore of any dead Pod by `pod resume` (registration re-links live children
//!   whose origin it is, then reconcile: reclaim in the registry → `child_lost`
//!   notice in the log unless a notice of that life is there → record `reclaimed`);
//! - SIGKILL of any Pod at any step, and expiry of a reservation not adopted in time.
//!
//! The registry part mirrors `pod_registry::Table` (reap of rows whose process is
//! gone, re-parenting on removal, records kept on the parent, conflicts against
//! other rows' held scope, relational exemption at restore); the Pod's tools write
//! with the scope computed the way `pod::children::Children::effective` computes it,
//! taken at the same refresh points. Regions are three nested atoms, enough for every
//! overlap between the three Pods.
//!
//! Notices are durable (`pod::notice_log`): recorded notices (`queued`) survive a
//! SIGKILL and a run moves them into the log the model saw (`log`).
//!
//! Leases (the PostgreSQL backend, ARCHITECTURE §5): a holder's lease can lapse while
//! its process lives (database unreachable, process stalled). Three actions: the
//! holder's local deadline passes (`Lapse`: its gate pauses, its tools write
//! nothing), the lease ends in the database (`LeaseEnd`: only after the holder
//! paused — the quarter-lease margin — and from then on every operation reaps the
//! row as if its process were gone), and a renewal (`Renew`: valid again if the row
//! still holds the holder's grant, else fenced: the process exits at once). The
//! incarnation stands for the fencing token (a new grant, a new number).

use std::collections::BTreeSet;

use stateright::{Model, Property};

/// The three Pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pod {
    /// Top level, `/w`.
    L,
    /// Child of `L`, `/w/c`.
    C,
    /// Child of `C`, `/w/c/g`.
    G,
}

/// Every Pod, in tree order.
pub const PODS: [Pod; 3] = [Pod::L, Pod::C, Pod::G];

impl Pod {
    fn ix(self) -> usize {
        self as usize
    }
    fn bit(self) -> u8 {
        1 << self.ix()
    }
    /// The Pod that spawns it.
    pub fn parent(self) -> Option<Pod> {
        match self {
            Pod::L => None,
            Pod::C => Some(Pod::L),
            Pod::G => Some(Pod::C),
        }
    }
    /// The Pod it spawns.
    pub fn kid(self) -> Option<Pod> {
        match self {
            Pod::L => Some(Pod::C),
            Pod::C => Some(Pod::G),
            Pod::G => None,
        }
    }
    /// Its write region as a set of atoms: `/w − /w/c`, `/w/c − /w/c/g`, `/w/c/g`.
    pub fn region(self) -> u8 {
        match self {
            Pod::L => 0b111,
            Pod::C => 0b110,
            Pod::G => 0b100,
        }
    }
    /// Its path (for the replay).
    pub fn path(self) -> &'static str {
        match self {
            Pod::L => "/w",
            Pod::C => "/w/c",
            Pod::G => "/w/c/g",
        }
    }
}

fn pods_in(set: u8) -> impl Iterator<Item = Pod> {
    PODS.into_iter().filter(move |p| set & p.bit() != 0)
}

/// A child record's status in its parent's pod-store record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Phase one of a spawn is durable.
    Pending,
    /// The child adopted its reservation and runs.
    Live,
    /// `stop_pod` is under way.
    Stopping,
    /// The child is gone; its scope may not be back yet.
    Lost,
    /// The scope is back with the parent.
    Reclaimed,
}

/// A registry row (`pod_registry::Allocation`, with rules reduced to regions).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Row {
    /// The incarnation holding it; `None` while only reserved.
    pub process: Option<u8>,
    /// Current parent.
    pub delegated_from: Option<Pod>,
    /// First delegator (never changes).
    pub origin: Option<Pod>,
    /// Children this row keeps delegation records for.
    pub delegations: u8,
    /// Its lease ended in the database (the next operation reaps it).
    pub lease_ended: bool,
}

/// What a notice is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Said {
    /// `child_finished`.
    Finished,
    /// `child_exited` (supervisor).
    Exited,
    /// `child_lost` (restore).
    Lost,
}

/// A notice: what, about which child, about which of its lives (spawn count).
pub type Notice = (Said, Pod, u8);

/// The multi-step operation a Pod process is in the middle of (memory only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pc {
    /// Serving: its tools run with its scope.
    Ready,
    /// Spawn of the child: pending record written, reservation next.
    Reserve(Pod),
    /// Reservation made, the child process starts next.
    Launch(Pod),
    /// The child was started (as incarnation `.1`); the record goes live next.
    MarkLive(Pod, u8),
    /// Supervisor: the child exited and its notice is recorded; record `lost` next.
    ExitLost(Pod),
    /// Supervisor: the child's record is `lost`; registry reclaim next.
    ExitReclaim(Pod),
    /// Registry reclaimed; record `reclaimed` next.
    ExitRecord(Pod),
    /// Restore: reconciling the children in `pending` (bitset), one step each.
    Reconcile(u8),
    /// Restore: this child's scope was reclaimed in the registry; notice next.
    ReconcileNotice(u8, Pod),
    /// Restore: the notice is in the log; the record goes `reclaimed` next.
    ReconcileRecord(u8, Pod),
}

/// What one Pod process holds in memory (all lost on SIGKILL).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mem {
    /// Where it is.
    pub pc: Pc,
    /// Children it supervises (pidfd).
    pub watching: u8,
    /// Children it is stopping.
    pub stopping: u8,
    /// Atoms its tools may write (set at the refresh points).
    pub tools: u8,
    /// Children the registry re-linked when it registered.
    pub relinked: u8,
    /// It was asked to shut down.
    pub shutting_down: bool,
    /// Its lease gate is paused (local deadline passed, not renewed): no write.
    pub paused: bool,
}

/// The whole system.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    /// Running process per Pod (its incarnation).
    pub up: [Option<u8>; 3],
    /// Memory of each running process.
    pub mem: [Option<Mem>; 3],
    /// The registry table (after the last operation; dead rows linger until reaped).
    pub rows: [Option<Row>; 3],
    /// `records[p][x]`: the status of child `x` in `p`'s pod-store record.
    pub records: [[Option<Status>; 3]; 3],
    /// Whether the Pod has a record of its own (it started once).
    pub exists: [bool; 3],
    /// `system_item` notices in each Pod's session log (shown to its model).
    pub log: [Vec<Notice>; 3],
    /// Notices recorded in each Pod's log (`pod.notice` queued) that no run showed
    /// yet; a running Pod's next run shows them, a restored one re-queues them.
    pub queued: [Vec<Notice>; 3],
    /// Ghost: how many times each child was spawned (its current life).
    pub life: [u8; 3],
    /// Ghost: lives whose end the parent's model must be told by a notice.
    pub owed: BTreeSet<(Pod, Pod, u8)>,
    /// Ghost: finished reports the parent acknowledged.
    pub acked: BTreeSet<(Pod, Pod, u8)>,
    /// Next incarnation number.
    pub next_inc: u8,
    /// SIGKILLs left.
    pub kills: u8,
    /// Lease lapses left.
    pub lapses: u8,
    /// Process starts left (spawns and restores).
    pub starts: u8,
}

/// One atomic step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// `spawn_pod` / `resume_child`, phase one: the pending record.
    SpawnPending(Pod, Pod),
    /// The child's run ended and it reports to its parent.
    Finish(Pod),
    /// A run starts and shows the recorded notices (`system_item`s).
    RunInbox(Pod),
    /// `stop_pod`: record `stopping`, shutdown requested.
    Stop(Pod, Pod),
    /// A Pod asked to shut down (with no running child left) releases and exits.
    Shutdown(Pod),
    /// The parent sees a stopped child gone and takes its scope back.
    StopReclaim(Pod, Pod),
    /// The supervisor sees a child gone (not stopped): record `lost`.
    ExitSeen(Pod, Pod),
    /// Next step of the Pod's current operation (reservation, launch and adoption,
    /// record live, registry reclaim, record reclaimed, reconcile steps).
    Step(Pod),
    /// SIGKILL.
    Kill(Pod),
    /// `pod resume`: the Pod starts on its own (its parent is not running).
    Restore(Pod),
    /// `pod stop` by the user on a top-level Pod.
    UserStop(Pod),
    /// A reservation's deadline passed before adoption.
    Expire(Pod),
    /// The holder's lease deadline passed locally: its gate pauses.
    Lapse(Pod),
    /// The paused holder's lease ended in the database.
    LeaseEnd(Pod),
    /// The paused holder renews: valid again, or fenced (the process exits).
    Renew(Pod),
}

/// The model and its bounds.
#[derive(Clone, Debug)]
pub struct ScopeProtocol {
    /// SIGKILLs allowed on one path.
    pub kills: u8,
    /// Lease lapses allowed on one path (0: the file backend, no leases).
    pub lapses: u8,
    /// Process starts allowed on one path (spawns, resumes, restores).
    pub starts: u8,
    /// Whether the grandchild may be spawned (three Pods) or only `L` and `C`.
    pub grandchild: bool,
}

impl Default for ScopeProtocol {
    fn default() -> Self {
        ScopeProtocol {
            kills: 2,
            lapses: 1,
            starts: 4,
            grandchild: true,
        }
    }
}

fn fresh_mem(pc: Pc, relinked: u8) -> Mem {
    Mem {
        pc,
        watching: 0,
        stopping: 0,
        tools: 0,
        relinked,
        shutting_down: false,
        paused: false,
    }
}

impl State {
    /// `L` running and registered, nothing else.
    pub fn initial(m: &ScopeProtocol) -> State {
        let mut s = State {
            up: [Some(1), None, None],
            mem: [Some(fresh_mem(Pc::Ready, 0)), None, None],
            rows: [
                Some(Row {
                    process: Some(1),
                    delegated_from: None,
                    origin: None,
                    delegations: 0,
                    lease_ended: false,
                }),
                None,
                None,
            ],
            records: [[None; 3]; 3],
            exists: [true, false, false],
            log: Default::default(),
            queued: Default::default(),
            life: [0; 3],
            owed: BTreeSet::new(),
            acked: BTreeSet::new(),
            next_inc: 2,
            kills: m.kills,
            lapses: m.lapses,
            starts: m.starts,
        };
        s.refresh(Pod::L);
        s
    }

    fn mem(&self, p: Pod) -> Option<&Mem> {
        self.mem[p.ix()].as_ref()
    }

    fn mem_mut(&mut self, p: Pod) -> &mut Mem {
        self.mem[p.ix()].get_or_insert_with(|| fresh_mem(Pc::Ready, 0))
    }

    fn record(&self, p: Pod, x: Pod) -> Option<Status> {
        self.records[p.ix()][x.ix()]
    }

    fn set_record(&mut self, p: Pod, x: Pod, s: Status) {
        self.records[p.ix()][x.ix()] = Some(s);
    }

    /// A status change the store's lifecycle allows (`ChildStatus::may_become`);
    /// others are refused and, as in the runtime, ignored.
    fn transition(&mut self, p: Pod, x: Pod, to: Status) {
        use Status::*;
        let Some(from) = self.record(p, x) else {
            return;
        };
        let allowed = match to {
            Pending => false,
            Live => matches!(from, Pending | Live | Lost),
            Stopping => matches!(from, Pending | Live | Stopping),
            Lost => matches!(from, Pending | Live | Stopping | Lost),
            Reclaimed => true,
        };
        if allowed {
            self.set_record(p, x, to);
        }
    }

    fn row(&self, p: Pod) -> Option<&Row> {
        self.rows[p.ix()].as_ref()
    }

    // ---- the registry (mirrors pod_registry::Table) ----

    /// Atoms a row holds (allow − deny; there are no denies here).
    fn held(p: Pod) -> u8 {
        p.region()
    }

    /// Atoms a row may write: held minus its delegation records.
    fn row_effective(&self, p: Pod) -> u8 {
        let d = self.row(p).map_or(0, |r| r.delegations);
        pods_in(d).fold(p.region(), |acc, c| acc & !c.region())
    }

    fn ancestors(&self, p: Pod) -> u8 {
        let mut out = 0;
        let mut cur = self.row(p).and_then(|r| r.delegated_from);
        while let Some(a) = cur {
            if out & a.bit() != 0 {
                break;
            }
            out |= a.bit();
            cur = self.row(a).and_then(|r| r.delegated_from);
        }
        out
    }

    /// What the real registry's next operation sees (it reaps first).
    pub fn reap_for_replay(&mut self) {
        self.reap();
    }

    /// Every operation first drops rows whose process is gone or whose lease ended.
    fn reap(&mut self) {
        for p in PODS {
            if let Some(Row {
                process: Some(inc),
                lease_ended,
                ..
            }) = self.row(p)
                && (self.up[p.ix()] != Some(*inc) || *lease_ended)
            {
                self.remove(p, false);
            }
        }
    }

    fn remove(&mut self, gone: Pod, return_region: bool) {
        let Some(row) = self.rows[gone.ix()].take() else {
            return;
        };
        let parent = row.delegated_from;
        let mut inherited = 0;
        for c in PODS {
            if let Some(r) = self.rows[c.ix()].as_mut()
                && r.delegated_from == Some(gone)
            {
                r.delegated_from = parent;
                inherited |= c.bit();
            }
        }
        if let Some(p) = parent.and_then(|p| self.rows[p.ix()].as_mut()) {
            if return_region {
                p.delegations &= !gone.bit();
            }
            p.delegations |= inherited;
        }
    }

    /// The row (other than `me` and `exempt`) whose held scope overlaps `want`.
    fn conflict(&self, me: Pod, want: u8, exempt: u8) -> bool {
        PODS.into_iter().any(|o| {
            o != me && exempt & o.bit() == 0 && self.row(o).is_some() && Self::held(o) & want != 0
        })
    }

    fn register(&mut self, p: Pod, inc: u8, restoring: u8) -> Result<u8, ()> {
        self.reap();
        if self.row(p).is_some() {
            return Err(());
        }
        let relinked: u8 = pods_in(restoring)
            .filter(|c| self.row(*c).is_some_and(|r| r.origin == Some(p)))
            .fold(0, |a, c| a | c.bit());
        let mut exempt = relinked;
        if relinked != 0 {
            for o in PODS {
                if self.ancestors(o) & relinked != 0 {
                    exempt |= o.bit();
                }
            }
        }
        if self.conflict(p, p.region(), exempt) {
            return Err(());
        }
        for c in pods_in(relinked) {
            if let Some(r) = self.rows[c.ix()].as_mut() {
                r.delegated_from = Some(p);
            }
        }
        self.rows[p.ix()] = Some(Row {
            process: Some(inc),
            delegated_from: None,
            origin: None,
            delegations: relinked,
            lease_ended: false,
        });
        Ok(relinked)
    }

    fn reserve(&mut self, p: Pod, inc: u8, x: Pod) -> Result<(), ()> {
        self.reap();
        let Some(row) = self.row(p) else {
            return Err(());
        };
        if row.process != Some(inc) {
            return Err(());
        }
        // check_delegation: inside the parent's held scope, no overlap with a
        // sibling's delegation record.
        let siblings = pods_in(row.delegations).fold(0, |a, c| a | c.region());
        if x.region() & !Self::held(p) != 0 || x.region() & siblings != 0 {
            return Err(());
        }
        if self.row(x).is_some() {
            return Err(());
        }
        let exempt = p.bit() | self.ancestors(p);
        if self.conflict(x, x.region(), exempt) {
            return Err(());
        }
        self.rows[x.ix()] = Some(Row {
            process: None,
            delegated_from: Some(p),
            origin: Some(p),
            delegations: 0,
            lease_ended: false,
        });
        if let Some(r) = self.rows[p.ix()].as_mut() {
            r.delegations |= x.bit();
        }
        Ok(())
    }

    fn adopt(&mut self, x: Pod, inc: u8) -> Result<(), ()> {
        self.reap();
        match self.rows[x.ix()].as_mut() {
            Some(r) if r.process.is_none() => {
                r.process = Some(inc);
                Ok(())
            }
            _ => Err(()),
        }
    }

    fn release(&mut self, x: Pod, inc: u8) {
        self.reap();
        if self.row(x).is_some_and(|r| r.process == Some(inc)) {
            self.remove(x, false);
        }
    }

    fn reclaim(&mut self, p: Pod, x: Pod) -> Result<(), ()> {
        self.reap();
        if self.row(p).is_none() {
            return Err(());
        }
        let mut next = self.clone();
        if let Some(c) = self.row(x)
            && c.delegated_from == Some(p)
            && c.process.is_none()
        {
            next.remove(x, false);
        }
        if let Some(r) = next.rows[p.ix()].as_mut() {
            r.delegations &= !x.bit();
        }
        let effective = next.row_effective(p);
        let exempt = next.ancestors(p);
        if next.conflict(p, effective, exempt) {
            return Err(());
        }
        *self = next;
        Ok(())
    }

    // ---- the runtime ----

    /// `Children::effective`: the manifest scope minus children not reclaimed in the
    /// store, minus registry records for children the store does not list.
    pub fn effective(&self, p: Pod) -> u8 {
        let mut out = p.region();
        for x in PODS {
            if self.record(p, x).is_some_and(|s| s != Status::Reclaimed) {
                out &= !x.region();
            }
        }
        if let Some(r) = self.row(p) {
            for x in pods_in(r.delegations) {
                if matches!(self.record(p, x), None | Some(Status::Reclaimed)) {
                    out &= !x.region();
                }
            }
        }
        out
    }

    fn refresh(&mut self, p: Pod) {
        let e = self.effective(p);
        if let Some(m) = self.mem[p.ix()].as_mut() {
            m.tools = e;
        }
    }

    /// The atoms `p`'s tools write now (nothing while it is starting up, nothing
    /// while its lease gate is paused: calls wait at the gate, running ones were
    /// killed at the lapse).
    pub fn writes(&self, p: Pod) -> u8 {
        match self.mem(p) {
            Some(m)
                if !m.paused
                    && !matches!(
                        m.pc,
                        Pc::Reconcile(_) | Pc::ReconcileNotice(..) | Pc::ReconcileRecord(..)
                    ) =>
            {
                m.tools
            }
            _ => 0,
        }
    }

    fn start_process(&mut self) -> u8 {
        let inc = self.next_inc;
        self.next_inc = self.next_inc.saturating_add(1);
        self.starts = self.starts.saturating_sub(1);
        inc
    }

    /// Records notice `n` in `p`'s log (durable), unless its key is there: a
    /// report by its id (here: the child's life, one report per life), an end by
    /// the child's life whatever said it (`child_exited` or `child_lost`).
    fn notify(&mut self, p: Pod, n: Notice) {
        if !self.told(p, n) {
            self.queued[p.ix()].push(n);
        }
    }

    /// Whether `p`'s log holds the key of `n` (shown or waiting).
    pub fn told(&self, p: Pod, n: Notice) -> bool {
        let same = |m: &Notice| {
            m.1 == n.1
                && m.2 == n.2
                && (m.0 == n.0 || (m.0 != Said::Finished && n.0 != Said::Finished))
        };
        self.log[p.ix()]
            .iter()
            .chain(&self.queued[p.ix()])
            .any(same)
    }

    /// The end of child `x`'s current life must be told to `p`'s model.
    fn owe(&mut self, p: Pod, x: Pod) {
        self.owed.insert((p, x, self.life[x.ix()]));
    }

    fn outstanding(&self, p: Pod) -> u8 {
        PODS.into_iter()
            .filter(|x| self.record(p, *x).is_some_and(|s| s != Status::Reclaimed))
            .fold(0, |a, x| a | x.bit())
    }

    /// `adopt_orphans`: grandchildren the registry re-parented to `p` become its
    /// children (record live, supervised); those already gone are reclaimed.
    fn adopt_orphans(&mut self, p: Pod) {
        let Some(r) = self.row(p) else { return };
        for g in pods_in(r.delegations) {
            if !matches!(self.record(p, g), None | Some(Status::Reclaimed)) {
                continue;
            }
            let alive = self
                .row(g)
                .and_then(|r| r.process)
                .is_some_and(|inc| self.up[g.ix()] == Some(inc));
            if alive {
                self.set_record(p, g, Status::Live); // replaces a reclaimed record
                self.mem_mut(p).watching |= g.bit();
            } else {
                let _ = self.reclaim(p, g);
            }
        }
        self.refresh(p);
    }

    /// Registry, then store, then memory (`give_back`), as one step.
    fn give_back(&mut self, p: Pod, x: Pod) -> bool {
        if self.reclaim(p, x).is_err() {
            return false;
        }
        self.set_record(p, x, Status::Reclaimed);
        let m = self.mem_mut(p);
        m.watching &= !x.bit();
        m.stopping &= !x.bit();
        self.adopt_orphans(p);
        true
    }

    /// Begins a process of `x` that adopted (as a child) or registered (restore),
    /// then reconciles its own children.
    fn boot(&mut self, x: Pod, inc: u8, relinked: u8) {
        self.up[x.ix()] = Some(inc);
        self.exists[x.ix()] = true;
        let pending = self.outstanding(x);
        let pc = if pending == 0 {
            Pc::Ready
        } else {
            Pc::Reconcile(pending)
        };
        self.mem[x.ix()] = Some(fresh_mem(pc, relinked));
        self.refresh(x);
    }

    fn reconcile_step(&mut self, p: Pod, pending: u8) {
        let Some(x) = pods_in(pending).next() else {
            self.end_reconcile(p);
            return;
        };
        let rest = pending & !x.bit();
        let alive = self
            .row(x)
            .and_then(|r| r.process)
            .is_some_and(|inc| self.up[x.ix()] == Some(inc));
        let relinked = self.mem(p).is_some_and(|m| m.relinked & x.bit() != 0);
        let next = match (alive, relinked) {
            (true, true) => {
                self.transition(p, x, Status::Live);
                self.mem_mut(p).watching |= x.bit();
                Pc::Reconcile(rest)
            }
            (true, false) => Pc::Reconcile(rest), // keeps its scope, unreachable
            (false, _) => {
                if self.reclaim(p, x).is_ok() {
                    Pc::ReconcileNotice(rest, x)
                } else {
                    Pc::Reconcile(rest)
                }
            }
        };
        self.mem_mut(p).pc = next;
        if next == Pc::Reconcile(0) {
            self.end_reconcile(p);
        }
    }

    /// Reconciliation done: the grandchildren the registry re-parented to `p` while
    /// reclaiming its gone children are taken over (or their records reclaimed),
    /// as on every other give-back path (found by the model checker with leases: a
    /// child whose lease ended looked gone at the parent's restore, and its
    /// grandchild's record stayed on the parent's row).
    fn end_reconcile(&mut self, p: Pod) {
        self.mem_mut(p).pc = Pc::Ready;
        self.adopt_orphans(p);
    }
}

impl ScopeProtocol {
    fn enabled(&self, s: &State, out: &mut Vec<Action>) {
        for p in PODS {
            let Some(m) = s.mem(p) else {
                // Not running: `pod resume` when its parent is not running either.
                let parent_down = p.parent().is_none_or(|q| s.up[q.ix()].is_none());
                if s.exists[p.ix()] && parent_down && s.starts > 0 {
                    out.push(Action::Restore(p));
                }
                continue;
            };
            if s.kills > 0 {
                out.push(Action::Kill(p));
            }
            let holds = s
                .row(p)
                .is_some_and(|r| r.process.is_some() && r.process == s.up[p.ix()]);
            if m.paused {
                out.push(Action::Renew(p));
                if holds && s.row(p).is_some_and(|r| !r.lease_ended) {
                    out.push(Action::LeaseEnd(p));
                }
            } else if s.lapses > 0 && holds {
                out.push(Action::Lapse(p));
            }
            if m.pc != Pc::Ready {
                out.push(Action::Step(p));
                continue;
            }
            if !s.queued[p.ix()].is_empty() {
                out.push(Action::RunInbox(p));
            }
            if m.shutting_down {
                // `stop_all` first: every supervised child stopped and given back.
                if m.watching == 0 {
                    out.push(Action::Shutdown(p));
                }
            } else if p
                .parent()
                .is_none_or(|q| s.row(p).is_some_and(|r| r.origin != Some(q)))
                && p != Pod::L
            {
                out.push(Action::UserStop(p));
            }
            if let Some(q) = p.parent()
                && s.mem(q).is_some_and(|qm| qm.watching & p.bit() != 0)
                && !s.acked.contains(&(q, p, s.life[p.ix()]))
            {
                out.push(Action::Finish(p));
            }
            for x in PODS {
                let watched = m.watching & x.bit() != 0;
                let stopping = m.stopping & x.bit() != 0;
                if watched && s.up[x.ix()].is_none() {
                    out.push(if stopping {
                        Action::StopReclaim(p, x)
                    } else {
                        Action::ExitSeen(p, x)
                    });
                }
                // `stop_pod` and `spawn_pod` are tool calls: they wait at the gate.
                if watched && !stopping && !m.paused && s.up[x.ix()].is_some() {
                    out.push(Action::Stop(p, x));
                }
            }
            if let Some(x) = p.kid()
                && (self.grandchild || x != Pod::G)
                && !m.shutting_down
                && !m.paused
                && s.up[x.ix()].is_none()
                && s.starts > 0
                && matches!(s.record(p, x), None | Some(Status::Reclaimed))
                && s.effective(p) & x.region() == x.region()
            {
                out.push(Action::SpawnPending(p, x));
            }
        }
        for x in PODS {
            if s.row(x).is_some_and(|r| r.process.is_none()) {
                out.push(Action::Expire(x));
            }
        }
    }

    fn step(&self, s: &mut State, a: Action) {
        match a {
            Action::SpawnPending(p, x) => {
                s.set_record(p, x, Status::Pending);
                s.life[x.ix()] += 1;
                s.mem_mut(p).pc = Pc::Reserve(x);
            }
            Action::Step(p) => self.continue_op(s, p),
            Action::Finish(x) => {
                if let Some(q) = x.parent() {
                    let life = s.life[x.ix()];
                    s.notify(q, (Said::Finished, x, life));
                    s.acked.insert((q, x, life));
                }
            }
            Action::RunInbox(p) => {
                let shown = std::mem::take(&mut s.queued[p.ix()]);
                s.log[p.ix()].extend(shown);
            }
            Action::Stop(p, x) => {
                s.transition(p, x, Status::Stopping);
                s.mem_mut(p).stopping |= x.bit();
                if s.mem[x.ix()].is_some() {
                    s.mem_mut(x).shutting_down = true;
                }
            }
            Action::UserStop(p) => s.mem_mut(p).shutting_down = true,
            Action::Shutdown(x) => {
                if let Some(inc) = s.up[x.ix()] {
                    s.release(x, inc);
                }
                s.up[x.ix()] = None;
                s.mem[x.ix()] = None;
            }
            Action::StopReclaim(p, x) => {
                s.give_back(p, x);
                let m = s.mem_mut(p);
                m.watching &= !x.bit();
                m.stopping &= !x.bit();
            }
            Action::ExitSeen(p, x) => {
                // The notice first: recorded before the record says lost.
                let life = s.life[x.ix()];
                s.notify(p, (Said::Exited, x, life));
                s.owe(p, x);
                s.mem_mut(p).pc = Pc::ExitLost(x);
            }
            Action::Kill(p) => {
                s.kills -= 1;
                s.up[p.ix()] = None;
                s.mem[p.ix()] = None;
            }
            Action::Restore(p) => {
                // A refused registration changes nothing (the process exits).
                let mut t = s.clone();
                let inc = t.start_process();
                let restoring = t.outstanding(p);
                if let Ok(relinked) = t.register(p, inc, restoring) {
                    t.boot(p, inc, relinked);
                    *s = t;
                }
            }
            Action::Expire(x) => {
                s.reap();
                if s.row(x).is_some_and(|r| r.process.is_none()) {
                    s.remove(x, true);
                }
            }
            Action::Lapse(p) => {
                s.lapses -= 1;
                s.mem_mut(p).paused = true;
            }
            Action::LeaseEnd(p) => {
                if let Some(r) = s.rows[p.ix()].as_mut() {
                    r.lease_ended = true;
                }
            }
            Action::Renew(p) => {
                // `renew(name, incarnation, fence)`: no reaping; extends a lease that
                // ended but whose row nobody reaped.
                let up = s.up[p.ix()];
                match s.rows[p.ix()].as_mut() {
                    Some(r) if r.process.is_some() && r.process == up => {
                        r.lease_ended = false;
                        s.mem_mut(p).paused = false;
                    }
                    // Fenced: the process exits at once (exit 75), writing nothing.
                    _ => {
                        s.up[p.ix()] = None;
                        s.mem[p.ix()] = None;
                    }
                }
            }
        }
    }

    fn continue_op(&self, s: &mut State, p: Pod) {
        let Some(pc) = s.mem(p).map(|m| m.pc) else {
            return;
        };
        let inc = s.up[p.ix()].unwrap_or(0);
        match pc {
            Pc::Ready => {}
            Pc::Reserve(x) => {
                if s.reserve(p, inc, x).is_ok() {
                    s.mem_mut(p).pc = Pc::Launch(x);
                } else {
                    s.set_record(p, x, Status::Reclaimed);
                    s.mem_mut(p).pc = Pc::Ready;
                }
                s.refresh(p);
            }
            Pc::Launch(x) => {
                let child = s.start_process();
                if s.adopt(x, child).is_ok() {
                    s.boot(x, child, 0);
                }
                s.mem_mut(p).pc = Pc::MarkLive(x, child);
            }
            Pc::MarkLive(x, child) => {
                if s.up[x.ix()] == Some(child) {
                    s.transition(p, x, Status::Live);
                    s.mem_mut(p).watching |= x.bit();
                } else {
                    // The spawn failed: the tool call says so (no notice).
                    s.give_back(p, x);
                }
                s.mem_mut(p).pc = Pc::Ready;
            }
            Pc::ExitLost(x) => {
                s.transition(p, x, Status::Lost);
                s.mem_mut(p).pc = Pc::ExitReclaim(x);
            }
            Pc::ExitReclaim(x) => {
                if s.reclaim(p, x).is_ok() {
                    s.mem_mut(p).pc = Pc::ExitRecord(x);
                } else {
                    // "its scope stays delegated for now" (the recorded notice's
                    // text is amended; no second notice)
                    let m = s.mem_mut(p);
                    m.watching &= !x.bit();
                    m.pc = Pc::Ready;
                }
            }
            Pc::ExitRecord(x) => {
                s.set_record(p, x, Status::Reclaimed);
                let m = s.mem_mut(p);
                m.watching &= !x.bit();
                m.pc = Pc::Ready;
                s.refresh(p);
                s.adopt_orphans(p);
                s.refresh(p);
            }
            Pc::Reconcile(pending) => s.reconcile_step(p, pending),
            Pc::ReconcileNotice(rest, x) => {
                // Keyed by the child's life: none if the supervisor recorded this
                // life's exit before a crash (that one is re-queued). Recorded and
                // shown at once (a crash between the two lines leaves it recorded,
                // which is the `queued` state: the next run shows it).
                let n = (Said::Lost, x, s.life[x.ix()]);
                if !s.told(p, n) {
                    s.log[p.ix()].push(n);
                }
                s.owe(p, x);
                s.mem_mut(p).pc = Pc::ReconcileRecord(rest, x);
            }
            Pc::ReconcileRecord(rest, x) => {
                s.set_record(p, x, Status::Reclaimed);
                s.mem_mut(p).pc = Pc::Reconcile(rest);
                if rest == 0 {
                    s.end_reconcile(p);
                }
            }
        }
    }

    /// Whether `a` is one the system takes on its own to recover (no new work, no
    /// faults): finishing operations, supervising, restoring, the user stopping
    /// orphans restored on their own.
    fn is_recovery(a: &Action) -> bool {
        matches!(
            a,
            Action::Step(_)
                | Action::RunInbox(_)
                | Action::Shutdown(_)
                | Action::StopReclaim(..)
                | Action::ExitSeen(..)
                | Action::Restore(_)
                | Action::UserStop(_)
                | Action::Expire(_)
                | Action::Renew(_)
        )
    }

    /// Runs recovery steps (first enabled, in a fixed order) until none is left or
    /// the state is settled; `None` when it does not settle within the bound.
    pub fn recover(&self, s: &State) -> Option<State> {
        let mut s = s.clone();
        let mut relaxed = self.clone();
        relaxed.kills = 0;
        s.kills = 0;
        s.starts = s.starts.max(8);
        for _ in 0..200 {
            if settled(&s) {
                return Some(s);
            }
            let mut acts = Vec::new();
            relaxed.enabled(&s, &mut acts);
            // Restoring the lead first, then finishing work, then stopping orphans.
            // A Pod shutting down stops its children itself (`stop_all`).
            acts.retain(|a| {
                Self::is_recovery(a)
                    || matches!(a, Action::Stop(p, _) if s.mem(*p).is_some_and(|m| m.shutting_down))
            });
            acts.sort_by_key(|a| match a {
                Action::Restore(Pod::L) => 0,
                Action::Step(_) | Action::RunInbox(_) | Action::ExitSeen(..) | Action::Renew(_) => {
                    1
                }
                Action::StopReclaim(..) | Action::Shutdown(_) | Action::Expire(_) => 2,
                Action::Restore(_) => 3,
                Action::Stop(..) => 4,
                _ => 5,
            });
            // The first action that changes anything (a refused restore does not).
            let next = acts.into_iter().find_map(|a| {
                let mut n = s.clone();
                relaxed.step(&mut n, a);
                (n != s).then_some(n)
            })?;
            s = next;
        }
        None
    }
}

/// The lead running, no operation under way, no notice waiting for a running Pod, and
/// every delegation of a running Pod settled: each child its store lists as
/// outstanding, and each child its registry row keeps a record for, is running
/// and linked to it in the registry; the registry holds no row of a process that is
/// gone and no reservation. (A Pod that is not running may keep stale child records:
/// its next start reconciles them before it serves.)
pub fn settled(s: &State) -> bool {
    if s.up[Pod::L.ix()].is_none() {
        return false;
    }
    for p in PODS {
        if let Some(r) = s.row(p)
            && (r.process.is_none() || r.process != s.up[p.ix()])
        {
            return false;
        }
        let Some(m) = s.mem(p) else { continue };
        if m.pc != Pc::Ready || !s.queued[p.ix()].is_empty() || m.shutting_down || m.paused {
            return false;
        }
        let registry_kids = s.row(p).map_or(0, |r| r.delegations);
        for x in PODS {
            let outstanding = s.record(p, x).is_some_and(|st| st != Status::Reclaimed);
            if outstanding || registry_kids & x.bit() != 0 {
                let linked = s.row(x).is_some_and(|r| r.delegated_from == Some(p));
                if s.up[x.ix()].is_none() || !linked {
                    return false;
                }
            }
        }
    }
    true
}

/// I1: no atom is written by two running Pods.
pub fn one_writer_per_region(s: &State) -> bool {
    let mut seen = 0u8;
    for p in PODS {
        let w = s.writes(p);
        if w & seen != 0 {
            return false;
        }
        seen |= w;
    }
    true
}

/// I2: a running child's region is never writable by its running parent (by the
/// store's parent, or by the registry's).
pub fn parent_never_writes_live_child(s: &State) -> bool {
    PODS.into_iter().all(|x| {
        if s.up[x.ix()].is_none() || s.row(x).and_then(|r| r.process) != s.up[x.ix()] {
            return true;
        }
        let mut parents = 0u8;
        if let Some(q) = s.row(x).and_then(|r| r.delegated_from) {
            parents |= q.bit();
        }
        for q in PODS {
            if s.record(q, x).is_some_and(|st| st != Status::Reclaimed) {
                parents |= q.bit();
            }
        }
        pods_in(parents).all(|q| s.writes(q) & x.region() == 0)
    })
}

/// I3: the registry's own view — no two live rows' effective scopes overlap.
pub fn registry_rows_disjoint(s: &State) -> bool {
    let mut seen = 0u8;
    for p in PODS {
        if s.row(p)
            .is_some_and(|r| r.process.is_some_and(|i| s.up[p.ix()] == Some(i)))
        {
            let e = s.row_effective(p);
            if e & seen != 0 {
                return false;
            }
            seen |= e;
        }
    }
    true
}

/// F1 (leases): a holder whose gate lets it write holds its row in the registry —
/// with its own grant and a lease that has not ended — so any grant overlapping its
/// region (made only after its row was reaped) finds it fenced.
pub fn valid_gate_holds_its_row(s: &State) -> bool {
    PODS.into_iter().all(|p| {
        s.mem(p).is_none_or(|m| m.paused)
            || s.row(p)
                .is_some_and(|r| r.process.is_some() && r.process == s.up[p.ix()] && !r.lease_ended)
    })
}

/// N1: no notice is recorded twice in a log, shown or waiting (one life, one end
/// notice; one report, one `child_finished`).
pub fn notices_at_most_once(s: &State) -> bool {
    PODS.into_iter().all(|p| {
        let mut ends = BTreeSet::new();
        let mut done = BTreeSet::new();
        s.log[p.ix()]
            .iter()
            .chain(&s.queued[p.ix()])
            .all(|n| match n.0 {
                Said::Finished => done.insert((n.1, n.2)),
                Said::Exited | Said::Lost => ends.insert((n.1, n.2)),
            })
    })
}

/// Whether notice `n` is recorded in `p`'s log (shown, or waiting for its next run).
fn recorded(s: &State, p: Pod, n: Notice) -> bool {
    s.log[p.ix()].contains(&n) || s.queued[p.ix()].contains(&n)
}

/// L1: from here, recovery settles — every delegation is reclaimed or relinked.
pub fn delegations_settle(m: &ScopeProtocol, s: &State) -> bool {
    m.recover(s).is_some()
}

/// N2a: the end of every child's life that was not a `stop_pod` or a failed spawn
/// (both answered by the tool call itself) is recorded in the parent's log from the
/// moment it is owed, and after recovery (where every running Pod has shown what
/// waited, `settled`) it is still there — shown if the parent runs.
pub fn end_notices_at_least_once(m: &ScopeProtocol, s: &State) -> bool {
    let owed_recorded = |s: &State| {
        s.owed.iter().all(|&(p, x, life)| {
            recorded(s, p, (Said::Exited, x, life)) || recorded(s, p, (Said::Lost, x, life))
        })
    };
    owed_recorded(s) && m.recover(s).is_none_or(|r| owed_recorded(&r))
}

/// N2b: every report a parent acknowledged is recorded in its log (from the ack
/// on, and after recovery).
pub fn reports_at_least_once(m: &ScopeProtocol, s: &State) -> bool {
    let acked_recorded = |s: &State| {
        s.acked
            .iter()
            .all(|&(p, x, life)| recorded(s, p, (Said::Finished, x, life)))
    };
    acked_recorded(s) && m.recover(s).is_none_or(|r| acked_recorded(&r))
}

impl Model for ScopeProtocol {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![State::initial(self)]
    }

    fn actions(&self, s: &State, out: &mut Vec<Action>) {
        self.enabled(s, out);
    }

    fn next_state(&self, s: &State, a: Action) -> Option<State> {
        let mut n = s.clone();
        self.step(&mut n, a);
        Some(n)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("one writer per region", |_, s| one_writer_per_region(s)),
            Property::always("parent never writes a live child's region", |_, s| {
                parent_never_writes_live_child(s)
            }),
            Property::always("registry rows disjoint", |_, s| registry_rows_disjoint(s)),
            Property::always("a valid lease gate holds its row", |_, s| {
                valid_gate_holds_its_row(s)
            }),
            Property::always("notices at most once", |_, s| notices_at_most_once(s)),
            Property::always("every delegation reclaimed or relinked", delegations_settle),
            Property::always("end notices at least once", end_notices_at_least_once),
            Property::always("reports at least once", reports_at_least_once),
            Property::sometimes("grandchild runs under child", |_, s: &State| {
                s.up[Pod::G.ix()].is_some()
                    && s.row(Pod::G)
                        .is_some_and(|r| r.delegated_from == Some(Pod::C))
            }),
            Property::sometimes("lead restored relinks child", |_, s: &State| {
                s.mem(Pod::L).is_some_and(|m| m.relinked != 0)
            }),
        ]
    }
}
