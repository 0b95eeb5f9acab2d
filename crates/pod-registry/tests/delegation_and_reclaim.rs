//! Delegation, adoption, reclaim and re-parenting.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use pod_registry::{
    AdoptRequest, ProcessStamp, ReclaimRequest, Reclaimed, Registry, RegistryError, Released,
    ReservationToken, ReserveRequest,
};
use scope::{DelegationError, ScopeRule};

fn reserve(
    reg: &impl Registry,
    parent: &str,
    parent_stamp: ProcessStamp,
    child: &str,
    rules: Vec<ScopeRule>,
    ttl: Duration,
) -> Result<ReservationToken, RegistryError> {
    reg.reserve_child(ReserveRequest {
        parent: name(parent),
        parent_incarnation: parent_stamp.incarnation,
        child: name(child),
        rules,
        ttl,
    })
}

fn adopt(
    reg: &impl Registry,
    child: &str,
    token: &ReservationToken,
    process: ProcessStamp,
) -> Result<pod_registry::Allocation, RegistryError> {
    reg.adopt(AdoptRequest {
        name: name(child),
        token: token.clone(),
        process,
        socket: None,
        segment_id: None,
    })
}

fn reclaim(reg: &impl Registry, parent: &str, child: &str, rules: Vec<ScopeRule>) -> Reclaimed {
    reg.reclaim_delegation(ReclaimRequest {
        parent: name(parent),
        child: name(child),
        rules,
        releasing_child: None,
    })
    .unwrap()
}

fn can_write(reg: &impl Registry, pod: &str, path: &str) -> bool {
    reg.effective_write(&name(pod))
        .unwrap()
        .can_write(Path::new(path))
}

const LONG: Duration = Duration::from_secs(600);

fn reclaim_works_when_the_childs_allocation_is_already_gone(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(backend, dir.path());
    let p = me();
    reg.register(register_req("p", p, vec![w("/w")])).unwrap();

    // Reaped: C adopted with a real process, which then dies.
    let mut c_proc = Sleeper::spawn();
    let token = reserve(&reg, "p", p, "c", vec![w("/w/a")], LONG).unwrap();
    adopt(&reg, "c", &token, c_proc.stamp).unwrap();
    assert!(!can_write(&reg, "p", "/w/a/f"));
    c_proc.kill();
    assert!(reg.get(&name("c")).unwrap().is_none(), "dead child reaped");
    let parent = reg.get(&name("p")).unwrap().unwrap();
    assert_eq!(parent.delegations.len(), 1, "record outlives the child");
    // Until reclaimed, the region is neither the parent's nor anyone else's.
    assert!(!can_write(&reg, "p", "/w/a/f"));
    let err = reg
        .register(register_req("q", me(), vec![w("/w/a/x")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("live pod p") && err.contains("child c"),
        "{err}"
    );

    let first = reclaim(&reg, "p", "c", vec![w("/w/a")]);
    assert_eq!(
        first,
        Reclaimed {
            record_removed: true,
            child_removed: false
        }
    );
    assert!(can_write(&reg, "p", "/w/a/f"));
    assert!(reg.get(&name("p")).unwrap().unwrap().delegations.is_empty());
    let before = serde_json::to_string(&reg.list().unwrap()).unwrap();
    let second = reclaim(&reg, "p", "c", vec![w("/w/a")]);
    assert_eq!(second, Reclaimed::default());
    assert_eq!(before, serde_json::to_string(&reg.list().unwrap()).unwrap());
}

fn never_adopted_reservation_returns_its_region_and_reclaim_is_a_no_op(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(backend, dir.path());
    let p = me();
    reg.register(register_req("p", p, vec![w("/w")])).unwrap();
    // Pending (not expired): reclaim cancels the reservation and the record.
    reserve(&reg, "p", p, "pending", vec![w("/w/p")], LONG).unwrap();
    assert!(!can_write(&reg, "p", "/w/p/x"));
    let r = reclaim(&reg, "p", "pending", vec![w("/w/p")]);
    assert!(r.record_removed && r.child_removed, "{r:?}");
    assert!(reg.get(&name("pending")).unwrap().is_none());
    assert!(can_write(&reg, "p", "/w/p/x"));
    // Expired: reaped with its record; reclaim afterwards changes nothing.
    reserve(&reg, "p", p, "late", vec![w("/w/l")], Duration::ZERO).unwrap();
    assert!(reg.get(&name("late")).unwrap().is_none());
    assert!(can_write(&reg, "p", "/w/l/x"));
    assert_eq!(
        reclaim(&reg, "p", "late", vec![w("/w/l")]),
        Reclaimed::default()
    );
}

fn reclaim_from_a_live_child_is_refused_unless_it_is_releasing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(backend, dir.path());
    let p = me();
    reg.register(register_req("p", p, vec![w("/w")])).unwrap();
    let c = Sleeper::spawn();
    let token = reserve(&reg, "p", p, "c", vec![w("/w/a")], LONG).unwrap();
    adopt(&reg, "c", &token, c.stamp).unwrap();
    let err = reg
        .reclaim_delegation(ReclaimRequest {
            parent: name("p"),
            child: name("c"),
            rules: vec![w("/w/a")],
            releasing_child: None,
        })
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::ReclaimStillHeld { holder, .. } if holder.as_str() == "c"),
        "{err}"
    );
    assert!(
        !can_write(&reg, "p", "/w/a/f"),
        "refused reclaim changed nothing"
    );
    let r = reg
        .reclaim_delegation(ReclaimRequest {
            parent: name("p"),
            child: name("c"),
            rules: vec![w("/w/a")],
            releasing_child: Some(c.stamp.incarnation),
        })
        .unwrap();
    assert!(r.record_removed && r.child_removed);
    assert!(can_write(&reg, "p", "/w/a/f"));
}

