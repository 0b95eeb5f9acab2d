//! The Pod's durable record, kept by the `pod-store` crate
//! (`{pods}/{name}/metadata.json`): state `pending` → `active{session, segment}` and
//! the manifest a restore rebuilds from.
//!
//! This module is the runtime's narrow view of it: [`PodRecord`] carries the runtime's
//! own [`Manifest`] (provider knobs the store does not model travel in the store
//! manifest's `extra` map, so nothing is lost), and only the field-specific updates
//! the runtime needs are exposed.

use std::path::PathBuf;

use pod_ids::{PodName, SegmentId, SessionId};
use serde_json::{Map, Value};

use crate::launch::Manifest;

/// Lifecycle state of the record.
#[derive(Debug, Clone, PartialEq)]
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

/// The runtime's view of one Pod's record.
#[derive(Debug, Clone, PartialEq)]
pub struct PodRecord {
    /// Name.
    pub name: PodName,
    /// State.
    pub state: RecordState,
    /// The resolved snapshot a restore rebuilds from.
    pub manifest: Manifest,
    /// Parent Pod, for children (later issue).
    pub parent: Option<PodName>,
    /// When the record was created.
    pub created_at: time::OffsetDateTime,
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

/// Record errors name the Pod or file.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The pod store failed.
    #[error(transparent)]
    Store(#[from] pod_store::StoreError),
    /// The grant could not be written beside the record.
    #[error("cannot write the grant of Pod {name} in {dir}: {source}")]
    Grant {
        /// The Pod.
        name: PodName,
        /// Its record directory.
        dir: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The stored manifest is not one this runtime can run.
    #[error("pod record {path}: manifest is unusable: {message}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Manifest fields the store models itself; everything else goes to `extra`.
const STORE_FIELDS: &[&str] = &[
    "provider",
    "model",
    "base_url",
    "system_prompt_source",
    "tools",
    "scope",
    "cwd",
];

fn to_store(m: &Manifest) -> pod_store::Manifest {
    let extra: Map<String, Value> = match serde_json::to_value(m) {
        Ok(Value::Object(o)) => o
            .into_iter()
            .filter(|(k, _)| !STORE_FIELDS.contains(&k.as_str()))
            .collect(),
        _ => Map::new(),
    };
    pod_store::Manifest {
        provider: m.provider.clone(),
        model: m.model.clone(),
        base_url: Some(m.base_url.clone()),
        system_prompt: pod_store::SystemPrompt {
            source: m.system_prompt_source.clone(),
            text: String::new(),
        },
        tools: m.tools.clone(),
        scope: m.scope.clone(),
        cwd: m.cwd.clone(),
        extra,
    }
}

fn from_store(path: PathBuf, m: pod_store::Manifest) -> Result<Manifest, RecordError> {
    let mut o = m.extra;
    o.insert("provider".into(), Value::String(m.provider.clone()));
    o.insert("model".into(), Value::String(m.model));
    // A preset's own URL first: `openrouter` must never fall back to its dialect's
    // (api.openai.com) default.
    let base_url = m
        .base_url
        .or_else(|| {
            llm::Preset::lookup(&m.provider)
                .ok()
                .map(|p| p.base_url.to_owned())
        })
        .or_else(|| llm::ProviderKind::parse(&m.provider).map(|k| k.default_base_url().to_owned()));
    o.insert(
        "base_url".into(),
        base_url.map_or(Value::Null, Value::String),
    );
    o.insert(
        "system_prompt_source".into(),
        Value::String(m.system_prompt.source),
    );
    o.insert("tools".into(), serde_json::json!(m.tools));
    let scope = serde_json::to_value(&m.scope).map_err(|e| RecordError::Manifest {
        path: path.clone(),
        message: e.to_string(),
    })?;
    o.insert("scope".into(), scope);
    o.insert("cwd".into(), serde_json::json!(m.cwd));
    serde_json::from_value(Value::Object(o)).map_err(|e| RecordError::Manifest {
        path,
        message: e.to_string(),
    })
}

fn view(path: PathBuf, r: pod_store::PodRecord) -> Result<PodRecord, RecordError> {
    let state = match r.state {
        pod_store::PodState::Pending { session, .. } => RecordState::Pending { session },
        pod_store::PodState::Active { session, segment } => {
            RecordState::Active { session, segment }
        }
    };
    Ok(PodRecord {
        name: r.name,
        state,
        manifest: from_store(path, r.manifest)?,
        parent: r.parent.map(|p| p.name),
        created_at: r.created_at,
    })
}

/// The records under the pods root.
#[derive(Debug, Clone)]
pub struct RecordStore {
    store: pod_store::PodStore,
}

impl RecordStore {
    /// Records under `root` (`{data}/pods`).
    pub fn new(root: PathBuf) -> Self {
        RecordStore {
            store: pod_store::PodStore::new(root),
        }
    }

    /// The record of `name`, if any.
    pub fn load(&self, name: &PodName) -> Result<Option<PodRecord>, RecordError> {
        if !self.store.exists(name)? {
            return Ok(None);
        }
        let path = self.store.metadata_path(name);
        view(path, self.store.read(name)?).map(Some)
    }

    /// Creates the record in `pending` state (before the session log exists, so a
    /// crash in between restores as a fresh start), its `grant` written first.
    pub fn create_pending(
        &self,
        name: &PodName,
        session: SessionId,
        manifest: &Manifest,
        grant: &crate::grant::Grant,
    ) -> Result<PodRecord, RecordError> {
        if self.store.exists(name)? {
            return Err(pod_store::StoreError::AlreadyExists {
                name: name.clone(),
                path: self.store.metadata_path(name),
            }
            .into());
        }
        let dir = self.store.pod_dir(name);
        let grant_err = |source| RecordError::Grant {
            name: name.clone(),
            dir: dir.clone(),
            source,
        };
        crate::layout::ensure_private_dir(&dir).map_err(grant_err)?;
        // The new directory's entry must be durable before files in it matter.
        std::fs::File::open(self.store.root())
            .and_then(|d| d.sync_all())
            .map_err(grant_err)?;
        grant.write(&dir).map_err(grant_err)?;
        // The store wants the segment up front; the session store picks the real id
        // when it creates the segment, so this placeholder is only ever pending.
        let r =
            self.store
                .create_pending(name, session, SegmentId::new(), to_store(manifest), None)?;
        view(self.store.metadata_path(name), r)
    }

    /// Points the record at its active segment.
    pub fn set_active(
        &self,
        name: &PodName,
        session: SessionId,
        segment: SegmentId,
    ) -> Result<PodRecord, RecordError> {
        let r = self.store.set_active(name, session, segment)?;
        view(self.store.metadata_path(name), r)
    }

    /// Every record (unreadable ones as errors naming their file), sorted by name.
    pub fn list(&self) -> Vec<Result<PodRecord, RecordError>> {
        match self.store.list() {
            Ok(pods) => pods
                .into_iter()
                .map(|p| {
                    let path = p.path.clone();
                    p.record
                        .map_err(RecordError::from)
                        .and_then(|r| view(path, r))
                })
                .collect(),
            Err(e) => vec![Err(e.into())],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_through_the_store_with_extras() {
        let dir = tempfile::tempdir().unwrap();
        let store = RecordStore::new(dir.path().join("pods"));
        let m = Manifest {
            pins: Default::default(),
            provider: "anthropic".into(),
            dialect: None,
            reasoning_echo: Default::default(),
            base_url: "http://127.0.0.1:1".into(),
            api_key_env: Some("MY_KEY".into()),
            model: "m".into(),
            max_output_tokens: Some(77),
            headers: [("x-a".to_string(), "b".to_string())].into(),
            idle_timeout_secs: Some(9),
            call_limits: Default::default(),
            max_attempts: Some(2),
            system_prompt_source: "default".into(),
            allow_unconfined_shell: true,
            tools: vec!["bash".into()],
            scope: scope::Scope::allowing(vec![
                scope::ScopeRule::trusted("/w", scope::Access::Write, true).unwrap(),
            ]),
            cwd: "/w".into(),
            agent: Default::default(),
            work: None,
            workflow: None,
            mcp_servers: Default::default(),
            permissions: Default::default(),
            hooks: Default::default(),
        };
        let name = PodName::new("a").unwrap();
        let session = SessionId::new();
        let r = store
            .create_pending(
                &name,
                session,
                &m,
                &crate::grant::Grant::of(&m, "test", false),
            )
            .unwrap();
        assert_eq!(r.manifest, m);
        assert_eq!(r.state, RecordState::Pending { session });
        let seg = SegmentId::new();
        store.set_active(&name, session, seg).unwrap();
        let back = store.load(&name).unwrap().unwrap();
        assert_eq!(back.manifest, m);
        assert_eq!(back.active_segment(), Some((session, seg)));
        assert!(store.load(&PodName::new("b").unwrap()).unwrap().is_none());
    }
}
