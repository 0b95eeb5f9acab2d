//! The registry lock: an exclusive `flock` on a separate lock file, taken with a
//! deadline so a hung holder produces an error naming its pid, never an endless wait.
//!
//! Protocol: open (create 0600) `registry.lock`; try `LOCK_EX | LOCK_NB` in a loop with
//! short, jittered, growing sleeps until the deadline; once held, overwrite the file
//! with our pid so a waiter that times out can name us. The kernel drops the lock when
//! the holder's descriptor closes, including when the holder is SIGKILLed, so a dead
//! holder never blocks the next caller. A stale pid left in the file is only a hint.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};

use crate::error::RegistryError;

/// First and longest sleep between lock attempts. Lock holds are a few milliseconds,
/// so waiters should look again soon, but not spin.
const FIRST_BACKOFF: Duration = Duration::from_micros(200);
const MAX_BACKOFF: Duration = Duration::from_millis(20);

/// Holds the registry lock until dropped (closing the descriptor releases it).
#[derive(Debug)]
pub struct RegistryLock {
    _file: File,
}

/// Takes the lock at `path`, waiting at most `deadline`.
pub(crate) fn acquire(path: &Path, deadline: Duration) -> Result<RegistryLock, RegistryError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(RegistryError::io(path))?;
    let start = Instant::now();
    let mut backoff = FIRST_BACKOFF;
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let waited = start.elapsed();
                if waited >= deadline {
                    return Err(timeout(path, &mut file, waited));
                }
                // Jitter keeps contending processes from retrying in lockstep.
                let jitter = rand::random_range(0..=backoff.as_micros() as u64);
                let nap = (backoff / 2 + Duration::from_micros(jitter / 2)).min(deadline - waited);
                std::thread::sleep(nap);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => {
                return Err(RegistryError::Io {
                    path: path.to_owned(),
                    source: e.into(),
                });
            }
        }
    }
    write_holder_pid(&mut file).map_err(RegistryError::io(path))?;
    Ok(RegistryLock { _file: file })
}

/// Not fsynced: the pid is a diagnostic hint, worthless after a reboot anyway.
fn write_holder_pid(file: &mut File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes())
}

fn timeout(path: &Path, file: &mut File, waited: Duration) -> RegistryError {
    let mut text = String::new();
    let holder = match file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut text))
    {
        Ok(_) => match text.trim().parse::<u32>() {
            Ok(pid) => format!(" by pid {pid}"),
            Err(_) => String::new(),
        },
        Err(_) => String::new(),
    };
    RegistryError::LockTimeout {
        path: PathBuf::from(path),
        waited,
        holder,
    }
}
