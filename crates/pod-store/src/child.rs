//! Child records and their lifecycle.
//!
//! ```text
//! pending ──► live ──► stopping ──► reclaimed
//!    │  ╲       │  ▲       │           ▲
//!    │   ╲      ▼  │       ▼           │ (from any status; idempotent)
//!    │    ╲──► lost ───────────────────┘
//! ```
//!
//! `reclaimed` is terminal: the delegated scope is back with the parent, so the
//! record can never become live again (a new spawn under the same name replaces it).
//! `lost` means the child could not be found or exited uncleanly; its scope may
//! still need reclaiming, and a re-link on restore may find it live after all.

use std::fmt;
use std::path::PathBuf;

use pod_ids::PodName;
use scope::ScopeRule;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Result, StoreError};
use crate::history::{EventKind, HistoryEvent, push_bounded};
use crate::record::PodRecord;
use crate::store::PodStore;

/// Where a child is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChildStatus {
    /// Recorded durably; the process may not have started or adopted its scope yet.
    Pending,
    /// The child adopted its reservation and runs.
    Live,
    /// Asked to stop; its scope returns only once its process is gone.
    Stopping,
    /// Its scope is back with the parent (terminal).
    Reclaimed,
    /// Exited uncleanly or could not be found.
    Lost,
}

impl ChildStatus {
    /// Whether the child is running or about to (pending, live, stopping): a new
    /// child under the same name is refused while it is. A `lost` child is not
    /// outstanding, though its scope may still await reclaiming.
    pub fn is_outstanding(self) -> bool {
        matches!(
            self,
            ChildStatus::Pending | ChildStatus::Live | ChildStatus::Stopping
        )
    }

    /// Whether the lifecycle allows moving from `self` to `to` (see module doc).
    /// Re-entering the same status is allowed (refreshes hints/reason) except for
    /// `reclaimed`, which [`crate::PodStore::reclaim_child`] treats as a no-op.
    pub(crate) fn may_become(self, to: ChildStatus) -> bool {
        use ChildStatus::*;
        match to {
            Pending => false,
            Live => matches!(self, Pending | Live | Lost),
            Stopping => matches!(self, Pending | Live | Stopping),
            Lost => matches!(self, Pending | Live | Stopping | Lost),
            Reclaimed => true,
        }
    }
}

impl fmt::Display for ChildStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChildStatus::Pending => "pending",
            ChildStatus::Live => "live",
            ChildStatus::Stopping => "stopping",
            ChildStatus::Reclaimed => "reclaimed",
            ChildStatus::Lost => "lost",
        })
    }
}

/// What a parent records before it starts a child (two-phase spawn, first phase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSpec {
    /// The child's name.
    pub name: PodName,
    /// Write rules delegated to the child (canonical).
    pub write: Vec<ScopeRule>,
    /// Read rules granted to the child (canonical).
    pub read: Vec<ScopeRule>,
}

/// A parent's record of one child.
///
/// `socket` and `pid` are last-known hints, never proof of liveness: liveness is the
/// registry's business (pid plus process start time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildRecord {
    /// The child's name.
    pub name: PodName,
    /// Write rules delegated to the child.
    #[serde(default)]
    pub write: Vec<ScopeRule>,
    /// Read rules granted to the child.
    #[serde(default)]
    pub read: Vec<ScopeRule>,
    /// Lifecycle status.
    pub status: ChildStatus,
    /// Why it reached its current status (lost, reclaimed), if known.
    #[serde(default)]
    pub reason: Option<String>,
    /// When the record was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the record last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Last-known control socket.
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// Last-known pid.
    #[serde(default)]
    pub pid: Option<u32>,
}

impl ChildRecord {
    pub(crate) fn pending(spec: ChildSpec, now: OffsetDateTime) -> ChildRecord {
        ChildRecord {
            name: spec.name,
            write: spec.write,
            read: spec.read,
            status: ChildStatus::Pending,
            reason: None,
            created_at: now,
            updated_at: now,
            socket: None,
            pid: None,
        }
    }
}

/// Child lifecycle updates. Each runs under the parent Pod's lock and returns the
/// parent's new record.
impl PodStore {
    /// Records a `pending` child (two-phase spawn: durable before the child process
    /// starts). Fails with [`StoreError::ChildExists`] if a child of that name is
    /// still pending, live or stopping; a reclaimed or lost record of the same name
    /// is replaced (its events stay in the history).
    pub fn add_pending_child(&self, name: &PodName, spec: ChildSpec) -> Result<PodRecord> {
        self.update(name, "add_pending_child", |r, now| {
            if let Some(old) = r.child(&spec.name) {
                if old.status.is_outstanding() {
                    return Err(StoreError::ChildExists {
                        pod: name.clone(),
                        child: spec.name.clone(),
                        status: old.status,
                    });
                }
                r.children.retain(|c| c.name != spec.name);
            }
            r.children.push(ChildRecord::pending(spec, now));
            Ok(((), true))
        })
        .map(|(r, ())| r)
    }

