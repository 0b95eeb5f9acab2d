//! Process identity and liveness: `(pid, start time)` plus a per-start incarnation id.
//!
//! ARCHITECTURE §5: "liveness is `pid` alive *and* its start time (from
//! `/proc/PID/stat`) equal to the recorded one, so a reused pid is dead."

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::RegistryError;

/// A random id chosen once per process start of a Pod. Release and update act on it,
/// so an exiting process can never delete its successor of the same name.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Incarnation(Uuid);

impl Incarnation {
    /// A fresh random (v4) incarnation.
    pub fn random() -> Incarnation {
        Incarnation(uuid::Builder::from_random_bytes(rand::random()).into_uuid())
    }
}

impl fmt::Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Incarnation({})", self.0.hyphenated())
    }
}

impl FromStr for Incarnation {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Incarnation)
    }
}

/// Who holds an allocation: one start of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStamp {
    /// Random id of this process start.
    pub incarnation: Incarnation,
    /// The OS process id (a hint on its own: pids are reused).
    pub pid: u32,
    /// Field 22 of `/proc/PID/stat` (clock ticks since boot) when registered.
    pub pid_start_time: u64,
}

impl ProcessStamp {
    /// The stamp of the calling process with a fresh incarnation.
    pub fn current() -> Result<ProcessStamp, RegistryError> {
        let pid = std::process::id();
        Ok(ProcessStamp {
            incarnation: Incarnation::random(),
            pid,
            pid_start_time: process_start_time(pid)?,
        })
    }

    /// Whether this exact process start is still running (see [`is_alive`]).
    pub fn is_alive(&self) -> bool {
        is_alive(self.pid, self.pid_start_time)
    }
}

/// Reads the start time (field 22 of `/proc/PID/stat`) of a running process.
pub fn process_start_time(pid: u32) -> Result<u64, RegistryError> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|e| RegistryError::ProcessStat {
        pid,
        message: e.to_string(),
    })?;
    parse_stat(&text)
        .map(|s| s.start_time)
        .ok_or_else(|| RegistryError::ProcessStat {
            pid,
            message: format!("cannot parse {path}"),
        })
}

/// The fields of `/proc/PID/stat` the registry needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatFields {
    pub(crate) state: char,
    pub(crate) start_time: u64,
}

/// Parses `/proc/PID/stat`. Field 2 (`comm`) is in parentheses and may itself contain
/// spaces and `)`, so the fixed fields are taken after the *last* `)`: there, field 3
/// (state) is the first token and field 22 (starttime) the twentieth.
pub(crate) fn parse_stat(text: &str) -> Option<StatFields> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let start_time = fields.nth(22 - 4)?.parse().ok()?;
    Some(StatFields { state, start_time })
}

/// Whether process `pid` is running and started at `start_time`.
///
/// `kill(pid, 0)` answering `ESRCH` means gone. Success or `EPERM` (exists but not
/// ours) only means *some* process has that pid, so the start time must also match:
/// a reused pid is dead. A zombie (`Z`) or dead (`X`) task holds no scope either.
pub fn is_alive(pid: u32, start_time: u64) -> bool {
    let Some(raw) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(raw) {
        Ok(()) | Err(rustix::io::Errno::PERM) => {}
        Err(_) => return false,
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .as_deref()
        .and_then(parse_stat)
    {
        Some(s) => s.start_time == start_time && !matches!(s.state, 'Z' | 'X' | 'x'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_with_spaces_and_parens_is_parsed_after_the_last_paren() {
        let line =
            "1234 (evil) S 1 (x) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21";
        // After the last ')': R=3, then fields 4.. ; field 22 is the 20th token.
        let s = parse_stat(line).unwrap();
        assert_eq!(s.state, 'R');
        assert_eq!(s.start_time, 987654);
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (a) S 1 2"), None);
    }

    #[test]
    fn own_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = ProcessStamp::current().unwrap();
        assert!(me.is_alive());
        assert!(!is_alive(me.pid, me.pid_start_time + 1));
        assert!(!is_alive(0, 0));
        assert!(!is_alive(u32::MAX, 0));
    }
}
