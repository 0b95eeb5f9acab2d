//! The single writer of a segment.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use pod_ids::{SegmentId, SessionId};

use crate::entry::{EntryKind, EntryRef};
use crate::error::{Result, StoreError, io_err};
use crate::lock::SegmentLock;
use crate::store::now_ms;

/// Appends entries to one segment. Exactly one exists per segment at a time
/// (ARCHITECTURE §7: "one writer per segment"), enforced by an exclusive lock held
/// for the writer's lifetime; dropping it releases the lock.
#[derive(Debug)]
pub struct SegmentWriter {
    file: File,
    path: PathBuf,
    session_id: SessionId,
    segment_id: SegmentId,
    next_seq: u64,
    /// Length of the intact log: every byte before it belongs to a complete entry.
    len: u64,
    buf: Vec<u8>,
    poisoned: bool,
    _lock: SegmentLock,
}

impl SegmentWriter {
    /// `file` must be opened for append, `len` be its intact length (ending in a
    /// newline) and `next_seq` the seq after its last complete entry.
    pub(crate) fn new(
        file: File,
        path: PathBuf,
        session_id: SessionId,
        segment_id: SegmentId,
        next_seq: u64,
        len: u64,
        lock: SegmentLock,
    ) -> Self {
        SegmentWriter {
            file,
            path,
            session_id,
            segment_id,
            next_seq,
            len,
            buf: Vec::with_capacity(4096),
            poisoned: false,
            _lock: lock,
        }
    }

    /// Appends one entry and returns its seq. Turn boundaries (`turn_end`,
    /// `run_completed`, `run_errored`) are fsynced before returning; other entries
    /// are durable at the next boundary or [`sync`](Self::sync).
    pub fn append(&mut self, kind: &EntryKind) -> Result<u64> {
        if matches!(kind, EntryKind::Unknown(_)) {
            return Err(StoreError::AppendUnknown);
        }
        if self.poisoned {
            return Err(StoreError::Poisoned {
                path: self.path.clone(),
            });
        }
        let seq = self.next_seq;
        self.buf.clear();
        let entry = EntryRef {
            seq,
            ts_ms: now_ms(),
            kind,
        };
        serde_json::to_writer(&mut self.buf, &entry).map_err(|source| StoreError::Encode {
            path: self.path.clone(),
            source,
        })?;
        self.buf.push(b'\n');
        self.write_line()?;
        self.next_seq += 1;
        if kind.is_turn_boundary() {
            self.sync()?;
        }
        Ok(seq)
    }

    /// Writes `self.buf` (one whole line) with a single `write`. That write is the
    /// commit point of the entry: a crash before it leaves the log unchanged, a crash
    /// during it leaves an unterminated tail that readers skip and the next writer
    /// truncates. Two writes (line, then newline) could interleave or glue entries.
    fn write_line(&mut self) -> Result<()> {
        let written = loop {
            match (&self.file).write(&self.buf) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match written {
            Ok(n) if n == self.buf.len() => {
                self.len += n as u64;
                Ok(())
            }
            Ok(n) => {
                self.roll_back();
                Err(io_err("append to", &self.path)(std::io::Error::new(
                    ErrorKind::WriteZero,
                    format!("short write: {n} of {} bytes (disk full?)", self.buf.len()),
                )))
            }
            Err(e) => {
                self.roll_back();
                Err(io_err("append to", &self.path)(e))
            }
        }
    }

    /// Cuts a partially written entry off again so the next append does not glue
    /// onto it. If even that fails, the writer refuses further appends.
    fn roll_back(&mut self) {
        if let Err(e) = self.file.set_len(self.len) {
            tracing::error!(path = %self.path.display(), error = %e, "cannot roll back a failed append; writer poisoned");
            self.poisoned = true;
        }
    }

    /// Makes every entry appended so far durable (fdatasync: the file size is
    /// data for this purpose, so appended lines are covered).
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_data().map_err(io_err("fsync", &self.path))
    }

    /// The seq the next append will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The segment being written.
    pub fn segment_id(&self) -> SegmentId {
        self.segment_id
    }

    /// The session the segment belongs to.
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// The segment file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
