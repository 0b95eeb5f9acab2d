//! The durable filesystem steps the store relies on: atomic replace, single-write
//! append, and the per-item `flock`.
//!
//! Crash-safety argument: a replaced file is written to a temp name, fsynced, then
//! renamed over the old one (the rename is the commit point: before it the old file
//! is intact) and the directory is fsynced. An event is appended with one `write`
//! on an `O_APPEND` descriptor while the item lock is held, then fsynced, so two
//! writers never interleave inside an event, and a crash leaves at most a torn last
//! event, which the reader reports (and the next append starts on a fresh line).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use crate::error::{Result, WorkError, io_err};

/// Suffix of the temp file an atomic write uses (doctor removes leftovers).
pub const TMP_SUFFIX: &str = ".tmp";

/// How long a writer waits for an item's lock before giving up with an error.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// Replaces `path` with `bytes` atomically (temp + fsync + rename + dir fsync),
/// keeping the old file's mode (0644 for a new file: the files are meant to be
/// committed and read by anyone who can read the repository).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent(path)?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(TMP_SUFFIX);
    let tmp = std::path::PathBuf::from(tmp_name);
    let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err("create", &tmp))?;
    f.write_all(bytes).map_err(io_err("write", &tmp))?;
    f.sync_all().map_err(io_err("fsync", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io_err("rename into place", path))?;
    sync_dir(dir)
}

/// Appends `text` to `path` (created if missing) in one `write`. If the file does
/// not end with a newline (a torn event from a crash), a newline goes first so the
/// new event starts on its own line. Callers hold the item lock.
pub fn append(path: &Path, text: &str) -> Result<()> {
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)
        .map_err(io_err("open for append", path))?;
    let len = f.metadata().map_err(io_err("stat", path))?.len();
    let mut buf = String::with_capacity(text.len() + 1);
    if len > 0 {
        let mut last = [0u8; 1];
        f.seek(SeekFrom::End(-1)).map_err(io_err("seek", path))?;
        f.read_exact(&mut last).map_err(io_err("read", path))?;
        if last[0] != b'\n' {
            buf.push('\n');
        }
    }
    buf.push_str(text);
    f.write_all(buf.as_bytes())
        .map_err(io_err("append to", path))?;
    f.sync_all().map_err(io_err("fsync", path))
}

/// fsyncs a directory so renames and creations inside it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

fn parent(path: &Path) -> Result<&Path> {
    path.parent()
        .ok_or_else(|| WorkError::Invalid(format!("{} has no parent folder", path.display())))
}

/// An exclusive `flock`, released when dropped (and by the kernel when the holder
/// dies, so a SIGKILLed writer never leaves a stale lock). Lock files are never
/// removed, so a lock taken on the file at the path is always the lock.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the lock at `path`, polling the non-blocking form until `timeout`
    /// (`flock` itself has no deadline, and a stuck holder must yield an error).
    pub fn acquire(path: &Path, timeout: Duration) -> Result<Lock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .map_err(io_err("open lock file", path))?;
        let start = Instant::now();
        let mut backoff = Duration::from_micros(50);
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Lock { _file: file }),
                Err(Errno::WOULDBLOCK | Errno::INTR) => {
                    let waited = start.elapsed();
                    if waited >= timeout {
                        return Err(WorkError::LockTimeout {
                            path: path.to_path_buf(),
                            waited,
                        });
                    }
                    // Backoff between polls; the loop re-checks the lock itself.
                    std::thread::sleep(backoff.min(timeout - waited));
                    backoff = (backoff * 2).min(Duration::from_millis(5));
                }
                Err(e) => return Err(io_err("lock", path)(std::io::Error::from(e))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn append_after_a_torn_tail_starts_a_new_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.md");
        std::fs::write(&p, "whole\ntorn").unwrap();
        append(&p, "next\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "whole\ntorn\nnext\n");
    }

    #[test]
    fn atomic_write_keeps_the_mode_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("item.md");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_held_lock_times_out_the_second_taker() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.lock");
        let _held = Lock::acquire(&p, Duration::from_secs(1)).unwrap();
        let err = Lock::acquire(&p, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, WorkError::LockTimeout { .. }), "{err}");
    }
}
