//! Is a Pod's process alive? An exclusive `flock` on `{runtime}/{name}/lock`, taken by
//! the Pod process at start and held until it exits. The kernel drops the lock when the
//! process dies however it dies (SIGKILL included), so "lock held" = "process alive",
//! with no pid-reuse ambiguity. The holder's pid is written into the file for display.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

/// Held for the Pod process's life; dropping it releases the name.
#[derive(Debug)]
pub struct LivenessLock {
    _file: File,
}

/// Outcome of trying to take the lock.
#[derive(Debug)]
pub enum Acquire {
    /// We hold it now.
    Acquired(LivenessLock),
    /// A live process holds it (its pid, when readable).
    HeldBy(Option<u32>),
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    file.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

/// Takes the lock at `path` for this process, recording our pid.
pub fn acquire(path: &Path) -> io::Result<Acquire> {
    let mut file = open(path)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => return Ok(Acquire::HeldBy(read_pid(&mut file))),
        Err(e) => return Err(e.into()),
    }
    let pid = format!("{}\n", std::process::id());
    file.write_all_at(pid.as_bytes(), 0)?;
    file.set_len(pid.len() as u64)?;
    Ok(Acquire::Acquired(LivenessLock { _file: file }))
}

/// `Some(pid)` (pid may be unknown: `Some(None)`) when a live process holds the lock.
pub fn probe(path: &Path) -> Option<Option<u32>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(_) => return None,
    };
    // A shared probe lock conflicts with the holder's exclusive one and is dropped
    // with `file` right away, so probing never blocks a starting Pod for long.
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => None,
        Err(_) => Some(read_pid(&mut file)),
    }
}
