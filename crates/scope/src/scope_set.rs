//! A scope (`allow` + `deny`) and the questions asked of it: access at a path, the
//! effective write scope after delegations, delegation checks, write conflicts.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::rule::{Access, ScopeRule};

/// What a Pod may read and write: allows minus denies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Granted rules.
    #[serde(default)]
    pub allow: Vec<ScopeRule>,
    /// Removed rules: `deny(write)` caps to read, `deny(read)` removes all access.
    #[serde(default)]
    pub deny: Vec<ScopeRule>,
}

/// Why a rule may not be delegated. Each variant names the rule and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DelegationError {
    /// No allow rule of the delegator contains the whole rule.
    #[error("cannot delegate {rule}: it is not inside the delegator's {access} scope")]
    NotCovered {
        /// The rule asked for.
        rule: ScopeRule,
        /// The access that would be needed.
        access: Access,
    },
    /// The rule touches a region the delegator is denied.
    #[error("cannot delegate {rule}: it overlaps the delegator's deny rule {deny}")]
    Denied {
        /// The rule asked for.
        rule: ScopeRule,
        /// The deny it overlaps.
        deny: ScopeRule,
    },
    /// The rule overlaps write scope already delegated to a sibling.
    #[error("cannot delegate {rule}: it overlaps {sibling}, already delegated to another child")]
    SiblingOverlap {
        /// The rule asked for.
        rule: ScopeRule,
        /// The sibling's rule.
        sibling: ScopeRule,
    },
    /// A write rule would take the whole of one of the delegator's write allows:
    /// delegation hands over a strict part, so the delegator always keeps some of
    /// every write rule it holds.
    #[error(
        "cannot delegate {rule}: it is the whole of the delegator's rule {allow}; a child may only receive a strict part of it (e.g. a subdirectory)"
    )]
    WholeRule {
        /// The rule asked for.
        rule: ScopeRule,
        /// The delegator's write allow it would take whole.
        allow: ScopeRule,
    },
}

/// Two scopes whose effective write regions share a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteConflict {
    /// Our write allow rule involved.
    pub ours: ScopeRule,
    /// Their write allow rule involved.
    pub theirs: ScopeRule,
}

impl Scope {
    /// A scope of allows only.
    pub fn allowing(allow: Vec<ScopeRule>) -> Scope {
        Scope {
            allow,
            deny: Vec::new(),
        }
    }

    /// Access at a canonical path: the best allow covering it, capped by denies.
    pub fn access_at(&self, path: &Path) -> Option<Access> {
        let granted = self
            .allow
            .iter()
            .filter(|r| r.covers(path))
            .map(|r| r.access)
            .max()?;
        let cap = self
            .deny
            .iter()
            .filter(|r| r.covers(path))
            .map(|r| r.access)
            .min();
        match cap {
            None => Some(granted),
            Some(Access::Read) => None,
            Some(Access::Write) => Some(Access::Read),
        }
    }

    /// Whether the scope may write at a canonical path.
    pub fn can_write(&self, path: &Path) -> bool {
        self.access_at(path) == Some(Access::Write)
    }

    /// Whether the scope may read at a canonical path.
    pub fn can_read(&self, path: &Path) -> bool {
        self.access_at(path).is_some()
    }

    /// The write allows.
    pub fn write_rules(&self) -> impl Iterator<Item = &ScopeRule> {
        self.allow.iter().filter(|r| r.access == Access::Write)
    }

    /// The scope minus write scope delegated to children: each delegated write rule
    /// becomes a `deny(write)`, so the Pod keeps reading there but may not write.
    pub fn effective_write(&self, children_delegations: &[ScopeRule]) -> Scope {
        let mut deny = self.deny.clone();
        for d in children_delegations
            .iter()
            .filter(|d| d.access == Access::Write)
        {
            let as_deny = d.with_access(Access::Write);
            if !deny.contains(&as_deny) {
                deny.push(as_deny);
            }
        }
        Scope {
            allow: self.allow.clone(),
            deny,
        }
    }

