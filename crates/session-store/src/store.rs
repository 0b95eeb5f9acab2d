//! [`SessionStore`]: the entry point. Creates, finds, reads, replays, forks and
//! compacts segments under one sessions root.

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use pod_ids::{SegmentId, SessionId};
use transcript::{Item, RequestConfig, ToolSpec};

use crate::entry::{EntryKind, EntryRef, Lineage, SegmentStart};
use crate::error::{Result, StoreError, io_err};
use crate::layout::{Layout, create_private, ensure_private_dir, sync_dir, write_atomic};
use crate::lock::SegmentLock;
use crate::reader::{SegmentRead, parse_segment, read_tail};
use crate::replay::{Replayed, replay_entries};
use crate::writer::SegmentWriter;

/// What a new (non-derived) segment starts from.
#[derive(Debug, Clone, Default)]
pub struct NewSegment {
    /// The session to add the segment to; `None` starts a new session.
    pub session_id: Option<SessionId>,
    /// The system prompt.
    pub system_prompt: String,
    /// The initial request config.
    pub config: RequestConfig,
    /// Tools offered to the model.
    pub tools: Vec<ToolSpec>,
    /// Seed history (usually empty).
    pub history: Vec<Item>,
}

/// Options of [`SessionStore::fork_with`].
#[derive(Debug, Clone, Default)]
pub struct ForkOptions {
    /// Put the new segment in a new session instead of the source's.
    pub new_session: bool,
    /// Replace the system prompt (`None`: keep the source's).
    pub system_prompt: Option<String>,
}

/// The session logs under one root (`{data}/sessions` by default).
///
/// Knows nothing of Pods; touches nothing outside its root.
#[derive(Debug, Clone)]
pub struct SessionStore {
    layout: Layout,
}

impl SessionStore {
    /// A store rooted at `root`. Does no I/O; directories are created (0700) on the
    /// first segment creation.
    pub fn new(root: PathBuf) -> Self {
        SessionStore {
            layout: Layout { root },
        }
    }

    /// The sessions root.
    pub fn root(&self) -> &Path {
        &self.layout.root
    }

    /// Creates a segment (in a new session unless `new.session_id` is set) and
    /// returns its writer. The `segment_start` entry is durable when this returns.
    pub fn create_segment(&self, new: NewSegment) -> Result<SegmentWriter> {
        self.create_from_start(SegmentStart {
            session_id: new.session_id.unwrap_or_default(),
            segment_id: SegmentId::new(),
            system_prompt: new.system_prompt,
            config: new.config,
            tools: new.tools,
            history: new.history,
            forked_from: None,
            compacted_from: None,
        })
    }

