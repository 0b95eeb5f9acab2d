//! Resolve-once file access beneath an allowed root: every path component is
//! walked with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` from a directory
//! fd opened on the root, and each later step (read, temp file, rename, cleanup)
//! happens relative to the fd that walk returned, never by path again.
//!
//! Why no symlinks at all, even inside the root: the scope check ran on the
//! *canonical* path (every symlink already resolved), so the path walked here has
//! none. A symlink met during the walk was swapped in after the check, and
//! following it — even within the root — could land in a region the scope denies
//! (e.g. a child Pod's delegated region). So it is refused (`ELOOP`).
//!
//! Why not cap-std's `Dir::open`: it follows symlinks that stay inside its root,
//! which is exactly the residual race above.

use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};
use std::time::{Duration, SystemTime};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

/// Flags of every walk: stay beneath the starting fd and follow no symlink
/// (`/proc` magic links included). Crossing into a mount is allowed (a workspace
/// may hold a mount point), so `RESOLVE_NO_XDEV` is not set.
const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_SYMLINKS);

/// `EAGAIN` from `openat2` means a concurrent rename or mount raced the lookup;
/// the kernel asks the caller to retry. Bounded so a hostile renamer cannot spin
/// us forever.
const EAGAIN_RETRIES: usize = 16;

/// Opens the allowed root itself (canonical, absolute) as an `O_PATH` directory.
/// Symlinks in the root's own path were resolved at canonicalisation; the root's
/// ancestors are outside the Pod's write scope.
pub(crate) fn open_root(root: &Path) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens `rel` (relative, no `..`) beneath `dir` without following any symlink.
/// `rel` of `""` or `"."` opens `dir` itself again with `flags`.
pub(crate) fn open_beneath(
    dir: BorrowedFd<'_>,
    rel: &Path,
    flags: OFlags,
    mode: Mode,
) -> std::io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    // openat2 rejects O_PATH combined with anything but O_DIRECTORY, O_NOFOLLOW
    // and O_CLOEXEC, so O_NOCTTY (a terminal never becomes ours) is for real opens.
    let flags = if flags.contains(OFlags::PATH) {
        flags | OFlags::CLOEXEC
    } else {
        flags | OFlags::CLOEXEC | OFlags::NOCTTY
    };
    for _ in 0..EAGAIN_RETRIES {
        match rustix::fs::openat2(dir, rel, flags, mode, RESOLVE) {
            Err(Errno::AGAIN) => continue,
            // Kernels before 5.6 lack openat2: walk component by component.
            Err(Errno::NOSYS) => return walk_beneath(dir, rel, flags, mode),
            r => return Ok(r?),
        }
    }
    Err(Errno::AGAIN.into())
}

/// The pre-5.6 equivalent of [`open_beneath`]: one `openat(O_NOFOLLOW)` per
/// component, refusing `..` and absolute components (what `RESOLVE_BENEATH`
/// refuses with `EXDEV`).
fn walk_beneath(
    dir: BorrowedFd<'_>,
    rel: &Path,
    flags: OFlags,
    mode: Mode,
) -> std::io::Result<OwnedFd> {
    let names: Vec<&OsStr> = normal_components(rel)?;
    let Some((last, inner)) = names.split_last() else {
        return Ok(rustix::fs::openat(dir, ".", flags, mode)?);
    };
    let mut cur: Option<OwnedFd> = None;
    for name in inner {
        let at = cur.as_ref().map_or(dir, |f| f.as_fd());
        // O_PATH | O_NOFOLLOW opens a symlink itself; its type then says ELOOP,
        // as openat2 would.
        let next = rustix::fs::openat(
            at,
            *name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        match FileType::from_raw_mode(rustix::fs::fstat(&next)?.st_mode) {
            FileType::Directory => {}
            FileType::Symlink => return Err(Errno::LOOP.into()),
            _ => return Err(Errno::NOTDIR.into()),
        }
        cur = Some(next);
    }
    let at = cur.as_ref().map_or(dir, |f| f.as_fd());
    Ok(rustix::fs::openat(
        at,
        *last,
        flags | OFlags::NOFOLLOW,
        mode,
    )?)
}

/// The names of `rel`'s components; `..`, a root or a prefix is refused as an
/// escape (`EXDEV`, like `RESOLVE_BENEATH`).
pub(crate) fn normal_components(rel: &Path) -> std::io::Result<Vec<&OsStr>> {
    let mut out = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return Err(Errno::XDEV.into()),
        }
    }
    Ok(out)
}

