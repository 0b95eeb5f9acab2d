//! Approvals: a tool call that an `ask` rule (or a hook) holds waits here until it
//! is answered — by a client (TUI, line mode) or by the parent Pod — or its run is
//! cancelled. How a Pod without anyone to ask behaves is its [`AskMode`].
//!
//! Every request and answer is in the session log (`extension{pod.permission}`)
//! before it is broadcast. "Always" approvals live as long as the Pod process: a
//! restored Pod asks again (a restore is a good moment to re-confirm).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use protocol::{ApprovalDecision, ApprovalRequest, Event};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use session_store::EntryKind;
use tokio::sync::oneshot;

use crate::journal::Journal;

/// Session-log domain of permission decisions.
pub const PERMISSION_DOMAIN: &str = "pod.permission";

/// What a Pod does with a call that needs an approval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AskMode {
    /// Wait for an answer from a client or the parent (interactive Pods, children).
    #[default]
    Prompt,
    /// Deny at once: nobody can answer (`pod run --print/--json`).
    Deny,
    /// Approve at once (`--approve-all`).
    ApproveAll,
}

/// Why a call was not approved (the text the model gets as the tool result).
pub type Denied = String;

struct Pending {
    request: ApprovalRequest,
    answer: oneshot::Sender<(ApprovalDecision, Option<String>)>,
}

/// The approvals of one Pod process.
pub struct Approvals {
    mode: AskMode,
    journal: Journal,
    next: AtomicU64,
    pending: Mutex<HashMap<u64, Pending>>,
    always: Mutex<HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Approvals {
    /// Approvals answered per `mode`, recorded in `journal`.
    pub fn new(mode: AskMode, journal: Journal) -> Approvals {
        // Ids increase across restarts (milliseconds since the epoch at start), so an
        // answer meant for a request of an earlier incarnation never hits a new one.
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_millis() as u64);
        Approvals {
            mode,
            journal,
            next: AtomicU64::new(start),
            pending: Mutex::new(HashMap::new()),
            always: Mutex::new(HashSet::new()),
        }
    }

    /// The mode.
    pub fn mode(&self) -> AskMode {
        self.mode
    }

    /// Calls waiting now.
    pub fn pending(&self) -> Vec<ApprovalRequest> {
        let mut v: Vec<_> = lock(&self.pending)
            .values()
            .map(|p| p.request.clone())
            .collect();
        v.sort_by_key(|r| r.id);
        v
    }

    fn record(&self, payload: Value, event: Event) {
        let entry = EntryKind::Extension {
            domain: PERMISSION_DOMAIN.into(),
            payload,
        };
        if let Err(e) = self.journal.record(&entry, Some(event)) {
            tracing::warn!(error = %e, "cannot record a permission decision");
        }
    }

    /// Records a decision that needed nobody (a rule's deny, an "always").
    pub fn note(&self, tool: &str, subject: &str, decision: &str, why: &str) {
        let entry = EntryKind::Extension {
            domain: PERMISSION_DOMAIN.into(),
            payload: json!({"event": "decided", "tool": tool, "subject": subject, "decision": decision, "why": why}),
        };
        if let Err(e) = self.journal.record(&entry, None) {
            tracing::warn!(error = %e, "cannot record a permission decision");
        }
    }

    /// Waits for an approval of a call; `Ok` when it may run. `always_key` is what
    /// an "always" answer covers. Dropping the future (the run was cancelled)
    /// withdraws the request.
    pub async fn ask(&self, mut request: ApprovalRequest, always_key: &str) -> Result<(), Denied> {
        if lock(&self.always).contains(always_key) {
            self.note(
                &request.tool,
                &request.subject,
                "allow",
                "approved always earlier",
            );
            return Ok(());
        }
        match self.mode {
            AskMode::Deny => {
                self.note(
                    &request.tool,
                    &request.subject,
                    "deny",
                    "non-interactive run",
                );
                return Err(format!(
                    "denied: this call needs an approval ({}) and nobody can give one in a non-interactive run (pod run --print/--json). Do not retry it; finish without it or say what you would have done. (The user can pass --approve-all or change the rule.)",
                    request.why
                ));
            }
            AskMode::ApproveAll => {
                self.note(&request.tool, &request.subject, "allow", "--approve-all");
                return Ok(());
            }
            AskMode::Prompt => {}
        }
        request.id = self.next.fetch_add(1, Ordering::Relaxed);
        let id = request.id;
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(
            id,
            Pending {
                request: request.clone(),
                answer: tx,
            },
        );
        self.record(
            json!({"event": "asked", "id": id, "tool": request.tool, "subject": request.subject, "why": request.why}),
            Event::ApprovalRequested {
                approval: request.clone(),
            },
        );
        let guard = Withdraw {
            approvals: self,
            id,
        };
        let answer = rx.await;
        std::mem::forget(guard);
        match answer {
            Ok((ApprovalDecision::Once, _)) => Ok(()),
            Ok((ApprovalDecision::Always, _)) => {
                lock(&self.always).insert(always_key.to_string());
                Ok(())
            }
            Ok((ApprovalDecision::Deny, reason)) => Err(match reason {
                Some(r) if !r.trim().is_empty() => format!("denied by the approver: {r}"),
                _ => "denied by the approver (no reason given); do not retry the same call".into(),
            }),
            Err(_) => Err("denied: the approval was withdrawn".into()),
        }
    }

    /// Answers approval `id`; `by` says who (`client`, `parent`).
    pub fn answer(
        &self,
        id: u64,
        decision: ApprovalDecision,
        reason: Option<String>,
        by: &str,
    ) -> Result<ApprovalRequest, String> {
        let Some(p) = lock(&self.pending).remove(&id) else {
            return Err(format!(
                "no approval {id} is waiting (already answered, withdrawn, or from an earlier run of this Pod)"
            ));
        };
        let name = match decision {
            ApprovalDecision::Once => "once",
            ApprovalDecision::Always => "always",
            ApprovalDecision::Deny => "deny",
        };
        self.record(
            json!({"event": "answered", "id": id, "decision": name, "reason": reason, "by": by}),
            Event::ApprovalResolved {
                id,
                decision: name.into(),
                reason: reason.clone(),
                by: by.into(),
            },
        );
        let _ = p.answer.send((decision, reason));
        Ok(p.request)
    }
}

/// Withdraws a pending approval whose waiting call was dropped (cancelled run).
struct Withdraw<'a> {
    approvals: &'a Approvals,
    id: u64,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        if lock(&self.approvals.pending).remove(&self.id).is_some() {
            self.approvals.record(
                json!({"event": "withdrawn", "id": self.id}),
                Event::ApprovalResolved {
                    id: self.id,
                    decision: "cancelled".into(),
                    reason: None,
                    by: "run".into(),
                },
            );
        }
    }
}
