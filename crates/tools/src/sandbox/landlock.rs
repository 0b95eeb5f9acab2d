//! The Landlock layer: the ruleset confining a Pod's processes, built from the
//! Pod's effective scope, plus the kernel's signal and abstract-socket scoping.
//!
//! Landlock is allow-only, so a `deny` inside an allowed subtree (e.g. a region
//! delegated to a child Pod, which is `deny(write)` for the parent) is expressed by
//! granting the allowed root's contents *except* the denied subtree: walk from the
//! root down to each denied path, granting every sibling entry along the way but
//! not the ancestors themselves ([`grant_except`]). Consequence: the shell cannot
//! create, rename or delete entries directly inside an ancestor directory of a
//! denied region (it can still write existing files and whole sibling subtrees).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, Scope as LandlockScope,
};
use scope::{Access as ScopeAccess, Scope, ScopeRule};

use super::pins::{Pins, open_unfollowed, swapped};

/// The Landlock ABI whose rights we handle; older kernels best-effort (the crate
/// drops rights and scopes the kernel does not know). V6 brought the signal and
/// abstract-socket scopes; V7 and V8 add nothing a ruleset handles. V9's
/// `ResolveUnix` (connecting to pathname sockets) is not requested yet: handled, it
/// would also cut off system sockets under the read-only system paths (resolver,
/// D-Bus) unless granted there, which cannot be tested on the kernels we run.
const LANDLOCK_ABI: ABI = ABI::V8;

/// Directories the shell may read and execute whatever the scope says: what
/// programs need to start and run (binaries, libraries, configuration, `/proc` and
/// `/sys` for runtime introspection, `/dev` for device nodes, `/run` for resolver
/// configuration symlinks). Missing ones are skipped.
pub const SYSTEM_READ_PATHS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/proc",
    "/sys", "/dev", "/run",
];

/// Device files the shell may also write (`> /dev/null` is everywhere in scripts).
pub const SYSTEM_WRITE_FILES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/tty"];

/// Why a ruleset could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the Landlock ruleset: {0}")]
pub struct SandboxError(pub(crate) String);

/// What a confined process may reach, as paths (canonical). Landlock grants
/// exactly these; the mount layer makes exactly `write` writable.
#[derive(Debug, Clone, Default)]
pub(crate) struct Grants {
    /// Read and execute: the system directories and extra readable paths
    /// (symlinks followed: `/lib` is one on merged-usr systems).
    pub read: Vec<PathBuf>,
    /// Read and execute, from the scope (opened without following symlinks; one
    /// found swapped in is not granted).
    pub scope_read: Vec<PathBuf>,
    /// The private temp dir (writable; made by the runtime, not from the scope).
    pub tmp: PathBuf,
    /// The scope's write allow roots, whose identity is pinned ([`Pins`]).
    pub roots: Vec<PathBuf>,
    /// Every write right except making block or character devices. Disjoint
    /// subtrees or single files; never a symlink, never a multi-linked file.
    pub write: Vec<PathBuf>,
}

/// The grants for `scope` (effective) plus `tmp` (writable) and `extra_readable`.
/// Walks directories around deny regions: blocking work.
pub(crate) fn grants(scope: &Scope, tmp: &Path, extra_readable: &[PathBuf]) -> Grants {
    let mut g = Grants::default();
    g.read.extend(SYSTEM_READ_PATHS.iter().map(PathBuf::from));
    g.read.extend(extra_readable.iter().cloned());
    g.tmp = tmp.to_owned();
    // Readable scope: every allow minus deny(read). Writable: write allows minus
    // every deny (a deny of either kind removes write).
    let deny_read: Vec<&ScopeRule> = scope
        .deny
        .iter()
        .filter(|d| d.access == ScopeAccess::Read)
        .collect();
    let deny_any: Vec<&ScopeRule> = scope.deny.iter().collect();
    for a in &scope.allow {
        // Write allows are also readable under deny(write): grant read there too.
        g.scope_read.extend(rule_grants(a, &deny_read));
        if a.access == ScopeAccess::Write {
            g.write.extend(rule_grants(a, &deny_any));
            g.roots.push(a.path.as_path().to_owned());
        }
    }
    g
}

