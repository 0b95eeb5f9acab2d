//! The registry operations on a reaped [`Table`]. Each either fails without any
//! change the caller should keep, or leaves the invariant intact: no two rows'
//! effective write scopes share a writable path.

use pod_ids::{PodName, SegmentId};
use scope::{Access, Scope};

use crate::alias;
use crate::allocation::{Allocation, Delegation, Reservation, ReservationToken};
use crate::error::RegistryError;
use crate::process::Incarnation;
use crate::registry::{
    AdoptRequest, ReclaimRequest, Reclaimed, RegisterRequest, Released, ReserveRequest,
};
use crate::table::{Table, add_record};

impl Table {
    /// Registers a top-level Pod (see [`crate::Registry::register`]).
    pub fn register(&mut self, req: RegisterRequest) -> Result<Allocation, RegistryError> {
        self.refuse_taken_name(&req.name)?;
        if let Some(seg) = req.segment_id {
            self.refuse_held_segment(&req.name, seg)?;
        }
        // Relational restore (PITFALLS "Registry and scope"): only live rows (running or
        // still reserved) that the restoring Pod lists as outstanding children AND whose
        // origin is this Pod (plus their own subtrees) are exempt; an unrelated Pod that took a region
        // while the parent was down is always a conflict.
        let relinked: Vec<PodName> = self
            .allocations
            .iter()
            .filter(|a| req.restoring_children.contains(&a.name))
            .filter(|a| a.origin.as_ref() == Some(&req.name))
            .map(|a| a.name.clone())
            .collect();
        let scope = Scope {
            allow: req.allow.clone(),
            deny: req.deny.clone(),
        };
        let root_ids = alias::record(&req.allow);
        let exempt = |a: &Allocation| {
            !relinked.is_empty()
                && (relinked.contains(&a.name)
                    || self
                        .ancestors(&a.name)
                        .iter()
                        .any(|anc| relinked.contains(anc)))
        };
        if let Some(err) = self.find_conflict(&req.name, &scope, &root_ids, &exempt) {
            return Err(err);
        }
        let mut row = Allocation {
            name: req.name.clone(),
            process: Some(req.process),
            socket: req.socket,
            allow: req.allow,
            deny: req.deny,
            delegated_from: None,
            origin: None,
            segment_id: req.segment_id,
            reservation: None,
            delegations: Vec::new(),
            root_ids,
        };
        // Relinking in the same transaction: the parent's effective scope never
        // includes a child's region, not even between two calls.
        for child in &relinked {
            if let Some(c) = self.get_mut(child) {
                c.delegated_from = Some(req.name.clone());
                add_record(
                    &mut row.delegations,
                    Delegation {
                        child: child.clone(),
                        rules: c.allow.clone(),
                    },
                );
            }
        }
        self.allocations.push(row.clone());
        Ok(row)
    }