    /// Whether `rule` may be delegated to a new child, given the write rules already
    /// delegated to its siblings.
    ///
    /// A write rule must lie inside one write allow, overlap no deny (read or write:
    /// both remove write) and no sibling's write delegation. A read rule must lie
    /// inside one allow and overlap no `deny(read)`; read never conflicts with
    /// siblings, and a `deny(write)` (e.g. a sibling's delegation) still leaves the
    /// delegator able to read there. A write rule must also be a strict part of every
    /// write allow it touches: one that covers a whole write allow of the delegator
    /// (equal to it, for a non-redundant scope) is refused, so a child never receives
    /// its parent's whole write scope.
    pub fn check_delegation(
        &self,
        rule: &ScopeRule,
        siblings: &[ScopeRule],
    ) -> Result<(), DelegationError> {
        if !self
            .allow
            .iter()
            .any(|a| a.access >= rule.access && a.contains_rule(rule))
        {
            return Err(DelegationError::NotCovered {
                rule: rule.clone(),
                access: rule.access,
            });
        }
        let blocking = |d: &&ScopeRule| rule.access == Access::Write || d.access == Access::Read;
        if let Some(d) = self
            .deny
            .iter()
            .filter(blocking)
            .find(|d| crate::overlaps(d, rule))
        {
            return Err(DelegationError::Denied {
                rule: rule.clone(),
                deny: d.clone(),
            });
        }
        if rule.access == Access::Write
            && let Some(s) = siblings
                .iter()
                .find(|s| s.access == Access::Write && crate::overlaps(s, rule))
        {
            return Err(DelegationError::SiblingOverlap {
                rule: rule.clone(),
                sibling: s.clone(),
            });
        }
        // Checked last so the more specific reasons above win. A rule inside one allow
        // that also covers a whole allow is equal to it, or the scope is redundant
        // (one allow inside another); either way the delegator would keep nothing of
        // that allow, which is what "strict part" forbids.
        if rule.access == Access::Write
            && let Some(a) = self.write_rules().find(|a| rule.contains_rule(a))
        {
            return Err(DelegationError::WholeRule {
                rule: rule.clone(),
                allow: a.clone(),
            });
        }
        Ok(())
    }

    /// The first pair of write allows whose intersection is writable by both scopes
    /// (not removed by either scope's denies), if any. Exact for tree regions: a
    /// subtree or directory can only be removed whole by a single deny.
    pub fn write_conflict(&self, other: &Scope) -> Option<WriteConflict> {
        let denies = || self.deny.iter().chain(other.deny.iter());
        for ours in self.write_rules() {
            for theirs in other.write_rules() {
                if let Some(shared) = ours.region().intersect(&theirs.region())
                    && !shared.covered_by_any(denies())
                {
                    return Some(WriteConflict {
                        ours: ours.clone(),
                        theirs: theirs.clone(),
                    });
                }
            }
        }
        None
    }

