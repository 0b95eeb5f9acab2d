//! The Pod's durable record: `{pods}/{name}/record.json` with its state (`pending` →
//! `active{session, segment}`) and manifest.
//!
//! Interim: this is the narrow slice of ARCHITECTURE §6 the runtime needs, kept behind
//! these few functions so the `pod-store` crate can replace the file format without
//! touching the controller.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use pod_ids::{PodName, SegmentId, SessionId};
use serde::{Deserialize, Serialize};

use crate::launch::Manifest;
use crate::layout::ensure_private_dir;

/// Lifecycle state of the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RecordState {
    /// Created; the session log is not (known to be) written yet. A restore of a
    /// pending Pod is a fresh start under the same name.
    Pending {
        /// The session the Pod will use.
        session: SessionId,
    },
    /// The active segment exists.
    Active {
        /// Session.
        session: SessionId,
        /// Active segment.
        segment: SegmentId,
    },
}

/// One Pod's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodRecord {
    /// Name.
    pub name: PodName,
    /// Unix ms.
    pub created_at: u64,
    /// Unix ms.
    pub updated_at: u64,
    /// State.
    #[serde(flatten)]
    pub state: RecordState,
    /// The resolved snapshot a restore rebuilds from.
    pub manifest: Manifest,
    /// Parent Pod, for children (later issue).
    #[serde(default)]
    pub parent: Option<PodName>,
}

impl PodRecord {
    /// Session and active segment, when active.
    pub fn active_segment(&self) -> Option<(SessionId, SegmentId)> {
        match self.state {
            RecordState::Active { session, segment } => Some((session, segment)),
            RecordState::Pending { .. } => None,
        }
    }
}

/// Record errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// I/O on a record file.
    #[error("pod record {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file does not parse.
    #[error("pod record {path} is corrupt: {message}; move it away to forget this Pod")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
}

/// The records under the pods root.
#[derive(Debug, Clone)]
pub struct RecordStore {
    root: PathBuf,
}

/// Unix time in ms.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl RecordStore {
    /// Records under `root` (`{data}/pods`).
    pub fn new(root: PathBuf) -> Self {
        RecordStore { root }
    }

    fn path(&self, name: &PodName) -> PathBuf {
        self.root.join(name.as_str()).join("record.json")
    }

    /// The record of `name`, if any.
    pub fn load(&self, name: &PodName) -> Result<Option<PodRecord>, RecordError> {
        let path = self.path(name);
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| RecordError::Corrupt {
                        path,
                        message: e.to_string(),
                    })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(RecordError::Io { path, source }),
        }
    }

    /// Writes `record` atomically.
    pub fn save(&self, record: &PodRecord) -> Result<(), RecordError> {
        let path = self.path(&record.name);
        let io = |source| RecordError::Io {
            path: path.clone(),
            source,
        };
        let dir = path.parent().unwrap_or(Path::new("/"));
        ensure_private_dir(dir).map_err(io)?;
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| RecordError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        tmp.write_all(&bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        // The rename is the commit point: before it the old record is intact, after it
        // the new one is complete (it was fsynced above); the dir fsync makes it durable.
        tmp.persist(&path).map_err(|e| io(e.error))?;
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        Ok(())
    }

    /// Every record (unparsable ones as errors naming their file), sorted by name.
    pub fn list(&self) -> Vec<Result<PodRecord, RecordError>> {
        let Ok(dir) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut names: Vec<PodName> = dir
            .filter_map(|e| e.ok())
            .filter_map(|e| PodName::new(e.file_name().to_string_lossy().into_owned()).ok())
            .collect();
        names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        names
            .iter()
            .filter_map(|n| self.load(n).transpose())
            .collect()
    }
}