    /// Reserves rules for a named child (see [`crate::Registry::reserve_child`]).
    pub fn reserve_child(
        &mut self,
        req: ReserveRequest,
        now_unix_ms: u64,
    ) -> Result<ReservationToken, RegistryError> {
        let parent = self.live_incarnation(&req.parent, req.parent_incarnation)?;
        let siblings = parent.delegated_write_rules();
        // The registry holds the parent's deny rules, so a parent cannot delegate what
        // it is itself denied (read or write).
        for rule in &req.rules {
            parent
                .held()
                .check_delegation(rule, &siblings)
                .map_err(|source| RegistryError::Delegation {
                    parent: req.parent.clone(),
                    child: req.child.clone(),
                    source,
                })?;
        }
        self.refuse_taken_name(&req.child)?;
        // Defence in depth: inside the parent's effective scope nobody else can hold
        // anything while the invariant holds, but check every non-ancestor anyway.
        let ancestors = self.ancestors(&req.parent);
        let exempt = |a: &Allocation| a.name == req.parent || ancestors.contains(&a.name);
        let root_ids = alias::record(&req.rules);
        if let Some(err) = self.find_conflict(
            &req.child,
            &Scope::allowing(req.rules.clone()),
            &root_ids,
            &exempt,
        ) {
            return Err(err);
        }
        let token = ReservationToken::random();
        let ttl_ms = u64::try_from(req.ttl.as_millis()).unwrap_or(u64::MAX);
        self.allocations.push(Allocation {
            name: req.child.clone(),
            process: None,
            socket: None,
            allow: req.rules.clone(),
            deny: Vec::new(),
            delegated_from: Some(req.parent.clone()),
            origin: Some(req.parent.clone()),
            segment_id: None,
            reservation: Some(Reservation {
                token: token.clone(),
                expires_at_unix_ms: now_unix_ms.saturating_add(ttl_ms),
                reserved_by: req.parent.clone(),
            }),
            delegations: Vec::new(),
            root_ids,
        });
        if let Some(p) = self.get_mut(&req.parent) {
            add_record(
                &mut p.delegations,
                Delegation {
                    child: req.child,
                    rules: req.rules,
                },
            );
        }
        Ok(token)
    }

    /// The child process adopts its reservation (see [`crate::Registry::adopt`]).
    pub fn adopt(&mut self, req: AdoptRequest) -> Result<Allocation, RegistryError> {
        let refuse = |reason| RegistryError::Adopt {
            name: req.name.clone(),
            reason,
        };
        let row = self.get(&req.name).ok_or_else(|| {
            refuse("there is no pending reservation (it expired or was never made)")
        })?;
        let Some(reservation) = &row.reservation else {
            return Err(refuse("it was already adopted"));
        };
        if !reservation.token.matches(&req.token) {
            return Err(refuse("the token does not match"));
        }
        if let Some(seg) = req.segment_id {
            self.refuse_held_segment(&req.name, seg)?;
        }
        let row = self
            .get_mut(&req.name)
            .ok_or_else(|| refuse("the reservation vanished"))?;
        row.process = Some(req.process);
        row.socket = req.socket;
        row.segment_id = req.segment_id;
        row.reservation = None;
        Ok(row.clone())
    }

    /// Removes the row of this incarnation (see [`crate::Registry::release`]).
    pub fn release(&mut self, name: &PodName, incarnation: Incarnation) -> Released {
        match self.get(name) {
            Some(a) if a.is_incarnation(incarnation) => {
                self.remove(name, false);
                Released::Removed
            }
            _ => Released::NotHeld,
        }
    }

    /// Takes back a delegation (see [`crate::Registry::reclaim_delegation`]).
    pub fn reclaim_delegation(&mut self, req: ReclaimRequest) -> Result<Reclaimed, RegistryError> {
        let parent = self
            .get(&req.parent)
            .ok_or_else(|| RegistryError::NotRegistered {
                name: req.parent.clone(),
                detail: String::new(),
            })?;
        let mut out = Reclaimed::default();
        // Work on a copy: if giving the region back would create two writers, the
        // whole reclaim is refused and the table is untouched.
        let mut next = self.clone();
        if let Some(child) = self.get(&req.child)
            && child.delegated_from.as_ref() == Some(&req.parent)
        {
            let unadopted = child.process.is_none();
            let releasing = req
                .releasing_child
                .is_some_and(|inc| child.is_incarnation(inc));
            if unadopted || releasing {
                next.remove(&req.child, false);
                out.child_removed = true;
            }
        }
        let p = next
            .get_mut(&req.parent)
            .ok_or_else(|| RegistryError::NotRegistered {
                name: req.parent.clone(),
                detail: String::new(),
            })?;
        if let Some(record) = p.delegations.iter_mut().find(|d| d.child == req.child) {
            let before = record.rules.len();
            record.rules.retain(|r| !req.rules.contains(r));
            out.record_removed = record.rules.len() != before;
        }
        p.delegations.retain(|d| !d.rules.is_empty());
        let effective = p.effective_write();
        let root_ids = p.root_ids.clone();
        let ancestors = next.ancestors(&req.parent);
        let exempt = |a: &Allocation| ancestors.contains(&a.name);
        if let Some(RegistryError::WriteConflict { owner, .. }) =
            next.find_conflict(&req.parent, &effective, &root_ids, &exempt)
        {
            let rule = req
                .rules
                .iter()
                .find(|r| r.access == Access::Write)
                .or(parent.allow.first())
                .cloned();
            if let Some(rule) = rule {
                return Err(RegistryError::ReclaimStillHeld {
                    parent: req.parent,
                    child: req.child,
                    rule,
                    holder: owner,
                });
            }
        }
        *self = next;
        Ok(out)
    }

