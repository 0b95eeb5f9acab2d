//! Reading segments: whole-file parse with torn-tail tolerance, reading from a
//! cursor, and the writer's cheap look at the tail.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memchr::{memchr_iter, memrchr};

use crate::entry::Entry;
use crate::error::{Result, StoreError, io_err};

/// An unterminated final line: the remains of an append a crash interrupted. It is
/// never part of the log; readers skip it and a writer truncates it on open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Byte offset where the torn bytes start (= length of the intact log).
    pub offset: u64,
    /// Number of torn bytes.
    pub len: u64,
}

/// The entries of a segment as they are on disk.
#[derive(Debug, Clone)]
pub struct SegmentRead {
    /// The segment file.
    pub path: PathBuf,
    /// Complete entries, in order (`entries[i].seq == i` for a whole-file read).
    pub entries: Vec<Entry>,
    /// Set when the file ends in an unterminated line.
    pub torn_tail: Option<TornTail>,
}

/// Parses a whole segment file's bytes, or only the entries with `seq > after`.
///
/// Line `n` (1-based) must hold `seq == n - 1`: the writer guarantees it (one line
/// per seq, torn lines truncated before appending), and it lets `after` skip lines
/// by counting newlines instead of parsing them.
pub(crate) fn parse_segment(path: &Path, bytes: &[u8], after: Option<u64>) -> Result<SegmentRead> {
    let (complete, torn_tail) = match memrchr(b'\n', bytes) {
        Some(last) => (&bytes[..=last], torn(bytes.len(), last + 1)),
        None => (&bytes[..0], torn(bytes.len(), 0)),
    };
    let skip = after.map_or(0, |a| a.saturating_add(1));
    let mut entries = Vec::new();
    let mut start = 0usize;
    for (idx, end) in memchr_iter(b'\n', complete).enumerate() {
        let line = &complete[start..end];
        start = end + 1;
        let expected = idx as u64;
        if expected < skip {
            continue;
        }
        let line_no = expected + 1;
        let entry: Entry = serde_json::from_slice(line).map_err(|e| StoreError::Corrupt {
            path: path.to_path_buf(),
            line: line_no,
            reason: format!("{e} (line starts {:?})", preview(line)),
        })?;
        if entry.seq != expected {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                line: line_no,
                reason: format!("expected seq {expected}, found {}", entry.seq),
            });
        }
        entries.push(entry);
    }
    Ok(SegmentRead {
        path: path.to_path_buf(),
        entries,
        torn_tail,
    })
}

fn torn(total: usize, intact: usize) -> Option<TornTail> {
    (total > intact).then(|| TornTail {
        offset: intact as u64,
        len: (total - intact) as u64,
    })
}

fn preview(line: &[u8]) -> String {
    String::from_utf8_lossy(&line[..line.len().min(60)]).into_owned()
}

/// What a writer needs from an existing segment: where the intact log ends and its
/// last complete entry. Reads only the tail of the file, so opening a writer costs
/// O(last entry), not O(segment).
pub(crate) struct Tail {
    /// Length of the intact log (everything up to and including the last newline).
    pub intact_len: u64,
    /// Bytes after it (a torn append), 0 when the file ends in a newline.
    pub torn_len: u64,
    /// The last complete entry, `None` when the file holds no complete line.
    pub last: Option<Entry>,
}

pub(crate) fn read_tail(path: &Path, file: &File) -> Result<Tail> {
    let len = file.metadata().map_err(io_err("stat", path))?.len();
    let mut window: u64 = 64 * 1024;
    loop {
        let from = len.saturating_sub(window);
        let mut buf = vec![0u8; (len - from) as usize];
        file.read_exact_at(&mut buf, from)
            .map_err(io_err("read tail of", path))?;
        let Some(last_nl) = memrchr(b'\n', &buf) else {
            if from == 0 {
                return Ok(Tail {
                    intact_len: 0,
                    torn_len: len,
                    last: None,
                });
            }
            window = window.saturating_mul(2);
            continue;
        };
        let line_start = match memrchr(b'\n', &buf[..last_nl]) {
            Some(p) => p + 1,
            None if from == 0 => 0,
            // The last line starts before the window: widen it.
            None => {
                window = window.saturating_mul(2);
                continue;
            }
        };
        let line = &buf[line_start..last_nl];
        let entry: Entry = serde_json::from_slice(line).map_err(|e| StoreError::Corrupt {
            path: path.to_path_buf(),
            line: 0,
            reason: format!(
                "last complete line (at byte {}) does not parse: {e}",
                from + line_start as u64
            ),
        })?;
        let intact_len = from + last_nl as u64 + 1;
        return Ok(Tail {
            intact_len,
            torn_len: len - intact_len,
            last: Some(entry),
        });
    }
}
