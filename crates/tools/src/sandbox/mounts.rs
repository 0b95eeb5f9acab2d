//! The mount layer: the confined process runs in its own mount namespace (and,
//! when not root, its own user namespace) where every mount is read-only except
//! the write grants, which are bind-mounted onto themselves read-write, `nodev`
//! and `nosuid`.
//!
//! Why: Landlock does not mediate metadata (chmod, chown, utimes, xattrs), so
//! without this a confined shell could `chmod 777 ~/.ssh` while plain writes there
//! are denied. A read-only mount refuses every metadata change (`EROFS`) whatever
//! the caller's rights. A nested namespace the process might create cannot undo
//! it: mounts copied into a less privileged namespace are locked (their
//! read-only flag cannot be cleared, nor can they be unmounted one by one).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::mount::{
    MountFlags, MountPropagationFlags, mount, mount_bind, mount_bind_recursive, mount_change,
};
use rustix::thread::{UnshareFlags, unshare_unsafe};

use super::landlock::SandboxError;

/// Everything the child needs, prepared in the parent: after `fork` only
/// async-signal-safe work is allowed, so no path is built and nothing allocated
/// in [`MountPlan::apply`].
#[derive(Debug)]
pub(crate) struct MountPlan {
    /// `Some` when a user namespace is needed too (not root): the id maps to write.
    ids: Option<IdMaps>,
    /// Write grants, outer paths first (a bind inside another must come after it).
    writable: Vec<CString>,
    /// Files inside the grants that stay read-only: names of inodes that also
    /// have names outside the write scope (hard links).
    read_only: Vec<CString>,
    /// Directories masked by an empty read-only tmpfs.
    hidden: Vec<CString>,
    /// The working directory, entered again after the binds: the process's cwd
    /// still points into the mount below the new bind, which is read-only now.
    cwd: CString,
}

/// The one-line uid and gid maps that keep the process's own ids inside.
#[derive(Debug)]
struct IdMaps {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

fn cstring(p: &Path) -> Result<CString, SandboxError> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| SandboxError(format!("{} contains a NUL byte", p.display())))
}

impl MountPlan {
    /// A plan making `writable` (canonical paths, the Landlock write grants) the
    /// only writable places. `user_namespace`: also unshare a user namespace
    /// (needed without CAP_SYS_ADMIN).
    pub fn new(
        writable: &[PathBuf],
        read_only: &[PathBuf],
        hidden: &[PathBuf],
        cwd: &Path,
        user_namespace: bool,
    ) -> Result<MountPlan, SandboxError> {
        let mut sorted: Vec<&PathBuf> = writable.iter().filter(|p| p.exists()).collect();
        sorted.sort_by_key(|p| p.components().count());
        let ids = user_namespace.then(|| {
            let uid = rustix::process::getuid().as_raw();
            let gid = rustix::process::getgid().as_raw();
            IdMaps {
                uid_map: format!("{uid} {uid} 1\n").into_bytes(),
                gid_map: format!("{gid} {gid} 1\n").into_bytes(),
            }
        });
        Ok(MountPlan {
            ids,
            writable: sorted
                .into_iter()
                .map(|p| cstring(p))
                .collect::<Result<_, _>>()?,
            read_only: read_only
                .iter()
                .map(|p| cstring(p))
                .collect::<Result<_, _>>()?,
            hidden: hidden
                .iter()
                .filter(|p| p.is_dir())
                .map(|p| cstring(p))
                .collect::<Result<_, _>>()?,
            cwd: cstring(cwd)?,
        })
    }

    /// Enters the namespaces and remounts. Runs in the child between fork and
    /// exec: syscalls on prepared buffers only.
    pub fn apply(&self) -> std::io::Result<()> {
        let mut flags = UnshareFlags::NEWNS;
        if self.ids.is_some() {
            flags |= UnshareFlags::NEWUSER;
        }
        // SAFETY: `unshare_unsafe` is unsafe because CLONE_FILES/CLONE_FS-style
        // flags can invalidate other threads' assumptions; after fork this process
        // has one thread, and NEWNS/NEWUSER affect only it.
        unsafe { unshare_unsafe(flags)? };
        if let Some(ids) = &self.ids {
            // An unprivileged process may map only its own ids, and only after
            // giving up setgroups.
            write_proc(c"/proc/self/setgroups", b"deny")?;
            write_proc(c"/proc/self/uid_map", &ids.uid_map)?;
            write_proc(c"/proc/self/gid_map", &ids.gid_map)?;
        }
        // Nothing done here may propagate back to the host's mounts.
        mount_change(
            c"/",
            MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
        )?;
        for w in &self.writable {
            mount_bind_recursive(w.as_c_str(), w.as_c_str())?;
        }
        // Each its own mount, so the recursive read-only below covers it and the
        // non-recursive clearing on the grants does not.
        for f in &self.read_only {
            match mount_bind(f.as_c_str(), f.as_c_str()) {
                // Gone or replaced since the scan: nothing left to protect there.
                Err(Errno::NOENT) => {}
                r => r?,
            }
        }
        for h in &self.hidden {
            // Mounted over, not removed: what lies below stays as it is for
            // everyone else, and a sandboxed process (no CAP_SYS_ADMIN; in a
            // nested namespace the mount is locked) cannot unmount it.
            mount(
                c"none",
                h.as_c_str(),
                c"tmpfs",
                MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                c"size=4k,mode=0555",
            )?;
        }
        set_mount_attr(c"/", true, MOUNT_ATTR_RDONLY, 0)?;
        for w in &self.writable {
            // Only the bind itself becomes writable, not mounts below it (another
            // filesystem mounted inside the workspace stays read-only: less access).
            match set_mount_attr(
                w.as_c_str(),
                false,
                MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID,
                MOUNT_ATTR_RDONLY,
            ) {
                // A grant on a filesystem mounted read-only (and locked so) by the
                // host stays read-only: that is what it was anyway.
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
                r => r?,
            }
        }
        rustix::process::chdir(self.cwd.as_c_str())?;
        Ok(())
    }
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

/// `mount_setattr(2)` on the mount at `path` (and every mount below it when
/// `recursive`). Hand-written: neither rustix nor libc wraps this syscall (Linux
/// 5.12+); the struct layout is the kernel's `struct mount_attr`.
fn set_mount_attr(
    path: &std::ffi::CStr,
    recursive: bool,
    set: u64,
    clear: u64,
) -> std::io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: a valid NUL-terminated path and a pointer to a live struct of the
    // size passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Writes `data` to a /proc file in one `write`, as the id-map files require.
fn write_proc(path: &std::ffi::CStr, data: &[u8]) -> std::io::Result<()> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    let n = rustix::io::write(&fd, data)?;
    if n != data.len() {
        return Err(std::io::Error::from_raw_os_error(libc::EIO));
    }
    Ok(())
}
