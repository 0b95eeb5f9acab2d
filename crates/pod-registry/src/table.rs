//! The in-memory table: lookups, reaping, re-parenting, and finding who really holds a
//! region. Backend-neutral: the file backend loads it, runs one operation, saves it.

use std::collections::HashMap;

use pod_ids::PodName;
use scope::{Access, Scope, WriteConflict};
use serde::{Deserialize, Serialize};

use crate::alias::{self, AliasConflict, IdIndex, RootIds};
use crate::allocation::{Allocation, Delegation};
use crate::error::RegistryError;
use crate::process::ProcessStamp;

/// Format version of the stored table.
const TABLE_VERSION: u32 = 1;
/// Guard against a corrupt `delegated_from` cycle when walking up a chain.
const MAX_CHAIN: usize = 256;

fn table_version() -> u32 {
    TABLE_VERSION
}

/// The whole registry: one row per live Pod or pending reservation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Table {
    /// Format version.
    #[serde(default = "table_version")]
    pub version: u32,
    /// The rows.
    #[serde(default)]
    pub allocations: Vec<Allocation>,
}

impl Table {
    /// The row of `name`.
    pub fn get(&self, name: &PodName) -> Option<&Allocation> {
        self.allocations.iter().find(|a| &a.name == name)
    }

    pub(crate) fn get_mut(&mut self, name: &PodName) -> Option<&mut Allocation> {
        self.allocations.iter_mut().find(|a| &a.name == name)
    }

    /// `name`'s ancestors, nearest first, following `delegated_from`.
    pub(crate) fn ancestors(&self, name: &PodName) -> Vec<PodName> {
        let mut out = Vec::new();
        let mut cur = self.get(name).and_then(|a| a.delegated_from.clone());
        while let Some(p) = cur {
            if out.len() >= MAX_CHAIN || out.contains(&p) {
                break;
            }
            cur = self.get(&p).and_then(|a| a.delegated_from.clone());
            out.push(p);
        }
        out
    }

    fn depth(&self, name: &PodName) -> usize {
        self.ancestors(name).len()
    }

    /// Removes every row whose process is dead (pid gone, or reused: start time
    /// differs) or whose reservation expired, and returns the removed names.
    ///
    /// `is_live` is asked once per distinct process stamp per pass.
    pub fn reap(
        &mut self,
        now_unix_ms: u64,
        is_live: &mut dyn FnMut(&ProcessStamp) -> bool,
    ) -> Vec<PodName> {
        let mut verdicts: HashMap<(u32, u64), bool> = HashMap::new();
        self.reap_rows(now_unix_ms, &mut |_, p| {
            *verdicts
                .entry((p.pid, p.pid_start_time))
                .or_insert_with(|| is_live(p))
        })
    }

    /// [`Table::reap`] with a verdict per row (the PostgreSQL backend judges a row by
    /// its lease and machine as well as by its process).
    pub(crate) fn reap_rows(
        &mut self,
        now_unix_ms: u64,
        is_live: &mut dyn FnMut(&Allocation, &ProcessStamp) -> bool,
    ) -> Vec<PodName> {
        let mut dead: Vec<(PodName, bool)> = Vec::new();
        for a in &self.allocations {
            match (&a.process, &a.reservation) {
                (Some(p), _) => {
                    if !is_live(a, p) {
                        dead.push((a.name.clone(), false));
                    }
                }
                (None, Some(r)) if r.expires_at_unix_ms > now_unix_ms => {}
                // An expired reservation was never held by any process, so its region
                // can go straight back to the parent: nobody wrote there.
                (None, _) => dead.push((a.name.clone(), true)),
            }
        }
        for (name, never_adopted) in &dead {
            tracing::debug!(pod = %name, never_adopted, "reaping registry entry");
            self.remove(name, *never_adopted);
        }
        dead.into_iter().map(|(n, _)| n).collect()
    }

    /// Removes `name`'s row. Its children move to its parent (keeping `origin`), and
    /// the parent inherits the delegation records for them, so the parent's effective
    /// scope keeps excluding their regions even after it reclaims `name`'s record.
    /// With `return_region`, the parent's record for `name` is dropped as well (only
    /// for a reservation that no process ever adopted).
    pub(crate) fn remove(&mut self, name: &PodName, return_region: bool) -> Option<Allocation> {
        let idx = self.allocations.iter().position(|a| &a.name == name)?;
        let gone = self.allocations.remove(idx);
        let parent = gone.delegated_from.clone();
        let mut inherited: Vec<Delegation> = Vec::new();
        for child in self
            .allocations
            .iter_mut()
            .filter(|a| a.delegated_from.as_ref() == Some(name))
        {
            child.delegated_from = parent.clone();
            let rules = gone
                .delegations
                .iter()
                .find(|d| d.child == child.name)
                .map(|d| d.rules.clone())
                .unwrap_or_else(|| child.allow.clone());
            inherited.push(Delegation {
                child: child.name.clone(),
                rules,
            });
        }
        if let Some(p) = parent.as_ref().and_then(|p| self.get_mut(p)) {
            if return_region {
                p.delegations.retain(|d| &d.child != name);
            }
            for d in inherited {
                add_record(&mut p.delegations, d);
            }
        }
        Some(gone)
    }

