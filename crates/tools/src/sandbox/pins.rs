//! Identity, not names: the write roots of a scope are opened without following
//! any symlink, and the directory found must be the one recorded when the scope
//! was granted (device and inode). A path swapped for a symlink, or exchanged
//! with another directory (`renameat2(RENAME_EXCHANGE)`) by a process that could
//! write its parent, is refused with an error naming it, never granted; and the
//! Landlock rule is made from the fd that was checked, so nothing can change
//! between the check and the grant.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustix::fs::{Mode, OFlags};

use super::landlock::SandboxError;
use crate::beneath::{open_beneath, open_root};

/// A file's identity: its device and inode numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

/// Opens `path` (absolute, canonical) as an `O_PATH` fd, following no symlink on
/// the way or at its end (`openat2` `RESOLVE_NO_SYMLINKS` from `/`): a canonical
/// path holds none, so one met now was swapped in since.
pub fn open_unfollowed(path: &Path) -> std::io::Result<OwnedFd> {
    let root = open_root(Path::new("/"))?;
    let rel = path.strip_prefix("/").unwrap_or(path);
    if rel.as_os_str().is_empty() {
        return Ok(root);
    }
    open_beneath(
        root.as_fd(),
        rel,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// The identity of what `fd` refers to.
pub fn identity_of(fd: impl AsFd) -> std::io::Result<FileId> {
    let st = rustix::fs::fstat(fd)?;
    Ok(FileId {
        dev: st.st_dev,
        ino: st.st_ino,
    })
}

/// The identity of `path`, opened as [`open_unfollowed`] does; the error names
/// the path and says what was found.
pub fn identity(path: &Path) -> Result<FileId, SandboxError> {
    let fd = open_unfollowed(path).map_err(|e| swapped(path, &e))?;
    identity_of(&fd).map_err(|e| SandboxError(format!("{}: {e}", path.display())))
}

pub(crate) fn swapped(path: &Path, e: &std::io::Error) -> SandboxError {
    if e.raw_os_error() == Some(libc::ELOOP) {
        SandboxError(format!(
            "{} is (or lies under) a symlink now: it was swapped after the scope was granted; write is not granted through it",
            path.display()
        ))
    } else {
        SandboxError(format!("cannot open {}: {e}", path.display()))
    }
}

/// Identities of a Pod's write roots as recorded when its scope was granted,
/// shared by every clone. A root without a recorded identity (records from
/// before pins existed, or a user-granted scope) is recorded on first use.
#[derive(Debug, Clone, Default)]
pub struct Pins(Arc<Mutex<BTreeMap<PathBuf, FileId>>>);

impl Pins {
    /// Pins recorded earlier (e.g. at delegation, from the Pod's manifest).
    pub fn new(recorded: BTreeMap<PathBuf, FileId>) -> Pins {
        Pins(Arc::new(Mutex::new(recorded)))
    }

    /// What is recorded now (to store in a manifest).
    pub fn snapshot(&self) -> BTreeMap<PathBuf, FileId> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Checks the fd opened for `path` against its recorded identity; with
    /// `record`, an unrecorded `path` is recorded now.
    pub(crate) fn check(
        &self,
        path: &Path,
        fd: &OwnedFd,
        record: bool,
    ) -> Result<(), SandboxError> {
        let now = identity_of(fd).map_err(|e| SandboxError(format!("{}: {e}", path.display())))?;
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(path) {
            Some(was) if *was != now => Err(SandboxError(format!(
                "{} is not the directory this scope was granted on (device {} inode {} then, device {} inode {} now): it was replaced or exchanged since; write is not granted there",
                path.display(),
                was.dev,
                was.ino,
                now.dev,
                now.ino
            ))),
            Some(_) => Ok(()),
            None => {
                if record {
                    map.insert(path.to_owned(), now);
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swapped_or_exchanged_root_is_refused_by_name() {
        let t = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(t.path()).unwrap();
        let region = base.join("region");
        let outside = base.join("outside");
        std::fs::create_dir_all(&region).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let pins = Pins::default();
        let fd = open_unfollowed(&region).unwrap();
        pins.check(&region, &fd, true).unwrap();
        pins.check(&region, &fd, true).unwrap();
        // Replaced by another directory: the recorded identity no longer matches.
        std::fs::rename(&region, base.join("old")).unwrap();
        std::fs::rename(&outside, &region).unwrap();
        let fd = open_unfollowed(&region).unwrap();
        let e = pins.check(&region, &fd, true).unwrap_err().to_string();
        assert!(
            e.contains(&format!("{} is not the directory", region.display())),
            "{e}"
        );
        // Replaced by a symlink: not even opened.
        std::fs::remove_dir(&region).unwrap();
        std::os::unix::fs::symlink(base.join("old"), &region).unwrap();
        let e = identity(&region).unwrap_err().to_string();
        assert!(e.contains("is (or lies under) a symlink now"), "{e}");
        let e = identity(&region.join("x")).unwrap_err().to_string();
        assert!(e.contains("symlink"), "{e}");
    }
}