    /// A restoring parent takes back its live children (see [`crate::Registry::relink`]).
    pub fn relink(
        &mut self,
        parent: &PodName,
        incarnation: Incarnation,
        children: &[PodName],
    ) -> Result<Vec<PodName>, RegistryError> {
        self.live_incarnation(parent, incarnation)?;
        let mut done = Vec::new();
        for name in children {
            let Some(c) = self.get_mut(name) else {
                continue;
            };
            if c.process.is_none()
                || c.origin.as_ref() != Some(parent)
                || c.delegated_from.as_ref() == Some(parent)
            {
                continue;
            }
            // The previous parent (if any) keeps its record: that only narrows its
            // effective scope, and reclaiming it is refused while the child lives.
            c.delegated_from = Some(parent.clone());
            let record = Delegation {
                child: name.clone(),
                rules: c.allow.clone(),
            };
            if let Some(p) = self.get_mut(parent) {
                add_record(&mut p.delegations, record);
            }
            done.push(name.clone());
        }
        Ok(done)
    }

    /// Records the segment a Pod appends to.
    pub fn update_segment(
        &mut self,
        name: &PodName,
        incarnation: Incarnation,
        segment: Option<SegmentId>,
    ) -> Result<(), RegistryError> {
        self.live_incarnation(name, incarnation)?;
        if let Some(seg) = segment {
            self.refuse_held_segment(name, seg)?;
        }
        if let Some(a) = self.get_mut(name) {
            a.segment_id = segment;
        }
        Ok(())
    }

    /// Which row appends to `segment`.
    pub fn holder_of_segment(&self, segment: SegmentId) -> Option<PodName> {
        self.allocations
            .iter()
            .find(|a| a.segment_id == Some(segment))
            .map(|a| a.name.clone())
    }

    fn live_incarnation(
        &self,
        name: &PodName,
        incarnation: Incarnation,
    ) -> Result<&Allocation, RegistryError> {
        match self.get(name) {
            Some(a) if a.is_incarnation(incarnation) => Ok(a),
            Some(a) if a.process.is_none() => Err(RegistryError::NotRegistered {
                name: name.clone(),
                detail: " (it is only reserved, not adopted)".into(),
            }),
            Some(_) => Err(RegistryError::NotRegistered {
                name: name.clone(),
                detail: format!(" with incarnation {incarnation} (a newer process holds the name)"),
            }),
            None => Err(RegistryError::NotRegistered {
                name: name.clone(),
                detail: String::new(),
            }),
        }
    }

    fn refuse_taken_name(&self, name: &PodName) -> Result<(), RegistryError> {
        match self.get(name) {
            Some(a) => Err(RegistryError::NameTaken {
                name: name.clone(),
                pid: a.process.map(|p| p.pid),
            }),
            None => Ok(()),
        }
    }

    fn refuse_held_segment(&self, pod: &PodName, seg: SegmentId) -> Result<(), RegistryError> {
        match self
            .allocations
            .iter()
            .find(|a| &a.name != pod && a.segment_id == Some(seg))
        {
            Some(a) => Err(RegistryError::SegmentHeld {
                segment: seg,
                holder: a.name.clone(),
            }),
            None => Ok(()),
        }
    }
}
