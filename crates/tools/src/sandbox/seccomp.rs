//! The seccomp fallback for metadata, where no mount namespace can be had (no
//! user namespaces for an ordinary user, e.g. a distribution that restricts them).
//!
//! seccomp sees syscall numbers and integer arguments, never paths: it cannot
//! tell `chmod inside/f` from `chmod ~/.ssh`, and an fd-based variant (`fchmod`
//! on a file opened read-only, which Landlock allows wherever reading is allowed)
//! is no safer. So the metadata syscalls are refused (`EPERM`) everywhere, inside
//! the scope too: `chmod +x` in the workspace fails under this fallback (the file
//! tools keep modes; the runtime reports the fallback in its status). What
//! remains possible: nothing of mode, owner, times or xattrs; `open(O_CREAT)`
//! still chooses the mode of a *new* file inside the scope (Landlock decides
//! where), and `rename`/`link` are Landlock's (metadata of the directory entry).

use std::collections::BTreeMap;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

use super::landlock::SandboxError;

/// Syscalls that change mode, owner, times or extended attributes.
fn metadata_syscalls() -> Vec<i64> {
    let mut v = vec![
        libc::SYS_fchmod,
        libc::SYS_fchmodat,
        libc::SYS_fchown,
        libc::SYS_fchownat,
        libc::SYS_utimensat,
        libc::SYS_setxattr,
        libc::SYS_lsetxattr,
        libc::SYS_fsetxattr,
        libc::SYS_removexattr,
        libc::SYS_lremovexattr,
        libc::SYS_fremovexattr,
        // Newer syscalls share one number on every architecture (since 5.x's
        // unified table); libc does not name all of them yet.
        452, // fchmodat2 (6.6)
        463, // setxattrat (6.13)
        466, // removexattrat (6.13)
    ];
    // The legacy path-based variants exist on x86_64 only.
    #[cfg(target_arch = "x86_64")]
    v.extend([
        libc::SYS_chmod,
        libc::SYS_chown,
        libc::SYS_lchown,
        libc::SYS_utime,
        libc::SYS_utimes,
        libc::SYS_futimesat,
    ]);
    // `c_long` is i64 here but i32 on 32-bit targets.
    #[allow(clippy::useless_conversion)]
    v.into_iter().map(i64::from).collect()
}

/// The filter: the metadata syscalls fail with `EPERM`, everything else passes.
pub(crate) fn metadata_filter() -> Result<BpfProgram, SandboxError> {
    let err = |e: &dyn std::fmt::Display| SandboxError(format!("seccomp filter: {e}"));
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| err(&e))?;
    // An empty rule list matches the syscall unconditionally.
    let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> = metadata_syscalls()
        .into_iter()
        .map(|nr| (nr, Vec::new()))
        .collect();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| err(&e))?;
    BpfProgram::try_from(filter).map_err(|e| err(&e))
}

/// Installs `prog` on the calling thread (after `PR_SET_NO_NEW_PRIVS`). Runs in
/// the child between fork and exec: `seccompiler::apply_filter` makes two
/// syscalls on the prepared program and allocates nothing on success.
pub(crate) fn apply(prog: &BpfProgram) -> std::io::Result<()> {
    seccompiler::apply_filter(prog).map_err(|e| match e {
        seccompiler::Error::Prctl(e) | seccompiler::Error::Seccomp(e) => e,
        _ => std::io::Error::from_raw_os_error(libc::EINVAL),
    })
}
