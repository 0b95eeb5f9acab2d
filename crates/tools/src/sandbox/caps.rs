//! The capability layer: a confined process keeps only the capabilities it may
//! need, dropped from the bounding set (so no exec can get them back) and from
//! the effective, permitted, inheritable and ambient sets.
//!
//! Kept, when running as root: `CAP_DAC_OVERRIDE` and `CAP_DAC_READ_SEARCH` (a
//! root Pod commonly works in a tree owned by another user, e.g. a bind-mounted
//! checkout in a container, and must read and write its files; *where* it may
//! read and write is Landlock's and the mount layer's job, and both hold against
//! these capabilities), and `CAP_NET_BIND_SERVICE` (test servers on low ports).
//! Everything else goes, notably `CAP_MKNOD`, `CAP_SYS_RAWIO`, `CAP_SYS_ADMIN`,
//! `CAP_CHOWN`, `CAP_FOWNER`, `CAP_FSETID`, `CAP_SETFCAP`, `CAP_SYS_PTRACE`,
//! `CAP_SYS_MODULE`, `CAP_KILL`, `CAP_SETUID`, `CAP_SETGID` and `CAP_SETPCAP`.
//! Cost: root's shell cannot chown, or chmod/utime files it does not own, even
//! inside its scope (`tar` as root needs `--no-same-owner`).

use rustix::io::Errno;
use rustix::thread::{
    CapabilitySet, CapabilitySets, capabilities, clear_ambient_capability_set,
    remove_capability_from_bounding_set, set_capabilities,
};

/// What a confined root process keeps.
const KEPT_AS_ROOT: CapabilitySet = CapabilitySet::DAC_OVERRIDE
    .union(CapabilitySet::DAC_READ_SEARCH)
    .union(CapabilitySet::NET_BIND_SERVICE);

/// Which capabilities survive. Decided in the parent; applied in the child.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CapDrop {
    keep: CapabilitySet,
}

impl CapDrop {
    /// For root (or a process holding capabilities): keep [`KEPT_AS_ROOT`].
    /// In a fresh user namespace, where the process holds every capability of
    /// that namespace after the mount layer is done with them: keep nothing.
    pub fn new(in_user_namespace: bool) -> CapDrop {
        CapDrop {
            keep: if in_user_namespace {
                CapabilitySet::empty()
            } else {
                KEPT_AS_ROOT
            },
        }
    }

    /// Whether dropping is needed at all: a process without capabilities that
    /// enters no user namespace has none to lose.
    pub fn needed(in_user_namespace: bool) -> bool {
        in_user_namespace
            || rustix::process::geteuid().is_root()
            || capabilities(None).is_ok_and(|c| !c.permitted.is_empty())
    }

    /// Drops. Runs in the child between fork and exec: syscalls only.
    pub fn apply(&self) -> std::io::Result<()> {
        // Bounding set first, while CAP_SETPCAP (needed for it) is still effective.
        for bit in 0..64u32 {
            let Some(cap) = CapabilitySet::from_bits(1u64 << bit) else {
                continue; // a bit rustix does not name
            };
            if self.keep.contains(cap) {
                continue;
            }
            match remove_capability_from_bounding_set(cap) {
                // EINVAL: a capability this kernel does not have.
                Ok(()) | Err(Errno::INVAL) => {}
                Err(e) => return Err(e.into()),
            }
        }
        clear_ambient_capability_set()?;
        let now = capabilities(None)?;
        set_capabilities(
            None,
            CapabilitySets {
                effective: now.effective & self.keep,
                permitted: now.permitted & self.keep,
                inheritable: CapabilitySet::empty(),
            },
        )?;
        Ok(())
    }
}