    /// Whether every path of `rule` is writable under this scope.
    pub fn can_write_all(&self, rule: &ScopeRule) -> bool {
        self.write_rules().any(|a| a.contains_rule(rule))
            && !self.deny.iter().any(|d| crate::overlaps(d, rule))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(p: &str) -> ScopeRule {
        ScopeRule::trusted(p, Access::Write, true).unwrap()
    }
    fn rd(p: &str) -> ScopeRule {
        ScopeRule::trusted(p, Access::Read, true).unwrap()
    }

    #[test]
    fn deny_write_caps_to_read_and_deny_read_removes() {
        let s = Scope {
            allow: vec![w("/w")],
            deny: vec![w("/w/ro"), rd("/w/secret")],
        };
        assert_eq!(s.access_at(Path::new("/w/x")), Some(Access::Write));
        assert_eq!(s.access_at(Path::new("/w/ro/x")), Some(Access::Read));
        assert_eq!(s.access_at(Path::new("/w/secret/x")), None);
        assert_eq!(s.access_at(Path::new("/elsewhere")), None);
    }

    #[test]
    fn delegation_outside_scope_names_the_rule_and_reason() {
        let s = Scope {
            allow: vec![w("/w"), rd("/docs")],
            deny: vec![rd("/w/secret"), w("/w/ro")],
        };
        let e = s.check_delegation(&w("/etc"), &[]).unwrap_err();
        assert!(matches!(e, DelegationError::NotCovered { .. }));
        assert!(e.to_string().contains("/etc"), "{e}");
        // write into a read-only allow
        assert!(matches!(
            s.check_delegation(&w("/docs/a"), &[]),
            Err(DelegationError::NotCovered { .. })
        ));
        // read and write delegation into a read-denied region
        assert!(matches!(
            s.check_delegation(&rd("/w/secret/a"), &[]),
            Err(DelegationError::Denied { .. })
        ));
        assert!(matches!(
            s.check_delegation(&w("/w/secret"), &[]),
            Err(DelegationError::Denied { .. })
        ));
        // write delegation over a write-denied region, read delegation there is fine
        assert!(matches!(
            s.check_delegation(&w("/w/ro/a"), &[]),
            Err(DelegationError::Denied { .. })
        ));
        assert!(s.check_delegation(&rd("/w/ro/a"), &[]).is_ok());
        // a parent delegating a subtree that contains a deny is refused
        assert!(matches!(
            s.check_delegation(&w("/w"), &[]),
            Err(DelegationError::Denied { .. })
        ));
        let e = s.check_delegation(&w("/w/a/b"), &[w("/w/a")]).unwrap_err();
        assert!(matches!(e, DelegationError::SiblingOverlap { .. }));
        assert!(e.to_string().contains("/w/a"), "{e}");
        assert!(s.check_delegation(&w("/w/b"), &[w("/w/a")]).is_ok());
        assert!(s.check_delegation(&rd("/w/a"), &[w("/w/a")]).is_ok());
    }

    #[test]
    fn delegating_a_whole_write_rule_is_refused_naming_both_rules() {
        let s = Scope::allowing(vec![w("/w"), w("/v/a"), rd("/docs")]);
        for rule in [w("/w"), w("/v/a")] {
            let e = s.check_delegation(&rule, &[]).unwrap_err();
            assert_eq!(
                e,
                DelegationError::WholeRule {
                    rule: rule.clone(),
                    allow: rule.clone()
                }
            );
            assert!(e.to_string().contains("strict part"), "{e}");
        }
        // A non-recursive rule is the whole of an equal non-recursive allow.
        let d = ScopeRule::trusted("/d", Access::Write, false).unwrap();
        let e = Scope::allowing(vec![d.clone()])
            .check_delegation(&d, &[])
            .unwrap_err();
        assert!(matches!(e, DelegationError::WholeRule { .. }), "{e}");
        // Strict parts, and reading a whole rule, are fine.
        assert!(s.check_delegation(&w("/w/a"), &[]).is_ok());
        assert!(
            s.check_delegation(
                &ScopeRule::trusted("/w", Access::Write, false).unwrap(),
                &[]
            )
            .is_ok()
        );
        assert!(s.check_delegation(&rd("/w"), &[]).is_ok());
        assert!(s.check_delegation(&rd("/docs"), &[]).is_ok());
    }

    #[test]
    fn effective_write_removes_delegations_but_keeps_read() {
        let s = Scope::allowing(vec![w("/w")]);
        let e = s.effective_write(&[w("/w/a")]);
        assert_eq!(e.access_at(Path::new("/w/a/f")), Some(Access::Read));
        assert!(e.can_write(Path::new("/w/b")));
    }

    #[test]
    fn write_conflict_respects_denies_on_either_side() {
        let p = Scope {
            allow: vec![w("/w")],
            deny: vec![w("/w/a")],
        };
        let c = Scope::allowing(vec![w("/w/a")]);
        assert_eq!(p.write_conflict(&c), None);
        assert_eq!(c.write_conflict(&p), None);
        let q = Scope::allowing(vec![w("/w/b")]);
        let conflict = p.write_conflict(&q).unwrap();
        assert_eq!(conflict.theirs, w("/w/b"));
        // read rules never conflict
        assert_eq!(Scope::allowing(vec![rd("/w")]).write_conflict(&p), None);
    }
}
