//! Pod records (`metadata.json`): arbitrary bytes where a record should be, read,
//! listed, and (every eighth input) updated, which must refuse a record it cannot
//! read without touching the file.

use std::path::PathBuf;

use pod_ids::{PodName, SegmentId, SessionId};
use pod_store::{ChildSpec, Manifest, ParentLink, PodStore, StoreError};
use scope::{Access, Scope, ScopeRule};

use crate::fuzz::Target;

/// A store holding one Pod, `fuzz`, whose record each input replaces.
pub struct PodRecord {
    _dir: tempfile::TempDir,
    store: PodStore,
    name: PodName,
    path: PathBuf,
    corpus: Vec<Vec<u8>>,
}

impl PodRecord {
    /// A store with a real record built through its own API (children in every
    /// state, history, a parent link, a manifest with scope).
    pub fn new() -> anyhow::Result<PodRecord> {
        let dir = crate::targets::scratch_dir()?;
        let store = PodStore::new(dir.path().join("pods"));
        let name: PodName = "fuzz".parse()?;
        let rule = |p: &str, a| ScopeRule::trusted(p, a, true);
        let manifest = Manifest {
            provider: "openai".into(),
            model: "gpt-test".into(),
            tools: vec!["read_file".into(), "bash".into()],
            scope: Scope {
                allow: vec![rule("/w", Access::Write)?, rule("/usr", Access::Read)?],
                deny: vec![rule("/w/secret", Access::Read)?],
            },
            cwd: "/w".into(),
            ..Manifest::default()
        };
        let (session, segment) = (SessionId::new(), SegmentId::new());
        store.create_pending(&name, session, segment, manifest, None)?;
        store.set_active(&name, session, segment)?;
        store.set_parent(
            &name,
            Some(ParentLink {
                name: "lead".parse()?,
                socket: Some("/run/pods/lead/sock".into()),
                pid: Some(4242),
            }),
        )?;
        let mut corpus = vec![std::fs::read(store.metadata_path(&name))?];
        for (i, child) in ["alpha", "beta", "gamma"].into_iter().enumerate() {
            let child: PodName = child.parse()?;
            store.add_pending_child(
                &name,
                ChildSpec {
                    name: child.clone(),
                    write: vec![rule(&format!("/w/{child}"), Access::Write)?],
                    read: vec![],
                },
            )?;
            if i >= 1 {
                store.mark_child_live(&name, &child, None, Some(100 + i as u32))?;
            }
            if i >= 2 {
                store.reclaim_child(&name, &child, "exited")?;
            }
        }
        corpus.push(std::fs::read(store.metadata_path(&name))?);
        let path = store.metadata_path(&name);
        Ok(PodRecord {
            _dir: dir,
            store,
            name,
            path,
            corpus,
        })
    }
}

impl Target for PodRecord {
    fn name(&self) -> &'static str {
        "pod-record"
    }

    fn corpus(&self) -> Vec<Vec<u8>> {
        self.corpus.clone()
    }

    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            br#""status":"lost""#,
            br#""status":"reclaimed""#,
            br#""state":{"pending":{}}"#,
            br#""version":99"#,
            br#""name":"other""#,
        ]
    }

    fn accepts(&self, input: &[u8]) -> bool {
        std::fs::write(&self.path, input).is_ok() && self.store.read(&self.name).is_ok()
    }

    fn check(&self, input: &[u8], knob: u64) -> Result<(), String> {
        std::fs::write(&self.path, input).map_err(|e| e.to_string())?;
        let read = self.store.read(&self.name);
        let listed = self.store.list().map_err(|e| format!("list failed: {e}"))?;
        if listed.len() != 1 {
            return Err(format!("{} pods listed, want 1", listed.len()));
        }
        match &read {
            Ok(record) => {
                let bytes = serde_json::to_vec(record).map_err(|e| e.to_string())?;
                let back: pod_store::PodRecord = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("a record read back does not parse again: {e}"))?;
                if &back != record {
                    return Err("a record changes when written and read back".into());
                }
            }
            Err(e) => clear_error(e)?,
        }
        if (knob >> 16).is_multiple_of(8) {
            let updated = self.store.set_parent(&self.name, None);
            match (&read, updated) {
                (Ok(_), Err(e)) => return Err(format!("update of a readable record failed: {e}")),
                (Err(_), Ok(_)) => return Err("update of an unreadable record succeeded".into()),
                (Err(_), Err(_)) => {
                    let now = std::fs::read(&self.path).map_err(|e| e.to_string())?;
                    if now != input {
                        return Err("a refused update changed the file".into());
                    }
                }
                (Ok(_), Ok(_)) => {}
            }
        }
        Ok(())
    }
}

/// An unreadable record is `Corrupt` naming the line (and column where serde has
/// one; 0 at the end of input) or, for a record of another name, saying so.
fn clear_error(e: &StoreError) -> Result<(), String> {
    match e {
        StoreError::Corrupt {
            line,
            column,
            message,
            ..
        } if (*line > 0 && message.contains(&format!("column {column}")))
            || message.contains("name field") =>
        {
            Ok(())
        }
        other => Err(format!("unclear or unexpected error: {other} ({other:?})")),
    }
}