    /// Opens the writer of an existing segment: takes its lock (failing with
    /// [`StoreError::Locked`] naming the holder's pid), truncates a torn tail, and
    /// continues `seq` after the last complete entry.
    pub fn open_writer(&self, segment_id: SegmentId) -> Result<SegmentWriter> {
        let session = self.session_of(segment_id)?;
        let path = self.layout.segment_file(session, segment_id);
        let lock = SegmentLock::acquire(&self.layout.lock_file(session, segment_id), &path)?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| not_found_or(e, segment_id, &path, "open"))?;
        let tail = read_tail(&path, &file)?;
        let Some(last) = tail.last else {
            return Err(StoreError::MissingStart { path });
        };
        if tail.torn_len > 0 {
            tracing::warn!(path = %path.display(), torn_bytes = tail.torn_len, "truncating torn tail of segment");
            // The torn bytes are an append a crash interrupted; it never returned, so
            // no one relies on it. Cutting back to the last newline (and fsyncing
            // before appending) makes the next entry start on a fresh line instead
            // of being glued onto the fragment. Repeating this after a crash is
            // harmless: the result is the same.
            file.set_len(tail.intact_len)
                .and_then(|()| file.sync_data())
                .map_err(io_err("truncate torn tail of", &path))?;
        }
        Ok(SegmentWriter::new(
            file,
            path,
            session,
            segment_id,
            last.seq + 1,
            tail.intact_len,
            lock,
        ))
    }

    /// Every complete entry of a segment, plus its torn tail if any. A line that
    /// does not parse (other than a torn last one) is [`StoreError::Corrupt`] naming
    /// the file and line.
    pub fn read_segment(&self, segment_id: SegmentId) -> Result<SegmentRead> {
        self.read(segment_id, None)
    }

    /// The entries with `seq > after_seq` (a cursor for "snapshot since"); lines
    /// before it are counted, not parsed.
    pub fn read_from(&self, segment_id: SegmentId, after_seq: u64) -> Result<SegmentRead> {
        self.read(segment_id, Some(after_seq))
    }

    fn read(&self, segment_id: SegmentId, after: Option<u64>) -> Result<SegmentRead> {
        let path = self.segment_path(segment_id)?;
        let bytes = fs::read(&path).map_err(|e| not_found_or(e, segment_id, &path, "read"))?;
        parse_segment(&path, &bytes, after)
    }

    /// Replays a segment into the state a runtime restores from.
    pub fn replay(&self, segment_id: SegmentId) -> Result<Replayed> {
        let read = self.read_segment(segment_id)?;
        replay_entries(&read.path, read.entries, read.torn_tail, None)
    }

    /// Creates a new segment in the same session whose seed history is `segment_id`'s
    /// history up to the end of turn `at_turn` (rewind and fork). The source is not
    /// modified. Fails with [`StoreError::UnknownTurn`] if the segment has no such turn.
    pub fn fork(&self, segment_id: SegmentId, at_turn: u64) -> Result<SegmentWriter> {
        let cut = self.replay_until(segment_id, at_turn)?;
        self.create_from_start(SegmentStart {
            session_id: cut.session_id,
            segment_id: SegmentId::new(),
            system_prompt: cut.system_prompt,
            config: cut.config,
            tools: cut.tools,
            history: cut.history,
            forked_from: Some(Lineage {
                segment_id,
                at_turn,
            }),
            compacted_from: None,
        })
    }

    /// Like [`Self::fork`], with options: into a new session (a fork that becomes
    /// another owner's history, so deleting either session never deletes the other's
    /// segments; lookups by segment id still find the source), and/or with a new
    /// system prompt (the new owner's). The source is not modified.
    pub fn fork_with(
        &self,
        segment_id: SegmentId,
        at_turn: u64,
        opts: ForkOptions,
    ) -> Result<SegmentWriter> {
        let cut = self.replay_until(segment_id, at_turn)?;
        self.create_from_start(SegmentStart {
            session_id: if opts.new_session {
                SessionId::new()
            } else {
                cut.session_id
            },
            segment_id: SegmentId::new(),
            system_prompt: opts.system_prompt.unwrap_or(cut.system_prompt),
            config: cut.config,
            tools: cut.tools,
            history: cut.history,
            forked_from: Some(Lineage {
                segment_id,
                at_turn,
            }),
            compacted_from: None,
        })
    }

    /// Creates a new segment in the same session that continues `segment_id` after
    /// turn `at_turn` with `seed` (a summary) as its history. The source is not
    /// modified. Fails with [`StoreError::UnknownTurn`] if the segment has no such turn.
    pub fn compact(
        &self,
        segment_id: SegmentId,
        at_turn: u64,
        seed: Vec<Item>,
    ) -> Result<SegmentWriter> {
        let cut = self.replay_until(segment_id, at_turn)?;
        self.create_from_start(SegmentStart {
            session_id: cut.session_id,
            segment_id: SegmentId::new(),
            system_prompt: cut.system_prompt,
            config: cut.config,
            tools: cut.tools,
            history: seed,
            forked_from: None,
            compacted_from: Some(Lineage {
                segment_id,
                at_turn,
            }),
        })
    }

    fn replay_until(&self, segment_id: SegmentId, at_turn: u64) -> Result<Replayed> {
        let read = self.read_segment(segment_id)?;
        replay_entries(&read.path, read.entries, read.torn_tail, Some(at_turn))
    }

    /// Stores image (or other) bytes content-addressed beside the logs and returns
    /// their SHA-256, which log entries refer to.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String> {
        crate::blobs::put(&self.layout.root, bytes)
    }

    /// Bytes stored by [`Self::put_blob`], verified against their hash; `None` when
    /// no such blob exists.
    pub fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        crate::blobs::get(&self.layout.root, sha256)
    }

    /// Removes image blobs that no segment of any session mentions and that were
    /// not stored or re-stored in the last `min_age` (see `blobs::sweep` for why
    /// that is safe beside running Pods). Called after sessions are removed.
    pub fn sweep_blobs(&self, min_age: std::time::Duration) -> Result<crate::Swept> {
        crate::blobs::sweep(&self.layout.root, min_age, || {
            let mut files = Vec::new();
            for session in self.list_sessions()? {
                for seg in self.list_segments(session)? {
                    files.push(self.layout.segment_file(session, seg));
                }
            }
            Ok(files)
        })
    }

    /// All sessions, sorted (oldest first: ids are UUIDv7). Entries of the root that
    /// are not session directories are ignored.
    pub fn list_sessions(&self) -> Result<Vec<SessionId>> {
        let mut out: Vec<SessionId> = list_names(&self.layout.root)?
            .into_iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        out.sort();
        Ok(out)
    }

    /// The segments of a session, sorted (oldest first). Lock and temp files are
    /// ignored.
    pub fn list_segments(&self, session: SessionId) -> Result<Vec<SegmentId>> {
        let mut out: Vec<SegmentId> = list_names(&self.layout.session_dir(session))?
            .into_iter()
            .filter_map(|n| n.strip_suffix(".jsonl")?.parse().ok())
            .collect();
        out.sort();
        Ok(out)
    }

    /// The session a segment belongs to, from its index entry: one small file read,
    /// however many sessions exist.
    pub fn session_of(&self, segment_id: SegmentId) -> Result<SessionId> {
        let path = self.layout.index_entry(segment_id);
        let text =
            fs::read_to_string(&path).map_err(|e| not_found_or(e, segment_id, &path, "read"))?;
        text.trim().parse().map_err(|e| StoreError::Corrupt {
            path,
            line: 1,
            reason: format!("index entry does not hold a session id: {e}"),
        })
    }

    /// The file of a segment, found without scanning sessions (see [`Self::session_of`]).
    pub fn segment_path(&self, segment_id: SegmentId) -> Result<PathBuf> {
        Ok(self
            .layout
            .segment_file(self.session_of(segment_id)?, segment_id))
    }

    /// Deletes a whole session: its segments' index entries, then its directory.
    /// Refused while any of its segments is held by a writer (a live Pod). A crash
    /// half-way leaves a directory without some index entries, which lookups report
    /// as missing segments and `rebuild_index` restores; it never leaves an index
    /// entry pointing at a deleted session that a new session could be mistaken for
    /// (ids are never reused). Returns how many segments were removed.
    pub fn remove_session(&self, session: SessionId) -> Result<usize> {
        if !self.layout.session_dir(session).exists() {
            return Ok(0);
        }
        let segments = self.list_segments(session)?;
        let locks: Vec<SegmentLock> = segments
            .iter()
            .map(|s| {
                SegmentLock::acquire(
                    &self.layout.lock_file(session, *s),
                    &self.layout.segment_file(session, *s),
                )
            })
            .collect::<Result<_>>()?;
        for s in &segments {
            let entry = self.layout.index_entry(*s);
            match fs::remove_file(&entry) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", &entry)(e)),
            }
        }
        let dir = self.layout.session_dir(session);
        drop(locks);
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &dir)(e)),
        }
        sync_dir(&self.layout.root)?;
        Ok(segments.len())
    }

    /// Rewrites the index entry of every segment found under the root, e.g. after
    /// session directories were copied in from another machine. The only operation
    /// that scans all sessions; lookups never do. Returns how many entries it wrote.
    pub fn rebuild_index(&self) -> Result<usize> {
        ensure_private_dir(&self.layout.root)?;
        ensure_private_dir(&self.layout.index_dir())?;
        let mut written = 0;
        for session in self.list_sessions()? {
            for segment in self.list_segments(session)? {
                let entry = self.layout.index_entry(segment);
                if self.session_of(segment).ok() != Some(session) {
                    // Same atomic write as at creation: the rename is the commit point.
                    write_atomic(&entry, format!("{session}\n").as_bytes())?;
                    written += 1;
                }
            }
        }
        Ok(written)
    }

    fn create_from_start(&self, start: SegmentStart) -> Result<SegmentWriter> {
        let (session, segment) = (start.session_id, start.segment_id);
        ensure_private_dir(&self.layout.root)?;
        ensure_private_dir(&self.layout.index_dir())?;
        let dir = self.layout.session_dir(session);
        ensure_private_dir(&dir)?;
        // Index first: a crash after this but before the segment exists leaves an
        // index entry pointing at nothing (read as "not found", like never created);
        // the reverse order could leave a segment that can never be found.
        write_atomic(
            &self.layout.index_entry(segment),
            format!("{session}\n").as_bytes(),
        )?;
        let path = self.layout.segment_file(session, segment);
        let lock = SegmentLock::acquire(&self.layout.lock_file(session, segment), &path)?;
        let mut line = serde_json::to_vec(&EntryRef {
            seq: 0,
            ts_ms: now_ms(),
            kind: &EntryKind::SegmentStart(Box::new(start)),
        })
        .map_err(|source| StoreError::Encode {
            path: path.clone(),
            source,
        })?;
        line.push(b'\n');
        // Written under a temp name, fsynced, then renamed: the rename is the commit
        // point, so a segment file always begins with a complete segment_start.
        let tmp = path.with_extension("tmp");
        let _ = fs::remove_file(&tmp);
        let file = create_private(&tmp, true)?;
        std::io::Write::write_all(&mut &file, &line).map_err(io_err("write", &tmp))?;
        file.sync_all().map_err(io_err("fsync", &tmp))?;
        fs::rename(&tmp, &path).map_err(io_err("rename into place", &path))?;
        sync_dir(&dir)?;
        Ok(SegmentWriter::new(
            file,
            path,
            session,
            segment,
            1,
            line.len() as u64,
            lock,
        ))
    }
}

fn list_names(dir: &Path) -> Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    let mut names = Vec::new();
    for ent in rd {
        let ent = ent.map_err(io_err("list", dir))?;
        if let Ok(n) = ent.file_name().into_string() {
            names.push(n);
        }
    }
    Ok(names)
}

fn not_found_or(
    e: std::io::Error,
    segment_id: SegmentId,
    path: &Path,
    op: &'static str,
) -> StoreError {
    if e.kind() == ErrorKind::NotFound {
        StoreError::SegmentNotFound {
            segment_id,
            path: path.to_path_buf(),
        }
    } else {
        io_err(op, path)(e)
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
