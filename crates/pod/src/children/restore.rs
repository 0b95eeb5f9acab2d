//! Reconciling a restored parent with its children (ARCHITECTURE §8 "Restore by
//! construction", steps 2 and 3). Runs inside the Pod process's start-up, after the
//! registry registration (which re-linked live children whose `origin` is this Pod
//! in the same transaction) and before the controller exists, so the first model
//! request already sees every notice.
//!
//! For every child record not yet `reclaimed`:
//! - re-linked and its process alive → supervised again, record `live`;
//! - alive but not ours to re-link (no allocation naming us as origin) → keeps its
//!   scope, reported unreachable;
//! - otherwise (dead, missing, or a reservation never adopted) → the delegation is
//!   reclaimed in the registry (whether or not the child's allocation still exists),
//!   a notice naming the child and its scope is appended to the log, and the record
//!   is marked reclaimed.
//!
//! Idempotent: the notice is keyed by the life of the child record
//! ([`crate::notice_log::end_key`]) and recorded only if no notice of that life is in
//! the log (the supervisor may have recorded a `child_exited` before a crash), always
//! *before* the record is marked reclaimed — so a crash in between is completed by
//! the next restore with exactly one notice.

use std::sync::Arc;

use pod_ids::PodName;
use pod_registry::{Allocation, ReclaimRequest, Registry};
use pod_store::{ChildRecord, ChildStatus};
use session_store::EntryKind;
use transcript::Item;

use super::{Children, fmt_rules, supervise};
use crate::journal::Journal;
use crate::notice_log::end_key;
use crate::turn::Conversation;

/// Names of this Pod's children that may still hold scope (to exempt and re-link at
/// registration).
pub fn outstanding(store: &pod_store::PodStore, name: &PodName) -> Vec<PodName> {
    store
        .read(name)
        .map(|r| {
            r.children
                .into_iter()
                .filter(|c| c.status != ChildStatus::Reclaimed)
                .map(|c| c.name)
                .collect()
        })
        .unwrap_or_default()
}

/// The notice for a child whose scope was reclaimed at restore.
pub fn reclaim_notice(c: &ChildRecord) -> String {
    let rules: Vec<_> = c.write.iter().chain(c.read.iter()).cloned().collect();
    format!(
        "child_lost{{name: {}}}: child Pod {} was gone when this Pod was restored; its scope ({}) is back with you. Its work may be incomplete: check before relying on it.",
        c.name,
        c.name,
        fmt_rules(&rules)
    )
}

impl Children {
    /// Reconciles after a restore; returns notes for the lifecycle entry.
    pub fn reconcile(
        self: &Arc<Self>,
        registered: &Allocation,
        journal: &Journal,
        conv: &mut Conversation,
    ) -> Vec<String> {
        let mut notes = Vec::new();
        let relinked: Vec<PodName> = registered
            .delegations
            .iter()
            .map(|d| d.child.clone())
            .collect();
        for c in self.records() {
            if c.status == ChildStatus::Reclaimed {
                continue;
            }
            let row = self.registry.get(&c.name).ok().flatten();
            let alive = row
                .as_ref()
                .and_then(|r| r.process)
                .filter(|p| p.is_alive());
            match (alive, relinked.contains(&c.name)) {
                (Some(p), true) => {
                    let token =
                        std::fs::read_to_string(self.token_path(&c.name)).unwrap_or_default();
                    if let Some(exit) = supervise::watch_exit(p.pid) {
                        let socket = row.as_ref().and_then(|r| r.socket.clone());
                        let _ =
                            self.store
                                .mark_child_live(&self.name, &c.name, socket, Some(p.pid));
                        self.adopt_live(c.name.clone(), p.pid, token.trim().to_string(), exit);
                        notes.push(format!("child {} relinked (pid {})", c.name, p.pid));
                        continue;
                    }
                    // Exited between the registry check and the pidfd: reclaim below.
                }
                (Some(p), false) => {
                    notes.push(format!(
                        "child {} (pid {}) is alive but could not be re-linked; it keeps its scope and is unreachable",
                        c.name, p.pid
                    ));
                    continue;
                }
                (None, _) => {}
            }
            let rules: Vec<_> = c.write.iter().chain(c.read.iter()).cloned().collect();
            if let Err(e) = self.registry.reclaim_delegation(ReclaimRequest {
                parent: self.name.clone(),
                child: c.name.clone(),
                rules,
                releasing_child: None,
            }) {
                notes.push(format!("child {}: registry reclaim refused: {e}", c.name));
                continue;
            }
            // One notice per life of the child: none if this life's end was recorded
            // already — by the supervisor before a crash (that notice is re-queued
            // from the log), or by an earlier, interrupted reconciliation.
            let key = end_key(&c.name, c.created_at);
            let Ok(notices) = self.notices() else {
                notes.push(format!("child {}: no notice journal", c.name));
                continue;
            };
            if !notices.knows(&key) {
                let text = reclaim_notice(&c);
                // Recorded (quiet: it rides with the next run, as before) and then
                // shown at once, so the first request carries it. A crash between
                // the two re-queues it; either way it is in the log before the
                // record says reclaimed.
                if let Err(e) = notices
                    .record(&key, &text, true, None)
                    .and_then(|_| {
                        journal.record(&EntryKind::SystemItem { text: text.clone() }, None)
                    })
                    .and_then(|()| journal.sync())
                {
                    notes.push(format!("child {}: cannot append the notice: {e}", c.name));
                    continue;
                }
                conv.history.push(Item::Notice { text });
            }
            crate::children::crash_hook("POD_TEST_CRASH_MID_RECONCILE", &c.name);
            if c.status != ChildStatus::Lost {
                let _ = self.store.mark_child_lost(
                    &self.name,
                    &c.name,
                    "its process was gone when the parent restored",
                );
            }
            let _ = self.store.reclaim_child(
                &self.name,
                &c.name,
                "lost: its process was gone when the parent restored; scope reclaimed",
            );
            let _ = std::fs::remove_file(self.token_path(&c.name));
            notes.push(format!(
                "child {} was gone; its scope was reclaimed",
                c.name
            ));
        }
        // The registry re-parents a gone child's own children to us when it reaps
        // the child: take them over (or reclaim those already gone), as every other
        // give-back does — else their records stay on our row and the region is
        // lost to us (found by the model checker with leases, `crates/verify`).
        for g in self.adopt_orphans() {
            notes.push(format!("took over grandchild {g}"));
        }
        self.refresh_scope();
        notes
    }
}