fn adopt_with_wrong_token_twice_or_after_expiry_is_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(backend, dir.path());
    let p = me();
    reg.register(register_req("p", p, vec![w("/w")])).unwrap();
    let token = reserve(&reg, "p", p, "c", vec![w("/w/a")], LONG).unwrap();
    let wrong = ReservationToken::from_secret("0".repeat(token.expose().len()));
    let e = adopt(&reg, "c", &wrong, me()).unwrap_err();
    assert!(e.to_string().contains("token does not match"), "{e}");
    assert!(
        !e.to_string().contains(token.expose()),
        "token never in errors"
    );
    adopt(&reg, "c", &token, me()).unwrap();
    let e = adopt(&reg, "c", &token, me()).unwrap_err();
    assert!(e.to_string().contains("already adopted"), "{e}");

    let token = reserve(&reg, "p", p, "late", vec![w("/w/b")], Duration::ZERO).unwrap();
    let e = adopt(&reg, "late", &token, me()).unwrap_err();
    assert!(e.to_string().contains("no pending reservation"), "{e}");
    // The expired reservation no longer blocks its region: a sibling may take it.
    reserve(&reg, "p", p, "sibling", vec![w("/w/b")], LONG).unwrap();
}

fn delegation_outside_denied_or_overlapping_a_sibling_is_refused_naming_the_rule(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(backend, dir.path());
    let p = me();
    let mut req = register_req("p", p, vec![w("/w"), rd("/docs")]);
    req.deny = vec![rd("/w/secret"), w("/w/ro")];
    reg.register(req).unwrap();
    let refused =
        |child: &str, rule: ScopeRule| match reserve(&reg, "p", p, child, vec![rule], LONG)
            .unwrap_err()
        {
            RegistryError::Delegation { source, .. } => source,
            other => panic!("expected a delegation error, got {other}"),
        };
    let e = refused("c1", w("/etc"));
    assert!(matches!(e, DelegationError::NotCovered { .. }) && e.to_string().contains("/etc"));
    let e = refused("c1", w("/docs/a"));
    assert!(matches!(e, DelegationError::NotCovered { .. }), "{e}");
    let e = refused("c1", rd("/w/secret/a"));
    assert!(
        matches!(e, DelegationError::Denied { .. }) && e.to_string().contains("/w/secret"),
        "{e}"
    );
    let e = refused("c1", w("/w/ro/a"));
    assert!(
        matches!(e, DelegationError::Denied { .. }) && e.to_string().contains("/w/ro"),
        "{e}"
    );
    reserve(&reg, "p", p, "c1", vec![w("/w/a")], LONG).unwrap();
    let e = refused("c2", w("/w/a/b"));
    assert!(
        matches!(e, DelegationError::SiblingOverlap { .. }) && e.to_string().contains("/w/a"),
        "{e}"
    );
    // Reading a sibling's region and writing a disjoint one is fine.
    reserve(&reg, "p", p, "c2", vec![rd("/w/a"), w("/w/b")], LONG).unwrap();
}

