//! Where things live under the sessions root, and the few durable filesystem steps
//! (private directories, directory fsync, atomic small-file writes).
//!
//! ```text
//! {root}/{session_id}/{segment_id}.jsonl   the segment log
//! {root}/{session_id}/{segment_id}.lock    flock'ed by the writer; holds its pid
//! {root}/index/{segment_id}                the session id (O(1) segment lookup)
//! ```
//!
//! Every path is the root joined with validated ids (UUIDs) and fixed names, so no
//! path ever leaves the root.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use pod_ids::{SegmentId, SessionId};

use crate::error::{Result, io_err};

/// Name of the index directory; not a UUID, so never mistaken for a session.
const INDEX_DIR: &str = "index";

/// Paths of one sessions root.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn session_dir(&self, session: SessionId) -> PathBuf {
        self.root.join(session.to_string())
    }
    pub fn segment_file(&self, session: SessionId, segment: SegmentId) -> PathBuf {
        self.session_dir(session).join(format!("{segment}.jsonl"))
    }
    pub fn lock_file(&self, session: SessionId, segment: SegmentId) -> PathBuf {
        self.session_dir(session).join(format!("{segment}.lock"))
    }
    pub fn index_dir(&self) -> PathBuf {
        self.root.join(INDEX_DIR)
    }
    pub fn index_entry(&self, segment: SegmentId) -> PathBuf {
        self.index_dir().join(segment.to_string())
    }
}

/// Creates `dir` (mode 0700) if missing. When it was created, fsyncs its parent so
/// the new directory entry survives a crash (a segment fsynced into a directory
/// whose own entry was lost would be lost with it).
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<()> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Only the root's own ancestors can be missing here (session and index
            // directories sit directly under the root).
            DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(dir)
                .map_err(io_err("create directory", dir))?;
            match dir.parent() {
                Some(parent) => sync_dir(parent),
                None => Ok(()),
            }
        }
        Err(e) => Err(io_err("create directory", dir)(e)),
    }
}

/// fsyncs a directory, making renames and creations inside it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

/// Opens a new private (0600) file for writing, failing if it exists.
pub(crate) fn create_private(path: &Path, append: bool) -> Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).create_new(true).mode(0o600);
    if append {
        o.append(true);
    } else {
        o.write(true);
    }
    o.open(path).map_err(io_err("create", path))
}

/// Replaces `path` with `bytes` atomically: temp file, fsync, rename, fsync dir.
/// The rename is the commit point: before it the old content (or nothing) is
/// visible, after it the complete new content.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    // A temp left by a crash is garbage from an uncommitted write; replace it.
    let _ = fs::remove_file(&tmp);
    let mut f = create_private(&tmp, false)?;
    f.write_all(bytes).map_err(io_err("write", &tmp))?;
    f.sync_all().map_err(io_err("fsync", &tmp))?;
    fs::rename(&tmp, path).map_err(io_err("rename into place", path))?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}
