//! The Pod record as stored in `metadata.json`, and its top-level parts.
//!
//! Forward compatibility: unknown fields are tolerated on read. Top-level fields a
//! newer binary added are kept in [`PodRecord::unknown`] and written back unchanged,
//! so an older binary updating one field never drops another binary's data.

use std::path::PathBuf;

use pod_ids::{PodName, SegmentId, SessionId};
use scope::Scope;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::child::ChildRecord;
use crate::history::HistoryEvent;

/// Format version this crate writes. Readers accept any version; a record written
/// by a newer format keeps its (higher) version when we update it.
pub const FORMAT_VERSION: u32 = 1;

/// Everything the pod store knows about one Pod (ARCHITECTURE §6).
///
/// Obtained from [`crate::PodStore::read`] or returned by each update; there is no
/// operation that writes a whole record back, so holding an old copy can never
/// clobber someone else's update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodRecord {
    /// Format version of the record ([`FORMAT_VERSION`] when we created it).
    #[serde(default = "default_version")]
    pub version: u32,
    /// The Pod's name (equal to its directory name).
    pub name: PodName,
    /// When the record was created (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the record last changed (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Which session segment the Pod runs on, and whether it has started.
    pub state: PodState,
    /// The resolved settings a restore rebuilds the Pod from.
    pub manifest: Manifest,
    /// The Pod that spawned this one, if any.
    #[serde(default)]
    pub parent: Option<ParentLink>,
    /// Every child this Pod spawned, in spawn order; a name appears at most once.
    #[serde(default)]
    pub children: Vec<ChildRecord>,
    /// The most recent child lifecycle events, oldest first, bounded.
    #[serde(default)]
    pub history: Vec<HistoryEvent>,
    /// Top-level fields this version does not know, preserved on rewrite.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

fn default_version() -> u32 {
    FORMAT_VERSION
}

impl PodRecord {
    /// The child record named `child`, if any.
    pub fn child(&self, child: &PodName) -> Option<&ChildRecord> {
        self.children.iter().find(|c| &c.name == child)
    }

    pub(crate) fn child_mut(&mut self, child: &PodName) -> Option<&mut ChildRecord> {
        self.children.iter_mut().find(|c| &c.name == child)
    }
}

/// The Pod's pointer into the session store.
///
/// `pending` is written before the Pod's process first runs (two-phase spawn);
/// `active` once it runs on that segment. A restore replays `segment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum PodState {
    /// Prepared but not yet started on the segment.
    Pending {
        /// The session.
        session: SessionId,
        /// The segment the Pod will write.
        segment: SegmentId,
    },
    /// Running (or last ran) on the segment.
    Active {
        /// The session.
        session: SessionId,
        /// The segment the Pod writes.
        segment: SegmentId,
    },
}

impl PodState {
    /// The session, whatever the status.
    pub fn session(&self) -> SessionId {
        match *self {
            PodState::Pending { session, .. } | PodState::Active { session, .. } => session,
        }
    }

    /// The segment, whatever the status.
    pub fn segment(&self) -> SegmentId {
        match *self {
            PodState::Pending { segment, .. } | PodState::Active { segment, .. } => segment,
        }
    }

    /// Whether the Pod has started on its segment.
    pub fn is_active(&self) -> bool {
        matches!(self, PodState::Active { .. })
    }
}

/// The resolved snapshot a restore rebuilds a Pod from.
///
/// Holds no secrets: API keys are resolved from the environment or config at start,
/// never stored here (and `base_url` must not carry a key in its query).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Provider id (`openai`, `anthropic`, `openai-responses`, `gemini`, ...).
    pub provider: String,
    /// Model name as the provider spells it.
    pub model: String,
    /// Endpoint override, e.g. a local OpenAI-compatible server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Where the system prompt came from and its resolved text.
    #[serde(default)]
    pub system_prompt: SystemPrompt,
    /// Names of the tools the Pod was given.
    #[serde(default)]
    pub tools: Vec<String>,
    /// The Pod's own scope (allow + deny), canonical rules only.
    #[serde(default)]
    pub scope: Scope,
    /// Working directory.
    pub cwd: PathBuf,
    /// Forward-compatible settings (keys this version does not model).
    #[serde(default)]
    pub extra: Map<String, Value>,
}

/// The system prompt of a manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemPrompt {
    /// Where it came from: `default`, `file:/abs/path`, `inline`, `profile:NAME`.
    #[serde(default)]
    pub source: String,
    /// The resolved text the Pod was started with.
    #[serde(default)]
    pub text: String,
}

/// Link from a child Pod to the Pod that spawned it.
///
/// `socket` and `pid` are last-known hints, never proof that the parent is alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentLink {
    /// The parent's name.
    pub name: PodName,
    /// Last-known control socket of the parent.
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// Last-known pid of the parent.
    #[serde(default)]
    pub pid: Option<u32>,
}
