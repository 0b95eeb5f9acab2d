//! Physical identity of write scope: device and inode of the existing paths a write
//! rule touches, so a second path to the same directory (a bind mount, or the same
//! directory mounted twice) cannot take a region another live Pod holds.
//!
//! Path algebra (`scope`) compares canonical paths, and canonicalisation resolves
//! symlinks, but a bind mount is no symlink: `/b` bound from `/a` is a different
//! canonical path to the same directory. So each write rule of a row also records
//! ([`RootIds`]) the `(dev, ino)` of its root and of every ancestor (`/` excluded),
//! and of every mount point below its root, taken when the row is created. Two rules
//! are then compared in one namespace: when a path `X` on our side and a path `Y` on
//! theirs are the same directory (equal ids, different paths), our rules are
//! translated from below `X` to below `Y` and the exact path algebra decides, with
//! their denies (and ours, translated) applied. A directory can only appear under two
//! paths through a mount, and any shared directory is an ancestor-or-self of both
//! roots or a mount point below one of them, so every aliasing shows up as such a pair.
//!
//! Limits: ids are recorded when a row is created, so a mount made later is seen only
//! by rows created after it (a match is re-checked against the current filesystem, so
//! a stale id never refuses anything); paths that cannot be stat'ed (permissions)
//! contribute no id.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use scope::{Access, Scope, ScopeRule, WriteConflict};
use serde::{Deserialize, Serialize};

use crate::allocation::Allocation;

/// `[st_dev, st_ino]` of one existing path.
pub type FileId = [u64; 2];

/// The physical identity of one write rule's root, recorded when its row was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootIds {
    /// The rule's (canonical) root path.
    pub path: PathBuf,
    /// Ids of the root and its ancestors, nearest first, `/` excluded; `None` where
    /// the path did not exist (a missing tail).
    #[serde(default)]
    pub chain: Vec<Option<FileId>>,
    /// Mount points strictly below the root, with their ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts_below: Vec<(PathBuf, FileId)>,
}

fn file_id(path: &Path) -> Option<FileId> {
    // Following a symlink is right here: canonical paths have none in their existing
    // prefix, and one that appeared since leads to the directory really written.
    std::fs::metadata(path).ok().map(|m| [m.dev(), m.ino()])
}

/// The mount points of this process's mount namespace (`/proc/self/mountinfo`, field
/// 5, with its octal escapes undone). Empty when unreadable: aliases through mounts
/// are then only found at the roots' ancestors.
fn mount_points() -> Vec<PathBuf> {
    let Ok(bytes) = std::fs::read("/proc/self/mountinfo") else {
        return Vec::new();
    };
    bytes
        .split(|b| *b == b'\n')
        .filter_map(|l| l.split(|b| *b == b' ').nth(4))
        .map(|p| PathBuf::from(OsString::from_vec(unescape_mountinfo(p))))
        .collect()
}

/// Undoes mountinfo's `\ooo` escapes (space, tab, newline, backslash).
fn unescape_mountinfo(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if field[i] == b'\\'
            && let Some(d) = octal
        {
            out.push(
                d.iter()
                    .fold(0u8, |v, b| v.wrapping_mul(8).wrapping_add(b - b'0')),
            );
            i += 4;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    out
}

/// Records the identity of every write rule among `rules` (one stat per existing
/// component and per mount point below a root; done once, when a row is created).
pub(crate) fn record<'a>(rules: impl IntoIterator<Item = &'a ScopeRule>) -> Vec<RootIds> {
    let roots: Vec<&Path> = rules
        .into_iter()
        .filter(|r| r.access == Access::Write)
        .map(|r| r.path.as_path())
        .collect();
    if roots.is_empty() {
        return Vec::new();
    }
    let mounts = mount_points();
    let mut out: Vec<RootIds> = Vec::new();
    for root in roots {
        if out.iter().any(|r| r.path == root) {
            continue;
        }
        let chain = root
            .ancestors()
            .filter(|a| a.parent().is_some())
            .map(file_id)
            .collect();
        let mounts_below = mounts
            .iter()
            .filter(|m| m.starts_with(root) && m.as_path() != root)
            .filter_map(|m| file_id(m).map(|id| (m.clone(), id)))
            .collect();
        let ids = RootIds {
            path: root.to_owned(),
            chain,
            mounts_below,
        };
        // A root none of whose components exist carries no identity: not stored, so
        // rows about paths yet to be created stay as small as before.
        if ids.chain.iter().any(Option::is_some) || !ids.mounts_below.is_empty() {
            out.push(ids);
        }
    }
    out
}

/// Every `(path, id)` a row's records name.
fn entries(ids: &[RootIds]) -> impl Iterator<Item = (&Path, FileId)> {
    ids.iter().flat_map(|r| {
        r.path
            .ancestors()
            .zip(r.chain.iter())
            .filter_map(|(p, id)| id.map(|id| (p, id)))
            .chain(r.mounts_below.iter().map(|(p, id)| (p.as_path(), *id)))
    })
}

/// Our paths by id, built once per check.
pub(crate) struct IdIndex<'a> {
    by_id: HashMap<FileId, Vec<&'a Path>>,
}

