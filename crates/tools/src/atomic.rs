//! Whole-file replacement relative to one parent directory fd: write a temp file
//! next to the target, fsync it, rename it over the target, fsync the directory.
//!
//! Every step names the directory by the fd the resolve-once walk returned
//! (`crate::beneath`), never by path, so swapping a directory or symlink on the
//! path mid-write cannot redirect the temp file, the rename or the cleanup
//! elsewhere. The rename also means a multi-linked target is *replaced* (its other
//! links keep the old inode and content), never written through.

use std::ffi::OsStr;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What [`replace_atomically`] did.
pub(crate) struct Replaced {
    /// `fstat` of the new file.
    pub stat: Stat,
    /// Whether a file of that name existed before.
    pub existed: bool,
}

/// Replaces `name` inside the directory `parent` with `contents`, keeping the old
/// file's permission bits (a plain temp + rename would reset them to the default
/// mode). No temp file is left behind on any error this function sees; only a
/// crash (e.g. SIGKILL) between create and rename can leave a
/// `.NAME.pods-tmp.PID.N` file.
pub(crate) fn replace_atomically(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    contents: &[u8],
) -> std::io::Result<Replaced> {
    let old_mode = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::IsADirectory,
                    "target is a directory",
                ));
            }
            // A canonical target is never a symlink: one was swapped in after the
            // scope check. Replacing it would be harmless, but refuse like the walk.
            FileType::Symlink => return Err(Errno::LOOP.into()),
            _ => Some(Mode::from_raw_mode(st.st_mode & 0o7777)),
        },
        Err(Errno::NOENT) => None,
        Err(e) => return Err(e.into()),
    };
    let tmp = format!(
        ".{}.pods-tmp.{}.{}",
        name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let fd = rustix::fs::openat(
        parent,
        tmp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o666),
    )?;
    let mut f = std::fs::File::from(fd);
    let result = (|| {
        f.write_all(contents)?;
        if let Some(mode) = old_mode {
            rustix::fs::fchmod(&f, mode)?;
        }
        f.sync_all()?;
        // The rename is the commit point: before it the old file is intact and the
        // temp is garbage; after it the new, fsynced content is the file. A crash
        // at any moment leaves the old or the new content, never a mix.
        rustix::fs::renameat(parent, tmp.as_str(), parent, name)?;
        Ok::<(), std::io::Error>(())
    })();
    if let Err(e) = result {
        // Same directory fd as the create: the cleanup cannot miss the temp file.
        let _ = rustix::fs::unlinkat(parent, tmp.as_str(), AtFlags::empty());
        return Err(e);
    }
    // fsync the directory so the rename itself survives a power loss. `parent` may
    // be an O_PATH fd, which cannot be fsynced; a read-only open of "." through it
    // names the same directory.
    let d = rustix::fs::openat(
        parent,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    rustix::fs::fsync(&d)?;
    Ok(Replaced {
        stat: rustix::fs::fstat(f.as_fd())?,
        existed: old_mode.is_some(),
    })
}
