//! A restoring parent skips conflicts only with its own outstanding children.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use pod_registry::{AdoptRequest, Registry, RegistryError, ReserveRequest};

fn restore_fails_naming_the_unrelated_pod_or_succeeds_narrower_and_relinks_the_child(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(backend, dir.path());
    let mut p_proc = Sleeper::spawn();
    let c_proc = Sleeper::spawn();
    reg.register(register_req("p", p_proc.stamp, vec![w("/w")]))
        .unwrap();
    let token = reg
        .reserve_child(ReserveRequest {
            parent: name("p"),
            parent_incarnation: p_proc.stamp.incarnation,
            child: name("c"),
            rules: vec![w("/w/a")],
            ttl: Duration::from_secs(600),
        })
        .unwrap();
    reg.adopt(AdoptRequest {
        name: name("c"),
        token,
        process: c_proc.stamp,
        socket: None,
        segment_id: None,
    })
    .unwrap();

    p_proc.kill(); // P crashes.
    // Meanwhile an unrelated Pod takes /w/b.
    reg.register(register_req("q", me(), vec![w("/w/b")]))
        .unwrap();
    let orphan = reg.get(&name("c")).unwrap().unwrap();
    assert_eq!(orphan.delegated_from, None);
    assert_eq!(orphan.origin, Some(name("p")));

    let p_new = me();
    let restore = |deny, children: &[&str]| {
        let mut req = register_req("p", p_new, vec![w("/w")]);
        req.deny = deny;
        req.restoring_children = children.iter().map(|c| name(c)).collect();
        reg.register(req)
    };
    // Full scope: refused, naming Q (listing Q as a "child" does not help: its
    // origin is not P).
    for children in [&["c"][..], &["c", "q"][..]] {
        let e = restore(vec![], children).unwrap_err();
        match &e {
            RegistryError::WriteConflict {
                owner,
                theirs,
                ours,
                ..
            } => {
                assert_eq!(owner.as_str(), "q");
                assert_eq!(**theirs, w("/w/b"));
                assert_eq!(**ours, w("/w"));
            }
            other => panic!("expected a conflict naming q, got {other}"),
        }
        assert!(e.to_string().contains("/w/b"), "{e}");
    }
    // Not listing C: C is a conflict too (suppression is relational).
    let e = restore(vec![w("/w/b")], &[]).unwrap_err();
    assert!(e.to_string().contains("held by live pod c"), "{e}");
    // Narrower scope, listing C: succeeds and relinks C in the same step.
    let row = restore(vec![w("/w/b")], &["c"]).unwrap();
    assert_eq!(row.delegations.len(), 1);
    assert_eq!(row.delegations[0].child.as_str(), "c");
    let c = reg.get(&name("c")).unwrap().unwrap();
    assert_eq!(c.delegated_from, Some(name("p")));
    let eff = reg.effective_write(&name("p")).unwrap();
    assert!(!eff.can_write(Path::new("/w/a/f")));
    assert!(!eff.can_write(Path::new("/w/b/f")));
    assert!(eff.can_write(Path::new("/w/c/f")));
    let table = table_of(&reg);
    assert!(table.overlapping_effective_writes().is_empty());
    // relink is idempotent once linked.
    assert!(
        reg.relink(&name("p"), p_new.incarnation, &[name("c")])
            .unwrap()
            .is_empty()
    );
}

fn relink_takes_back_only_live_children_whose_origin_is_the_parent(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let reg = open(backend, dir.path());
    let mut p_proc = Sleeper::spawn();
    reg.register(register_req("p", p_proc.stamp, vec![w("/w")]))
        .unwrap();
    let token = reg
        .reserve_child(ReserveRequest {
            parent: name("p"),
            parent_incarnation: p_proc.stamp.incarnation,
            child: name("c"),
            rules: vec![w("/w/a")],
            ttl: Duration::from_secs(600),
        })
        .unwrap();
    let c = me();
    reg.adopt(AdoptRequest {
        name: name("c"),
        token,
        process: c,
        socket: None,
        segment_id: None,
    })
    .unwrap();
    p_proc.kill();
    reg.register(register_req("q", me(), vec![w("/v")]))
        .unwrap();
    // P restarts on a disjoint scope, then relinks.
    let p = me();
    reg.register(register_req("p", p, vec![w("/x")])).unwrap();
    let done = reg
        .relink(&name("p"), p.incarnation, &[name("c"), name("q")])
        .unwrap();
    assert_eq!(done, vec![name("c")]);
    assert_eq!(
        reg.get(&name("q")).unwrap().unwrap().delegated_from,
        None,
        "unrelated pod untouched"
    );
}

on_both_backends!(
    restore_fails_naming_the_unrelated_pod_or_succeeds_narrower_and_relinks_the_child,
    relink_takes_back_only_live_children_whose_origin_is_the_parent,
);