fn release_reparents_children_keeping_origin_and_conflicts_name_the_deepest_owner(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(backend, dir.path());
    let g = me();
    reg.register(register_req("g", g, vec![w("/w")])).unwrap();
    let t = reserve(&reg, "g", g, "p", vec![w("/w/a")], LONG).unwrap();
    let p = adopt(&reg, "p", &t, me()).unwrap().process.unwrap();
    let t = reserve(&reg, "p", p, "c", vec![w("/w/a/b")], LONG).unwrap();
    let c = adopt(&reg, "c", &t, me()).unwrap().process.unwrap();

    let err = reg
        .register(register_req("x", me(), vec![w("/w/a/b/z")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("held by live pod c"), "deepest owner: {err}");
    assert!(
        err.contains("/w/a/b/z") && err.contains("write /w/a/b/**"),
        "{err}"
    );

    assert_eq!(
        reg.release(&name("p"), p.incarnation).unwrap(),
        Released::Removed
    );
    let child = reg.get(&name("c")).unwrap().unwrap();
    assert_eq!(child.delegated_from, Some(name("g")));
    assert_eq!(child.origin, Some(name("p")));
    // g reclaims p's delegation but keeps c's region out of its effective scope.
    reclaim(&reg, "g", "p", vec![w("/w/a")]);
    assert!(can_write(&reg, "g", "/w/a/x"));
    assert!(!can_write(&reg, "g", "/w/a/b/x"));
    let table = table_of(&reg);
    assert!(table.overlapping_effective_writes().is_empty());
    assert_eq!(
        reg.release(&name("c"), c.incarnation).unwrap(),
        Released::Removed
    );
}

fn delegating_the_parents_whole_write_rule_is_refused_naming_both_rules(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(backend, dir.path());
    let p = me();
    reg.register(register_req("p", p, vec![w("/w"), w("/v"), rd("/docs")]))
        .unwrap();
    for (child, rule) in [("c1", w("/w")), ("c2", w("/v"))] {
        let e = reserve(&reg, "p", p, child, vec![w("/w/a"), rule.clone()], LONG).unwrap_err();
        let RegistryError::Delegation { source, .. } = &e else {
            panic!("expected a delegation error, got {e}");
        };
        assert!(
            matches!(source, DelegationError::WholeRule { rule: r, allow } if *r == rule && *allow == rule),
            "{e}"
        );
        let text = e.to_string();
        assert!(
            text.matches(&rule.to_string()).count() >= 2,
            "names both rules: {text}"
        );
    }
    // A non-recursive rule equal to the parent's non-recursive rule is the whole of it.
    let q = me();
    let dir_rule = ScopeRule::trusted("/q", scope::Access::Write, false).unwrap();
    reg.register(register_req("q", q, vec![dir_rule.clone()]))
        .unwrap();
    let e = reserve(&reg, "q", q, "c3", vec![dir_rule], LONG).unwrap_err();
    assert!(e.to_string().contains("strict part"), "{e}");
    // Nothing was reserved by the refusals; a strict part is fine, and so is
    // reading the whole of a rule.
    assert!(reg.get(&name("c1")).unwrap().is_none());
    reserve(
        &reg,
        "p",
        p,
        "c4",
        vec![w("/w/a"), rd("/w"), rd("/docs")],
        LONG,
    )
    .unwrap();
    assert!(can_write(&reg, "p", "/w/b"));
}

on_both_backends!(
    reclaim_works_when_the_childs_allocation_is_already_gone,
    never_adopted_reservation_returns_its_region_and_reclaim_is_a_no_op,
    reclaim_from_a_live_child_is_refused_unless_it_is_releasing,
    adopt_with_wrong_token_twice_or_after_expiry_is_refused,
    delegation_outside_denied_or_overlapping_a_sibling_is_refused_naming_the_rule,
    release_reparents_children_keeping_origin_and_conflicts_name_the_deepest_owner,
    delegating_the_parents_whole_write_rule_is_refused_naming_both_rules,
);
