//! The bounded, timestamped history of child lifecycle events kept in a record.

use pod_ids::PodName;
use scope::ScopeRule;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How many events a record keeps by default; older ones are dropped first.
pub const DEFAULT_HISTORY_LIMIT: usize = 200;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A child's delegated scope went back to the parent.
    ChildReclaimed,
    /// A child was marked lost.
    ChildLost,
    /// A child stopped cleanly (recorded by the supervisor via `record_event`).
    ChildStopped,
    /// A child process exited (recorded by the supervisor via `record_event`).
    ChildExited,
    /// A kind written by a newer version; kept readable (rewritten as `unknown`).
    #[serde(other)]
    Unknown,
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// When it happened (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What happened.
    pub kind: EventKind,
    /// The child it concerns.
    pub child: PodName,
    /// The child's delegated write rules at the time.
    #[serde(default)]
    pub write: Vec<ScopeRule>,
    /// The child's read rules at the time.
    #[serde(default)]
    pub read: Vec<ScopeRule>,
    /// Why, if known.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Appends `event` and drops the oldest entries beyond `limit`.
pub(crate) fn push_bounded(history: &mut Vec<HistoryEvent>, event: HistoryEvent, limit: usize) {
    history.push(event);
    if history.len() > limit {
        let excess = history.len() - limit;
        history.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: usize) -> HistoryEvent {
        HistoryEvent {
            at: OffsetDateTime::UNIX_EPOCH,
            kind: EventKind::ChildLost,
            child: PodName::new(format!("c{i}")).unwrap(),
            write: vec![],
            read: vec![],
            reason: None,
        }
    }

    #[test]
    fn keeps_the_newest_up_to_the_limit() {
        let mut h = Vec::new();
        for i in 0..7 {
            push_bounded(&mut h, ev(i), 3);
        }
        let names: Vec<_> = h.iter().map(|e| e.child.as_str().to_owned()).collect();
        assert_eq!(names, ["c4", "c5", "c6"]);
    }

    #[test]
    fn unknown_kinds_from_newer_versions_still_parse() {
        let k: EventKind = serde_json::from_str("\"child_teleported\"").unwrap();
        assert_eq!(k, EventKind::Unknown);
    }
}
