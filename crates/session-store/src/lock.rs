//! The one-writer-per-segment lock: an exclusive, non-blocking `flock` on
//! `{segment_id}.lock`, which also records the holder's pid for error messages.
//!
//! flock is released by the kernel when the holder dies, so a crashed writer never
//! leaves a stale lock. The lock file is never deleted: unlinking a lock file races
//! with a process that has just opened it and would let two writers in.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use crate::error::{Result, StoreError, io_err};

/// Held while a `SegmentWriter` lives; dropping it closes the file and so releases
/// the flock.
#[derive(Debug)]
pub(crate) struct SegmentLock {
    _file: File,
}

impl SegmentLock {
    /// Takes the lock at `lock_path` for the segment at `segment_path`, or fails
    /// with [`StoreError::Locked`] naming the holder's pid.
    pub fn acquire(lock_path: &Path, segment_path: &Path) -> Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(lock_path)
            .map_err(io_err("open lock file", lock_path))?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => {
                return Err(StoreError::Locked {
                    path: segment_path.to_path_buf(),
                    pid: read_pid(&mut file),
                });
            }
            Err(e) => {
                return Err(io_err("lock", lock_path)(std::io::Error::from(e)));
            }
        }
        // Write the pid first, then cut to its length: a reader sees either the old
        // holder's pid or ours, never an empty file after the first holder.
        let pid = format!("{}\n", std::process::id());
        file.write_all_at(pid.as_bytes(), 0)
            .and_then(|()| file.set_len(pid.len() as u64))
            .map_err(io_err("record pid in lock file", lock_path))?;
        Ok(SegmentLock { _file: file })
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    file.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}
