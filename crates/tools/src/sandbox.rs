//! The Landlock ruleset confining `bash`, built from the Pod's effective scope.
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
    RulesetCreatedAttr,
};
use scope::{Access as ScopeAccess, Scope, ScopeRule};

/// The Landlock ABI whose rights we handle; newer kernels are used at this level,
/// older ones best-effort (the crate drops rights the kernel does not know).
const LANDLOCK_ABI: ABI = ABI::V5;

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
pub(crate) struct SandboxError(String);

/// Builds the ruleset for `scope` (effective) plus `tmp` (writable) and
/// `extra_readable`. Returns `None` when the kernel has no Landlock. The returned fd
/// is what the child hands to `landlock_restrict_self` after fork.
pub(crate) fn build_ruleset(
    scope: &Scope,
    tmp: &Path,
    extra_readable: &[PathBuf],
) -> Result<Option<OwnedFd>, SandboxError> {
    let err = |e: landlock::RulesetError| SandboxError(e.to_string());
    let read = AccessFs::from_read(LANDLOCK_ABI);
    let all = AccessFs::from_all(LANDLOCK_ABI);
    let mut rs = Ruleset::default()
        .handle_access(all)
        .map_err(err)?
        .create()
        .map_err(err)?;

    let mut grants: Vec<(PathBuf, BitFlags<AccessFs>)> = Vec::new();
    for p in SYSTEM_READ_PATHS {
        grants.push((PathBuf::from(p), read));
    }
    for p in SYSTEM_WRITE_FILES {
        grants.push((PathBuf::from(p), all));
    }
    for p in extra_readable {
        grants.push((p.clone(), read));
    }
    grants.push((tmp.to_owned(), all));

    // Readable scope: every allow minus deny(read). Writable: write allows minus
    // every deny (a deny of either kind removes write).
    let deny_read: Vec<&ScopeRule> = scope
        .deny
        .iter()
        .filter(|d| d.access == ScopeAccess::Read)
        .collect();
    let deny_any: Vec<&ScopeRule> = scope.deny.iter().collect();
    for a in &scope.allow {
        let (denies, rights) = match a.access {
            ScopeAccess::Read => (&deny_read, read),
            ScopeAccess::Write => (&deny_any, all),
        };
        // Write allows are also readable under deny(write): grant read there too.
        if a.access == ScopeAccess::Write {
            for p in rule_grants(a, &deny_read) {
                grants.push((p, read));
            }
        }
        for p in rule_grants(a, denies) {
            grants.push((p, rights));
        }
    }

    for (path, rights) in grants {
        rs = add_grant(rs, &path, rights).map_err(err)?;
    }
    Ok(rs.into())
}

/// Whether the kernel supports Landlock (an empty ruleset yields an fd).
pub fn landlock_available() -> bool {
    Ruleset::default()
        .handle_access(AccessFs::from_all(LANDLOCK_ABI))
        .and_then(|r| r.create())
        .is_ok_and(|r| Option::<OwnedFd>::from(r).is_some())
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
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| !denied.iter().any(|d| p.starts_with(d)))
        .collect()
}

/// Paths whose subtrees together cover `root`'s subtree minus the `denied`
/// subtrees (all canonical). Symlink entries are never granted: a rule on a link
/// would apply to wherever it points; access through a link is decided by the
/// rules on its target.
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
        if !ft.is_symlink() {
            out.push(child);
        }
    }
    out
}

/// Applies the ruleset to the calling process. Runs in the forked child between
/// fork and exec (`pre_exec`).
///
/// Async-signal-safety: after `fork` in a multi-threaded parent only
/// async-signal-safe operations are allowed (another thread may have held the
/// allocator's or any other lock at fork time). The ruleset was fully built in the
/// parent (every path opened, every rule added), so this function makes exactly two
/// raw syscalls, allocates nothing and takes no locks; `last_os_error` only reads
/// errno. That is why the `landlock` crate's `restrict_self` (which builds status
/// values and error types) is not called here.
/// Between fork and exec: the command gets SIGKILL when the process that started it
/// dies (PR_SET_PDEATHSIG), so a command of a Pod killed with SIGKILL does not run on
/// unattended. `parent` is the starting process's pid: if it already died before the
/// prctl, the command is not started at all. (The signal follows the starting
/// *thread*; tool calls start from the runtime's long-lived worker threads.)
pub(crate) fn die_with_parent(parent: u32) -> std::io::Result<()> {
    // SAFETY: plain syscalls with integer arguments.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::getppid() as u32 != parent {
            return Err(std::io::Error::other("the starting process is gone"));
        }
    }
    Ok(())
}

pub(crate) fn confine_current_process(ruleset_fd: i32) -> std::io::Result<()> {
    // SAFETY: plain syscalls with integer arguments.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::syscall(libc::SYS_landlock_restrict_self, ruleset_fd, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
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
