//! The per-Pod update lock: an exclusive `flock` on `{pods_root}/{name}.lock`,
//! taken with a deadline and held across every read-modify-write of that Pod's
//! record.
//!
//! The lock file sits beside the Pod directory, not inside it: Pod names may not
//! end in `.lock`, so it can never collide with a Pod, and creating a Pod does not
//! need its directory to exist before the lock that guards its creation.
//!
//! flock is released by the kernel when the holder dies, so a writer killed with
//! SIGKILL never leaves a stale lock. `flock` has no timeout of its own, so we poll
//! the non-blocking form with a short backoff until the deadline: a stuck holder
//! yields [`StoreError::LockTimeout`] instead of blocking forever.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use crate::error::{Result, StoreError, io_err};

const FIRST_BACKOFF: Duration = Duration::from_micros(50);
const MAX_BACKOFF: Duration = Duration::from_millis(2);

/// Held while one update runs; dropping it closes the file, releasing the flock.
#[derive(Debug)]
pub(crate) struct PodLock {
    file: File,
}

impl PodLock {
    /// Takes the lock at `path`, waiting at most `timeout`.
    pub fn acquire(path: &Path, timeout: Duration) -> Result<PodLock> {
        let start = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
                .map_err(io_err("open lock file", path))?;
            loop {
                match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                    Ok(()) => break,
                    Err(Errno::WOULDBLOCK | Errno::INTR) => {
                        let waited = start.elapsed();
                        if waited >= timeout {
                            return Err(StoreError::LockTimeout {
                                path: path.to_path_buf(),
                                waited,
                            });
                        }
                        // Backoff between polls, not synchronisation: the loop
                        // re-checks the lock itself each time.
                        std::thread::sleep(backoff.min(timeout - waited));
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                    Err(e) => return Err(io_err("lock", path)(std::io::Error::from(e))),
                }
            }
            // `remove` unlinks the lock file while holding it. A waiter that then
            // wins the flock holds a lock on a file nobody else can open any more;
            // it must retry on the file now at `path`, or two writers would each
            // hold "the" lock.
            if is_same_file(&file, path)? {
                return Ok(PodLock { file });
            }
        }
    }

    /// Unlinks the lock file while still holding it (used by `remove`).
    pub fn unlink(&self, path: &Path) -> Result<()> {
        debug_assert!(is_same_file(&self.file, path).unwrap_or(false));
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove lock file", path)(e)),
        }
    }
}

fn is_same_file(file: &File, path: &Path) -> Result<bool> {
    let held = file.metadata().map_err(io_err("stat lock file", path))?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("stat lock file", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_times_out_with_the_path() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.lock");
        let _held = PodLock::acquire(&p, Duration::from_secs(1)).unwrap();
        let t = Instant::now();
        let err = PodLock::acquire(&p, Duration::from_millis(100)).unwrap_err();
        assert!(t.elapsed() >= Duration::from_millis(100));
        assert!(t.elapsed() < Duration::from_secs(5));
        match err {
            StoreError::LockTimeout { path, .. } => assert_eq!(path, p),
            other => panic!("expected LockTimeout, got {other}"),
        }
    }

    #[test]
    fn lock_is_free_again_after_drop() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.lock");
        drop(PodLock::acquire(&p, Duration::from_secs(1)).unwrap());
        PodLock::acquire(&p, Duration::from_millis(10)).unwrap();
    }

    #[test]
    fn a_lock_on_an_unlinked_file_is_not_the_lock() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.lock");
        let first = PodLock::acquire(&p, Duration::from_secs(1)).unwrap();
        // A waiter that opened the file before `remove` unlinked it.
        let stale = File::open(&p).unwrap();
        assert!(is_same_file(&stale, &p).unwrap());
        first.unlink(&p).unwrap();
        drop(first);
        // It could now win the flock on the old inode, but that is not the lock.
        flock(&stale, FlockOperation::NonBlockingLockExclusive).unwrap();
        assert!(!is_same_file(&stale, &p).unwrap());
        // The real lock lives at the path again and is independent of the stale one.
        let fresh = PodLock::acquire(&p, Duration::from_secs(1)).unwrap();
        assert!(is_same_file(&fresh.file, &p).unwrap());
        assert!(PodLock::acquire(&p, Duration::from_millis(20)).is_err());
    }
}