/// Opens the directory `rel` beneath `root`, creating missing components one by
/// one. `may_create(prefix)` is asked before each directory is created (it checks
/// the scope at that prefix); the walk never follows a symlink, so what was
/// checked is what is created in.
pub(crate) fn open_or_create_dirs<E: From<std::io::Error>>(
    root: BorrowedFd<'_>,
    rel: &Path,
    mut may_create: impl FnMut(&Path) -> Result<(), E>,
) -> Result<OwnedFd, E> {
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY;
    // Fast path: the directory exists.
    match open_beneath(root, rel, dir_flags, Mode::empty()) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        r => return Ok(r?),
    }
    let mut cur = open_beneath(root, Path::new("."), dir_flags, Mode::empty())?;
    let mut so_far = std::path::PathBuf::new();
    for name in normal_components(rel)? {
        so_far.push(name);
        let next = match open_beneath(cur.as_fd(), Path::new(name), dir_flags, Mode::empty()) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                may_create(&so_far)?;
                match rustix::fs::mkdirat(cur.as_fd(), name, Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(std::io::Error::from(e).into()),
                }
                open_beneath(cur.as_fd(), Path::new(name), dir_flags, Mode::empty())?
            }
            r => r?,
        };
        cur = next;
    }
    Ok(cur)
}

/// A regular file's content read to at most a limit.
pub(crate) struct Regular {
    /// The bytes (at most the limit).
    pub bytes: Vec<u8>,
    /// `fstat` of the opened file (not of the path: they may differ by now).
    pub stat: Stat,
}

/// Why a bounded read failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Opening, stat or reading failed.
    Io(std::io::Error),
    /// Not a regular file; the payload names the kind (`"a FIFO"`, ...).
    NotRegular(&'static str),
    /// More than the limit bytes: the file's size, or `limit + 1` when it grew.
    TooLarge(u64),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

/// Opens `rel` beneath `dir` for reading and reads at most `limit` bytes.
///
/// Bounded by construction, whatever the path names:
/// - `O_NONBLOCK`: opening a FIFO without a writer returns at once instead of
///   blocking forever (and `O_NOCTTY`: a terminal never becomes ours);
/// - `fstat` on the *opened* fd must say regular file, else [`ReadError::NotRegular`]
///   before a single byte is read (FIFOs, sockets, devices such as `/dev/zero`);
/// - at most `limit + 1` bytes are read, so a file growing while we read (the
///   size from `fstat` is already stale) ends as [`ReadError::TooLarge`].
pub(crate) fn read_regular(
    dir: BorrowedFd<'_>,
    rel: &Path,
    limit: u64,
) -> Result<Regular, ReadError> {
    let fd = open_beneath(dir, rel, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty())?;
    let stat = rustix::fs::fstat(&fd).map_err(std::io::Error::from)?;
    require_regular(&stat)?;
    if stat.st_size as u64 > limit {
        return Err(ReadError::TooLarge(stat.st_size as u64));
    }
    let bytes = read_at_most(std::fs::File::from(fd), limit, stat.st_size as u64)?;
    Ok(Regular { bytes, stat })
}

/// Errors unless `stat` is a regular file, naming what it is instead.
pub(crate) fn require_regular(stat: &Stat) -> Result<(), ReadError> {
    let kind = match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => return Ok(()),
        FileType::Directory => "a directory",
        FileType::Fifo => "a FIFO (named pipe)",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Symlink => "a symlink",
        FileType::Unknown => "of an unknown file type",
    };
    Err(ReadError::NotRegular(kind))
}

/// Reads at most `limit` bytes of `r`; reading `limit + 1` means it is larger.
/// `hint` (the size `fstat` saw) only sizes the first allocation.
pub(crate) fn read_at_most(r: impl Read, limit: u64, hint: u64) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::with_capacity(hint.min(limit) as usize + 1);
    r.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// The modification time of an `fstat` result, as `std` would report it.
pub(crate) fn mtime_of(stat: &Stat) -> Option<SystemTime> {
    let secs = stat.st_mtime;
    let nanos = u32::try_from(stat.st_mtime_nsec).ok()?;
    if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs as u64, nanos))
    } else {
        SystemTime::UNIX_EPOCH
            .checked_sub(Duration::new(secs.unsigned_abs(), 0))?
            .checked_add(Duration::new(0, nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_reader_is_read_to_the_limit_plus_one_only() {
        let r = read_at_most(std::io::repeat(b'a'), 1000, 0);
        assert!(matches!(r, Err(ReadError::TooLarge(1001))), "{r:?}");
        let ok = read_at_most(&b"abc"[..], 3, 3).unwrap();
        assert_eq!(ok, b"abc");
    }

    #[test]
    fn a_symlink_anywhere_on_the_path_is_refused_even_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(base.join("real")).unwrap();
        std::fs::write(base.join("real/f"), "x").unwrap();
        std::os::unix::fs::symlink("real", base.join("link")).unwrap();
        let root = open_root(&base).unwrap();
        for walk in [open_beneath, walk_beneath] {
            let e = walk(
                root.as_fd(),
                Path::new("link/f"),
                OFlags::RDONLY,
                Mode::empty(),
            )
            .unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
            let e = walk(
                root.as_fd(),
                Path::new("../x"),
                OFlags::RDONLY,
                Mode::empty(),
            )
            .unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EXDEV), "{e}");
            walk(
                root.as_fd(),
                Path::new("real/f"),
                OFlags::RDONLY,
                Mode::empty(),
            )
            .unwrap();
        }
    }
}
