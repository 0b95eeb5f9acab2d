//! Property tests of the scope algebra over a small alphabet of paths, so that
//! random rules overlap often.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use proptest::prelude::*;
use scope::{Access, Scope, ScopeRule, overlaps};

fn path() -> impl Strategy<Value = PathBuf> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "ab"]), 0..4)
        .prop_map(|parts| std::iter::once("/").chain(parts).collect::<PathBuf>())
}

fn rule() -> impl Strategy<Value = ScopeRule> {
    (path(), any::<bool>(), any::<bool>()).prop_map(|(p, write, recursive)| {
        let access = if write { Access::Write } else { Access::Read };
        ScopeRule::trusted(p, access, recursive).unwrap()
    })
}

fn scope() -> impl Strategy<Value = Scope> {
    (
        prop::collection::vec(rule(), 1..4),
        prop::collection::vec(rule(), 0..3),
    )
        .prop_map(|(allow, deny)| Scope { allow, deny })
}

/// Every path of depth ≤ 5 over the alphabet: enough to witness any overlap of
/// rules of depth ≤ 3 (a non-recursive rule reaches one level deeper).
fn universe() -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("/")];
    let mut frontier = out.clone();
    for _ in 0..5 {
        let mut next = Vec::new();
        for p in &frontier {
            for c in ["a", "b", "ab"] {
                next.push(p.join(c));
            }
        }
        out.extend(next.iter().cloned());
        frontier = next;
    }
    out
}

proptest! {
    #[test]
    fn overlap_is_symmetric_and_agrees_with_witnesses(a in rule(), b in rule()) {
        prop_assert_eq!(overlaps(&a, &b), overlaps(&b, &a));
        let witnessed = universe().iter().any(|p| a.covers(p) && b.covers(p));
        prop_assert_eq!(overlaps(&a, &b), witnessed);
    }

    #[test]
    fn coverage_is_transitive(a in rule(), b in rule(), c in rule()) {
        if a.contains_rule(&b) && b.contains_rule(&c) {
            prop_assert!(a.contains_rule(&c));
        }
        if a.contains_rule(&b) {
            for p in universe() {
                if b.covers(&p) { prop_assert!(a.covers(&p), "{a} contains {b} but not {p:?}"); }
            }
        }
    }

    #[test]
    fn passing_delegation_is_covered_and_free_of_denies(s in scope(), r in rule(), siblings in prop::collection::vec(rule(), 0..3)) {
        if s.check_delegation(&r, &siblings).is_ok() {
            prop_assert!(s.allow.iter().any(|a| a.access >= r.access && a.contains_rule(&r)));
            for d in &s.deny {
                if r.access == Access::Write || d.access == Access::Read {
                    prop_assert!(!overlaps(d, &r), "{r} overlaps deny {d}");
                }
            }
            for sib in siblings.iter().filter(|s| s.access == Access::Write) {
                if r.access == Access::Write { prop_assert!(!overlaps(sib, &r)); }
            }
            // semantically: every path of the delegated rule has that access
            for p in universe().iter().filter(|p| r.covers(p)) {
                prop_assert!(s.access_at(p) >= Some(r.access), "{p:?} in {r} lacks access");
            }
        }
    }

    #[test]
    fn write_conflict_is_exact(a in scope(), b in scope()) {
        let both = universe().into_iter().find(|p| a.can_write(p) && b.can_write(p));
        prop_assert_eq!(a.write_conflict(&b).is_some(), both.is_some(), "witness {:?}", both);
        prop_assert_eq!(a.write_conflict(&b).is_some(), b.write_conflict(&a).is_some());
    }

    #[test]
    fn effective_write_never_writes_delegated_regions(s in scope(), d in prop::collection::vec(rule(), 0..3)) {
        let e = s.effective_write(&d);
        for p in universe() {
            if e.can_write(&p) {
                prop_assert!(s.can_write(&p));
                prop_assert!(!d.iter().any(|r| r.access == Access::Write && r.covers(&p)));
            }
        }
    }
}