impl<'a> IdIndex<'a> {
    pub(crate) fn new(ids: &'a [RootIds]) -> IdIndex<'a> {
        let mut by_id: HashMap<FileId, Vec<&'a Path>> = HashMap::new();
        for (p, id) in entries(ids) {
            let paths = by_id.entry(id).or_default();
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
        IdIndex { by_id }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// A write conflict found through an alias: our rule as asked (in our namespace),
/// their rule, and the two paths that are one directory.
pub(crate) struct AliasConflict {
    pub(crate) conflict: WriteConflict,
    pub(crate) ours_at: PathBuf,
    pub(crate) theirs_at: PathBuf,
}

/// Whether `ours` (whose ids are indexed in `index`) shares a writable directory with
/// `theirs`'s held scope through a second path.
pub(crate) fn conflict(
    ours: &Scope,
    index: &IdIndex<'_>,
    theirs: &Allocation,
) -> Option<AliasConflict> {
    if index.is_empty() {
        return None;
    }
    let their_ids = &theirs.root_ids;
    let mut tried: Vec<(&Path, &Path)> = Vec::new();
    for (y, id) in entries(their_ids) {
        let Some(xs) = index.by_id.get(&id) else {
            continue;
        };
        for &x in xs {
            if x == y || tried.contains(&(x, y)) {
                continue;
            }
            tried.push((x, y));
            // Ids were recorded when each row was created; only a pair that is still
            // one directory now counts, so a recycled inode never refuses anything.
            if file_id(x) != Some(id) || file_id(y) != Some(id) {
                continue;
            }
            let translated = translate(ours, x, y);
            if let Some(c) = translated.write_conflict(&theirs.held()) {
                let ours_rule = ours
                    .write_rules()
                    .find(|r| translate_rule(r, x, y, false).as_ref() == Some(&c.ours))
                    .cloned()
                    .unwrap_or(c.ours);
                return Some(AliasConflict {
                    conflict: WriteConflict {
                        ours: ours_rule,
                        theirs: c.theirs,
                    },
                    ours_at: x.to_owned(),
                    theirs_at: y.to_owned(),
                });
            }
        }
    }
    None
}

/// The part of `scope` at and below `x`, seen through `y` (the same directory).
fn translate(scope: &Scope, x: &Path, y: &Path) -> Scope {
    Scope {
        allow: scope
            .allow
            .iter()
            .filter_map(|r| translate_rule(r, x, y, false))
            .collect(),
        deny: scope
            .deny
            .iter()
            .filter_map(|r| translate_rule(r, x, y, true))
            .collect(),
    }
}

/// `rule` restricted to the region at and below `x`, moved to below `y`. Allows are
/// widened where the restriction is not a rule (a directory rule whose direct child is
/// `x` becomes a directory rule at `y`: the same over-approximation path algebra makes
/// for a directory rule against a subtree below it); denies are only kept where exact,
/// so translation never removes more than the deny really removes.
fn translate_rule(rule: &ScopeRule, x: &Path, y: &Path, is_deny: bool) -> Option<ScopeRule> {
    let p = rule.path.as_path();
    let (path, recursive) = if let Ok(rest) = p.strip_prefix(x) {
        (
            if rest.as_os_str().is_empty() {
                y.to_owned()
            } else {
                y.join(rest)
            },
            rule.recursive,
        )
    } else if x.starts_with(p) {
        if rule.recursive {
            (y.to_owned(), true)
        } else if x.parent() == Some(p) && !is_deny {
            (y.to_owned(), false)
        } else {
            return None;
        }
    } else {
        return None;
    };
    ScopeRule::trusted(path, rule.access, recursive).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(p: &str, rec: bool) -> ScopeRule {
        ScopeRule::trusted(p, Access::Write, rec).unwrap()
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mountinfo(br"/a\040b\134c"), b"/a b\\c");
        assert_eq!(unescape_mountinfo(br"/plain"), b"/plain");
        assert_eq!(unescape_mountinfo(br"/trailing\04"), br"/trailing\04");
    }

    #[test]
    fn translation_keeps_the_part_below_the_alias() {
        let x = Path::new("/m/win");
        let y = Path::new("/t");
        assert_eq!(
            translate_rule(&w("/m/win/a", true), x, y, false),
            Some(w("/t/a", true))
        );
        assert_eq!(
            translate_rule(&w("/m", true), x, y, false),
            Some(w("/t", true))
        );
        assert_eq!(
            translate_rule(&w("/m", false), x, y, false),
            Some(w("/t", false))
        );
        assert_eq!(translate_rule(&w("/m", false), x, y, true), None);
        assert_eq!(translate_rule(&w("/", false), x, y, false), None);
        assert_eq!(translate_rule(&w("/other", true), x, y, false), None);
    }

    #[test]
    fn existing_paths_get_ids_and_missing_tails_none() {
        let dir = tempfile::tempdir().unwrap();
        let root = scope::canonicalize(dir.path()).unwrap();
        let rule = ScopeRule::trusted(root.as_path().join("missing"), Access::Write, true).unwrap();
        let ids = record([&rule]);
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].chain[0], None);
        assert_eq!(ids[0].chain[1], file_id(root.as_path()));
        assert!(ids[0].chain.iter().skip(1).all(Option::is_some));
        // Read rules have no physical record.
        let read = rule.with_access(Access::Read);
        assert!(record([&read]).is_empty());
        // Nothing exists on the path (below `/`): nothing to record.
        let nowhere = ScopeRule::trusted("/no-such-dir-here/x", Access::Write, true).unwrap();
        assert!(record([&nowhere]).is_empty());
    }
}