/// Builds the ruleset for `grants`. Returns `None` when the kernel has no
/// Landlock. The returned fd is what the child hands to `landlock_restrict_self`
/// after fork. Scope paths are opened without following symlinks and each rule
/// is made from the fd opened (no second lookup by name); a write path that is
/// a symlink now, or a write root that is not the directory `pins` recorded,
/// refuses the whole ruleset with an error naming it.
pub(crate) fn build_ruleset(grants: &Grants, pins: &Pins) -> Result<Option<OwnedFd>, SandboxError> {
    let err = |e: landlock::RulesetError| SandboxError(e.to_string());
    let read = AccessFs::from_read(LANDLOCK_ABI);
    // Handled but never granted: a confined process cannot make device nodes,
    // not even in its own scope (a block device there is raw disk access).
    let write = AccessFs::from_all(LANDLOCK_ABI) & !(AccessFs::MakeBlock | AccessFs::MakeChar);
    let mut rs = Ruleset::default()
        .handle_access(AccessFs::from_all(LANDLOCK_ABI))
        .map_err(err)?
        // Signals and abstract unix sockets only within the sandbox's own domain:
        // a Pod's shell cannot kill, stop or interrupt other Pods or the runtime.
        .scope(LandlockScope::Signal | LandlockScope::AbstractUnixSocket)
        .map_err(err)?
        .create()
        .map_err(err)?;
    for p in &grants.read {
        rs = add_grant(rs, p, read).map_err(err)?;
    }
    for p in SYSTEM_WRITE_FILES {
        rs = add_grant(rs, Path::new(p), write).map_err(err)?;
    }
    rs = add_grant(rs, &grants.tmp, write).map_err(err)?;
    for p in &grants.scope_read {
        match open_unfollowed(p) {
            Ok(fd) => rs = add_fd_grant(rs, fd, read).map_err(err)?,
            // Missing, or swapped for a symlink since: not granted (less access).
            Err(e) => tracing::debug!(path = %p.display(), error = %e, "readable path not granted"),
        }
    }
    for p in &grants.write {
        let fd = match open_unfollowed(p) {
            Ok(fd) => fd,
            // Gone since the walk (or never made yet): nothing to grant.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(swapped(p, &e)),
        };
        if grants.roots.contains(p) {
            pins.check(p, &fd, true)?;
        }
        rs = add_fd_grant(rs, fd, write).map_err(err)?;
    }
    Ok(rs.into())
}

/// The identity check of [`build_ruleset`] alone, for a kernel without Landlock.
pub(crate) fn verify_roots(grants: &Grants, pins: &Pins) -> Result<(), SandboxError> {
    for p in &grants.roots {
        match open_unfollowed(p) {
            Ok(fd) => pins.check(p, &fd, true)?,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(swapped(p, &e)),
        }
    }
    Ok(())
}

/// A rule on the object `fd` was opened on (directory: the subtree; otherwise
/// the file rights only).
fn add_fd_grant(
    rs: RulesetCreated,
    fd: OwnedFd,
    rights: BitFlags<AccessFs>,
) -> Result<RulesetCreated, landlock::RulesetError> {
    let is_dir = rustix::fs::fstat(&fd)
        .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir());
    let rights = if is_dir {
        rights
    } else {
        rights & AccessFs::from_file(LANDLOCK_ABI)
    };
    rs.add_rule(PathBeneath::new(fd, rights))
}

/// Whether the kernel supports Landlock (an empty ruleset yields an fd).
pub fn landlock_available() -> bool {
    Ruleset::default()
        .handle_access(AccessFs::from_all(LANDLOCK_ABI))
        .and_then(|r| r.create())
        .is_ok_and(|r| Option::<OwnedFd>::from(r).is_some())
}

/// The Landlock ABI version the running kernel offers (`None`: no Landlock).
pub fn landlock_abi() -> Option<u32> {
    // The crate does not expose the raw version (by design, to keep rulesets
    // deterministic); this is the documented probe: landlock_create_ruleset(NULL,
    // 0, LANDLOCK_CREATE_RULESET_VERSION).
    // SAFETY: a null attribute pointer with size 0 is the documented version query.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32, // LANDLOCK_CREATE_RULESET_VERSION
        )
    };
    u32::try_from(v).ok().filter(|v| *v > 0)
}