    /// Marks `child` live (it adopted its reservation), with last-known hints.
    pub fn mark_child_live(
        &self,
        name: &PodName,
        child: &PodName,
        socket: Option<PathBuf>,
        pid: Option<u32>,
    ) -> Result<PodRecord> {
        self.transition(name, child, ChildStatus::Live, "mark_child_live", |c| {
            c.socket = socket;
            c.pid = pid;
            c.reason = None;
            None
        })
    }

    /// Marks `child` stopping (asked to stop; scope returns once it is gone).
    pub fn mark_child_stopping(&self, name: &PodName, child: &PodName) -> Result<PodRecord> {
        self.transition(
            name,
            child,
            ChildStatus::Stopping,
            "mark_child_stopping",
            |_| None,
        )
    }

    /// Marks `child` lost with `reason`, recording a `child_lost` history event
    /// (only when it was not lost already).
    pub fn mark_child_lost(
        &self,
        name: &PodName,
        child: &PodName,
        reason: impl Into<String>,
    ) -> Result<PodRecord> {
        let reason = reason.into();
        self.transition(name, child, ChildStatus::Lost, "mark_child_lost", |c| {
            let first = c.status != ChildStatus::Lost;
            c.reason = Some(reason);
            first.then_some(EventKind::ChildLost)
        })
    }

    /// Marks `child` reclaimed (its delegated scope is back with the parent) and
    /// records one `child_reclaimed` event with the rules and `reason`. Idempotent:
    /// reclaiming an already reclaimed child changes and records nothing and returns
    /// `Ok(false)`; the first reclaim returns `Ok(true)`.
    pub fn reclaim_child(
        &self,
        name: &PodName,
        child: &PodName,
        reason: impl Into<String>,
    ) -> Result<bool> {
        let reason = reason.into();
        let limit = self.history_limit;
        self.update(name, "reclaim_child", |r, now| {
            let c = find_child(r, name, child)?;
            if c.status == ChildStatus::Reclaimed {
                return Ok((false, false));
            }
            c.status = ChildStatus::Reclaimed;
            c.reason = Some(reason);
            c.updated_at = now;
            let event = event_for(c, EventKind::ChildReclaimed, now);
            push_bounded(&mut r.history, event, limit);
            Ok((true, true))
        })
        .map(|(_, newly)| newly)
    }

    /// Appends a history event about `child` (e.g. `child_exited`, `child_stopped`
    /// from the supervisor), carrying the child's current rules. The child must
    /// have a record.
    pub fn record_event(
        &self,
        name: &PodName,
        child: &PodName,
        kind: EventKind,
        reason: Option<String>,
    ) -> Result<PodRecord> {
        let limit = self.history_limit;
        self.update_record(name, "record_event", |r| {
            let now = OffsetDateTime::now_utc();
            let c = find_child(r, name, child)?;
            let mut event = event_for(c, kind, now);
            event.reason = reason;
            push_bounded(&mut r.history, event, limit);
            Ok(())
        })
    }

    /// Moves `child` to `to` if the lifecycle allows it, letting `edit` adjust the
    /// record; `edit` returns the history event kind to record, if any.
    fn transition(
        &self,
        name: &PodName,
        child: &PodName,
        to: ChildStatus,
        op: &'static str,
        edit: impl FnOnce(&mut ChildRecord) -> Option<EventKind>,
    ) -> Result<PodRecord> {
        let limit = self.history_limit;
        self.update(name, op, |r, now| {
            let c = find_child(r, name, child)?;
            if !c.status.may_become(to) {
                return Err(StoreError::ChildTransition {
                    pod: name.clone(),
                    child: child.clone(),
                    from: c.status,
                    to,
                });
            }
            let kind = edit(c);
            c.status = to;
            c.updated_at = now;
            if let Some(kind) = kind {
                let event = event_for(c, kind, now);
                push_bounded(&mut r.history, event, limit);
            }
            Ok(((), true))
        })
        .map(|(r, ())| r)
    }
}

fn find_child<'a>(
    r: &'a mut PodRecord,
    name: &PodName,
    child: &PodName,
) -> Result<&'a mut ChildRecord> {
    r.child_mut(child).ok_or_else(|| StoreError::ChildNotFound {
        pod: name.clone(),
        child: child.clone(),
    })
}

fn event_for(c: &ChildRecord, kind: EventKind, at: OffsetDateTime) -> HistoryEvent {
    HistoryEvent {
        at,
        kind,
        child: c.name.clone(),
        write: c.write.clone(),
        read: c.read.clone(),
        reason: c.reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::ChildStatus::*;

    #[test]
    fn reclaimed_is_terminal_except_for_reclaim() {
        for to in [Pending, Live, Stopping, Lost] {
            assert!(!Reclaimed.may_become(to), "{to}");
        }
        assert!(Reclaimed.may_become(Reclaimed));
    }

    #[test]
    fn stopping_child_cannot_go_back_to_live() {
        assert!(!Stopping.may_become(Live));
        assert!(Lost.may_become(Live));
        assert!(Pending.may_become(Live));
    }

    #[test]
    fn outstanding_means_running_or_about_to() {
        assert!(Pending.is_outstanding() && Live.is_outstanding() && Stopping.is_outstanding());
        assert!(!Reclaimed.is_outstanding() && !Lost.is_outstanding());
    }
}
