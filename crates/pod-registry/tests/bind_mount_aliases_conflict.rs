//! Overlap compares device and inode of existing directories too, so a bind mount
//! (a second, symlink-free path to the same directory) cannot be used to take a
//! region another live Pod holds.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use pod_registry::{Registry, RegistryError};
use scope::{Access, ScopeRule};

/// A bind mount undone on drop (lazy unmount, so a failing test still cleans up).
struct BindMount(PathBuf);

impl BindMount {
    fn new(source: &Path, target: &Path) -> Option<BindMount> {
        let out = Command::new("mount")
            .arg("--bind")
            .arg(source)
            .arg(target)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(BindMount(target.to_owned())),
            Ok(o) => {
                eprintln!(
                    "skipped: mount --bind failed (needs root or CAP_SYS_ADMIN): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A canonical rule for a real path (resolves the temp dir's own symlinks, if any).
fn cw(p: &Path) -> ScopeRule {
    ScopeRule::new(p, Access::Write, true).unwrap()
}

fn conflict_owner(e: &RegistryError) -> Option<String> {
    match e {
        RegistryError::WriteConflict { owner, .. } => Some(owner.as_str().to_owned()),
        _ => None,
    }
}

#[test]
fn a_bind_mount_of_a_held_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let held = dir.path().join("held");
    let alias = dir.path().join("alias");
    std::fs::create_dir_all(held.join("sub")).unwrap();
    std::fs::create_dir_all(&alias).unwrap();
    let Some(_mount) = BindMount::new(&held, &alias) else {
        return;
    };
    let reg = registry(dir.path());
    reg.register(register_req("owner", me(), vec![cw(&held)]))
        .unwrap();
    // The alias itself, a directory below it, and a missing path below it.
    for (pod, p) in [
        ("x1", alias.clone()),
        ("x2", alias.join("sub")),
        ("x3", alias.join("sub/not-yet")),
    ] {
        let e = reg
            .register(register_req(pod, me(), vec![cw(&p)]))
            .unwrap_err();
        assert_eq!(conflict_owner(&e).as_deref(), Some("owner"), "{p:?}: {e}");
        let text = e.to_string();
        assert!(
            text.contains(&p.display().to_string()) && text.contains(&held.display().to_string()),
            "the error names both rules: {text}"
        );
    }
    // Whoever registers first, the other path is refused.
    let reg2 = registry(&dir.path().join("second"));
    reg2.register(register_req("first", me(), vec![cw(&alias.join("sub"))]))
        .unwrap();
    let e = reg2
        .register(register_req("second", me(), vec![cw(&held)]))
        .unwrap_err();
    assert_eq!(conflict_owner(&e).as_deref(), Some("first"), "{e}");
}

#[test]
fn a_bind_mount_of_an_ancestor_is_a_second_path_to_the_held_region() {
    let dir = tempfile::tempdir().unwrap();
    let outer = dir.path().join("outer");
    let alias = dir.path().join("alias");
    std::fs::create_dir_all(outer.join("inner/deep")).unwrap();
    std::fs::create_dir_all(outer.join("other")).unwrap();
    std::fs::create_dir_all(&alias).unwrap();
    let Some(_mount) = BindMount::new(&outer, &alias) else {
        return;
    };
    let reg = registry(dir.path());
    reg.register(register_req("owner", me(), vec![cw(&outer.join("inner"))]))
        .unwrap();
    // Above the held region through the alias, and below it through the alias.
    for (pod, p) in [("x1", alias.clone()), ("x2", alias.join("inner/deep"))] {
        let e = reg
            .register(register_req(pod, me(), vec![cw(&p)]))
            .unwrap_err();
        assert_eq!(conflict_owner(&e).as_deref(), Some("owner"), "{p:?}: {e}");
    }
    // A non-recursive rule on the alias still covers `inner` (a direct child).
    let dir_rule = ScopeRule::new(&alias, Access::Write, false).unwrap();
    let e = reg
        .register(register_req("x3", me(), vec![dir_rule]))
        .unwrap_err();
    assert_eq!(conflict_owner(&e).as_deref(), Some("owner"), "{e}");
    // A sibling region through the alias is disjoint and admitted.
    reg.register(register_req(
        "sibling",
        me(),
        vec![cw(&alias.join("other"))],
    ))
    .unwrap();
    // So is the alias minus the held region (denies apply through the alias).
    let mut req = register_req("around", me(), vec![cw(&alias)]);
    req.deny = vec![cw(&alias.join("inner")), cw(&alias.join("other"))];
    reg.register(req).unwrap();
    let e = reg
        .register(register_req("x4", me(), vec![cw(&outer.join("third"))]))
        .unwrap_err();
    assert_eq!(conflict_owner(&e).as_deref(), Some("around"), "{e}");
}

#[test]
fn a_scope_containing_an_alias_of_a_strangers_region_is_refused_unless_denied() {
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("mine");
    let theirs = dir.path().join("theirs");
    std::fs::create_dir_all(mine.join("window")).unwrap();
    std::fs::create_dir_all(&theirs).unwrap();
    // `mine/window` becomes a second path to the stranger's directory.
    let Some(_mount) = BindMount::new(&theirs, &mine.join("window")) else {
        return;
    };
    let reg = registry(dir.path());
    reg.register(register_req("stranger", me(), vec![cw(&theirs)]))
        .unwrap();
    let lead = me();
    // The lead's own scope contains the alias, so it conflicts already.
    let e = reg
        .register(register_req("lead", lead, vec![cw(&mine)]))
        .unwrap_err();
    assert_eq!(conflict_owner(&e).as_deref(), Some("stranger"), "{e}");
    // Denying the alias makes the lead's scope disjoint from the stranger's.
    let mut req = register_req("lead", lead, vec![cw(&mine)]);
    req.deny = vec![cw(&mine.join("window"))];
    reg.register(req).unwrap();
}

#[test]
fn delegating_a_bind_mount_made_after_the_parent_registered_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("mine");
    let theirs = dir.path().join("theirs");
    std::fs::create_dir_all(mine.join("window")).unwrap();
    std::fs::create_dir_all(&theirs).unwrap();
    let reg = registry(dir.path());
    reg.register(register_req("stranger", me(), vec![cw(&theirs)]))
        .unwrap();
    let lead = me();
    reg.register(register_req("lead", lead, vec![cw(&mine)]))
        .unwrap();
    // Only now does `mine/window` become a second path to the stranger's directory.
    let Some(_mount) = BindMount::new(&theirs, &mine.join("window")) else {
        return;
    };
    let e = reg
        .reserve_child(pod_registry::ReserveRequest {
            parent: name("lead"),
            parent_incarnation: lead.incarnation,
            child: name("kid"),
            rules: vec![cw(&mine.join("window/sub"))],
            ttl: std::time::Duration::from_secs(60),
        })
        .unwrap_err();
    assert_eq!(conflict_owner(&e).as_deref(), Some("stranger"), "{e}");
    assert!(e.to_string().contains("bind mount"), "{e}");
}