fn add_grant(
    rs: RulesetCreated,
    path: &Path,
    rights: BitFlags<AccessFs>,
) -> Result<RulesetCreated, landlock::RulesetError> {
    // A missing system directory (e.g. /lib32) is simply not granted.
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(rs);
    };
    let Ok(fd) = PathFd::new(path) else {
        return Ok(rs);
    };
    let rights = if meta.is_dir() {
        rights
    } else {
        rights & AccessFs::from_file(LANDLOCK_ABI)
    };
    rs.add_rule(PathBeneath::new(fd, rights))
}

/// The paths to grant for one allow rule minus `denies`.
///
/// Landlock rules always cover a whole subtree, so a non-recursive rule (a
/// directory and its direct children) is granted conservatively: only the regular
/// files directly inside it, individually; its subdirectories and the directory's
/// own entries (create/delete) are not granted. A non-recursive deny is widened to
/// its whole subtree for the same reason. Both err on the side of less access.
fn rule_grants(a: &ScopeRule, denies: &[&ScopeRule]) -> Vec<PathBuf> {
    let denied: Vec<PathBuf> = denies.iter().map(|d| d.path.as_path().to_owned()).collect();
    if a.recursive {
        return grant_except(a.path.as_path(), &denied);
    }
    let root = a.path.as_path();
    if denied.iter().any(|d| root.starts_with(d)) {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()) && single_linked(e))
        .map(|e| e.path())
        .filter(|p| !denied.iter().any(|d| p.starts_with(d)))
        .collect()
}

/// Paths whose subtrees together cover `root`'s subtree minus the `denied`
/// subtrees (all canonical). Symlink entries are never granted: a rule on a link
/// would apply to wherever it points; access through a link is decided by the
/// rules on its target. Regular files with more than one link are never granted
/// individually either (see `single_linked`).
pub fn grant_except(root: &Path, denied: &[PathBuf]) -> Vec<PathBuf> {
    if denied.iter().any(|d| root.starts_with(d)) {
        return Vec::new();
    }
    let below: Vec<PathBuf> = denied
        .iter()
        .filter(|d| d.starts_with(root))
        .cloned()
        .collect();
    if below.is_empty() {
        return vec![root.to_owned()];
    }
    let mut out = Vec::new();
    // An unreadable directory is granted nothing: less access, never more.
    let Ok(entries) = std::fs::read_dir(root) else {
        return out;
    };
    for e in entries.filter_map(Result::ok) {
        let child = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if below.iter().any(|d| child.starts_with(d)) {
            continue; // the denied subtree itself
        }
        if below.iter().any(|d| d.starts_with(&child)) {
            if ft.is_dir() {
                out.extend(grant_except(&child, &below));
            }
            continue;
        }
        if !ft.is_symlink() && (!ft.is_file() || single_linked(&e)) {
            out.push(child);
        }
    }
    out
}

/// Whether a directory entry is not a second name of an inode: a per-file grant
/// of a multi-linked file would also grant its other names, which may lie outside
/// the write scope or inside a delegated region (issue 19, hard links).
fn single_linked(e: &std::fs::DirEntry) -> bool {
    use std::os::unix::fs::MetadataExt;
    e.metadata().is_ok_and(|m| m.nlink() <= 1)
}

/// Applies the ruleset to the calling process (after `PR_SET_NO_NEW_PRIVS`).
/// Runs in the forked child between fork and exec: one raw syscall, no
/// allocation, no lock. That is why the `landlock` crate's `restrict_self` (which
/// builds status values and error types) is not called here.
pub(crate) fn restrict_self(ruleset_fd: i32) -> std::io::Result<()> {
    // SAFETY: a plain syscall with integer arguments.
    if unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset_fd, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_except_grants_siblings_along_the_way_but_not_ancestors() {
        let t = tempfile::tempdir().unwrap();
        let w = std::fs::canonicalize(t.path()).unwrap();
        for d in ["a/child/deep", "a/sib", "b"] {
            std::fs::create_dir_all(w.join(d)).unwrap();
        }
        std::fs::write(w.join("a/file"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", w.join("a/link")).unwrap();
        let mut g = grant_except(&w, &[w.join("a/child")]);
        g.sort();
        assert_eq!(g, vec![w.join("a/file"), w.join("a/sib"), w.join("b")]);
        assert_eq!(grant_except(&w, &[]), vec![w.clone()]);
        assert!(grant_except(&w.join("a/child/deep"), &[w.join("a")]).is_empty());
    }
}