    /// The live Pod that really holds the region `scope` wants to write, if any:
    /// among the rows whose held scope (allow − deny) shares a writable path with
    /// `scope` — by path, or through a second path to the same directory (`ids` are
    /// `scope`'s physical records, see [`crate::alias`]) — the deepest in its
    /// delegation chain (a region delegated down a chain is reported at the child
    /// actually holding it). Rows for which `exempt` answers true are skipped.
    pub(crate) fn find_conflict(
        &self,
        pod: &PodName,
        scope: &Scope,
        ids: &[RootIds],
        exempt: &dyn Fn(&Allocation) -> bool,
    ) -> Option<RegistryError> {
        let index = IdIndex::new(ids);
        // Checking the held scope rather than only the effective one also protects
        // regions delegated to a child that is dead but not yet reclaimed: they are in
        // nobody's effective scope, yet the parent will take them back.
        let mut best: Option<Found<'_>> = None;
        for a in self
            .allocations
            .iter()
            .filter(|a| &a.name != pod && !exempt(a))
        {
            let by_path = may_share_writes(scope, a)
                .then(|| scope.write_conflict(&a.held()))
                .flatten();
            let (conflict, alias) = match by_path {
                Some(c) => (c, None),
                None => match alias::conflict(scope, &index, a) {
                    Some(ac) => (ac.conflict.clone(), Some(ac)),
                    None => continue,
                },
            };
            let real = alias.is_some() || scope.write_conflict(&a.effective_write()).is_some();
            let key = (self.depth(&a.name), real);
            // `>=`: on a tie the later row wins, as `max_by_key` did.
            if best.as_ref().is_none_or(|b| key >= b.3) {
                best = Some((a, conflict, alias, key));
            }
        }
        let (owner, conflict, alias, _) = best?;
        let via = if let Some(r) = &owner.reservation {
            format!(" (reserved by {} and not adopted yet)", r.reserved_by)
        } else if let Some(ac) = &alias {
            format!(
                " (through a second path to the same directory: {} is {}, e.g. a bind mount)",
                ac.ours_at.display(),
                ac.theirs_at.display()
            )
        } else if scope.write_conflict(&owner.effective_write()).is_none() {
            match owner.delegations.iter().find(|d| {
                scope
                    .write_conflict(&Scope::allowing(d.rules.clone()))
                    .is_some()
            }) {
                Some(d) => format!(" (delegated to child {}, not reclaimed yet)", d.child),
                None => String::new(),
            }
        } else {
            String::new()
        };
        let WriteConflict { ours, theirs } = conflict;
        Some(RegistryError::WriteConflict {
            pod: pod.clone(),
            ours: Box::new(ours),
            owner: owner.name.clone(),
            theirs: Box::new(theirs),
            via,
        })
    }

    /// Pairs of rows whose *effective* write scopes share a writable path. Empty in a
    /// consistent table; used by tests and diagnostics (`O(n²)`).
    pub fn overlapping_effective_writes(&self) -> Vec<(PodName, PodName, WriteConflict)> {
        let eff: Vec<(&PodName, Scope)> = self
            .allocations
            .iter()
            .map(|a| (&a.name, a.effective_write()))
            .collect();
        let mut out = Vec::new();
        for (i, (a, sa)) in eff.iter().enumerate() {
            for (b, sb) in &eff[i + 1..] {
                if let Some(c) = sa.write_conflict(sb) {
                    out.push(((*a).clone(), (*b).clone(), c));
                }
            }
        }
        out
    }
}

/// A conflicting row, what conflicts, whether it was found through an alias, and its
/// rank (delegation depth, whether its effective scope conflicts too).
type Found<'a> = (
    &'a Allocation,
    WriteConflict,
    Option<AliasConflict>,
    (usize, bool),
);

/// Cheap pre-check on borrowed rules (no clones): whether any write rule of `scope`
/// overlaps any write allow of `row`. The exact test (`Scope::write_conflict`, which
/// also applies denies) runs only on rows that pass, which keeps an operation on a
/// 1,000-row table within its latency budget.
fn may_share_writes(scope: &Scope, row: &Allocation) -> bool {
    scope.write_rules().any(|ours| {
        row.allow
            .iter()
            .any(|theirs| theirs.access == Access::Write && scope::overlaps(ours, theirs))
    })
}

/// Merges `d` into a delegation list, one record per child.
pub(crate) fn add_record(records: &mut Vec<Delegation>, d: Delegation) {
    match records.iter_mut().find(|r| r.child == d.child) {
        Some(r) => {
            for rule in d.rules {
                if !r.rules.contains(&rule) {
                    r.rules.push(rule);
                }
            }
        }
        None => records.push(d),
    }
}
