//! Discovery: the Pod tree from the pod store and the live registry, through their
//! crate APIs only (never by reading their files).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pod_ids::{PodName, Roots};
use pod_registry::{AnyRegistry, FileRegistry, Registry};
use pod_store::{ChildStatus, PodStore};

use crate::tree::{Discovered, PodInfo, WorkLink, short_scope};

fn write_paths<'a>(rules: impl Iterator<Item = &'a scope::ScopeRule>) -> Vec<PathBuf> {
    rules
        .filter(|r| r.access == scope::Access::Write)
        .map(|r| r.path.as_path().to_path_buf())
        .collect()
}

/// The work grant the `pod` crate keeps in the manifest's `work` field. Read as
/// JSON here: its type lives in the `pod` crate, which depends on this one. A
/// grant this version cannot read is treated as none (the view only loses a line).
fn work_link(v: &serde_json::Value) -> Option<WorkLink> {
    Some(WorkLink {
        store: PathBuf::from(v.get("store")?.as_str()?),
        item: v.get("item").and_then(|i| i.as_str()).map(str::to_owned),
        rights: v
            .get("rights")
            .and_then(|r| r.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// The live registry as the user configured it (`pod` knows how to open it: the
/// PostgreSQL backend is chosen in the user's config, which this crate does not
/// read). Opened by the first discovery that needs it, off the terminal's thread,
/// and opened again after a failure: a database that was down when the dashboard
/// started is picked up once it is back.
#[derive(Clone)]
pub struct LiveRegistry {
    open: Arc<dyn Fn() -> Result<AnyRegistry, String> + Send + Sync>,
    opened: Arc<Mutex<Option<AnyRegistry>>>,
}

impl LiveRegistry {
    /// A registry opened by `open` when first needed.
    pub fn new(open: impl Fn() -> Result<AnyRegistry, String> + Send + Sync + 'static) -> Self {
        LiveRegistry {
            open: Arc::new(open),
            opened: Arc::new(Mutex::new(None)),
        }
    }

    fn list(&self) -> Result<Vec<pod_registry::Allocation>, String> {
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        let registry = match opened.take() {
            Some(r) => opened.insert(r),
            None => opened.insert((self.open)()?),
        };
        registry.list().map_err(|e| e.to_string())
    }
}

impl std::fmt::Debug for LiveRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveRegistry")
    }
}

/// One discovery pass, reading `registry` (else the file registry under `roots`).
/// Problems (unreadable records, a registry that cannot be opened or reached) are
/// reported in [`Discovered::problems`]; the rest still lists.
pub fn discover(roots: &Roots, home: Option<&Path>, registry: Option<&LiveRegistry>) -> Discovered {
    let mut problems = Vec::new();
    let mut pods: BTreeMap<PodName, PodInfo> = BTreeMap::new();
    // Children known only from their parent's record (spawn in progress, or lost
    // before their own record was written) still appear in the tree.
    let mut child_records: Vec<(PodName, pod_store::ChildRecord)> = Vec::new();
    match PodStore::new(&roots.pods).list() {
        Ok(list) => {
            for listed in list {
                match listed.record {
                    Ok(rec) => {
                        let mut info = PodInfo::named(rec.name.clone());
                        info.parent = rec.parent.as_ref().map(|p| p.name.clone());
                        info.model = rec.manifest.model.clone();
                        info.write_short =
                            short_scope(&write_paths(rec.manifest.scope.write_rules()), home);
                        info.pending = !rec.state.is_active();
                        info.cwd = Some(rec.manifest.cwd.clone());
                        info.readable = rec
                            .manifest
                            .scope
                            .allow
                            .iter()
                            .map(|r| r.path.as_path().to_path_buf())
                            .collect();
                        info.segment = Some(rec.state.segment());
                        info.work = rec.manifest.extra.get("work").and_then(work_link);
                        for c in &rec.children {
                            child_records.push((rec.name.clone(), c.clone()));
                        }
                        pods.insert(rec.name, info);
                    }
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    for (parent, c) in child_records {
        let info = pods.entry(c.name.clone()).or_insert_with(|| {
            let mut i = PodInfo::named(c.name.clone());
            i.stored = false;
            i.write_short = short_scope(&write_paths(c.write.iter()), home);
            i.pending = c.status == ChildStatus::Pending;
            i
        });
        info.parent.get_or_insert(parent);
        info.lost = c.status == ChildStatus::Lost;
    }
    let live = match registry {
        Some(r) => r.list(),
        None => FileRegistry::open(&roots.registry)
            .and_then(|r| r.list())
            .map_err(|e| e.to_string()),
    };
    match live {
        Ok(allocs) => {
            for a in allocs {
                let Some(process) = a.process else {
                    continue; // an unadopted reservation, not a process
                };
                let info = pods.entry(a.name.clone()).or_insert_with(|| {
                    let mut i = PodInfo::named(a.name.clone());
                    i.stored = false;
                    i.write_short = short_scope(&write_paths(a.allow.iter()), home);
                    i
                });
                info.live_pid = Some(process.pid);
                info.lost = false;
                if info.parent.is_none() {
                    info.parent = a.delegated_from.clone();
                }
            }
        }
        Err(e) => problems.push(e),
    }
    for info in pods.values_mut() {
        use std::os::unix::fs::FileTypeExt;
        let sock = roots.runtime.join(info.name.as_str()).join("sock");
        info.socket_present =
            std::fs::symlink_metadata(&sock).is_ok_and(|m| m.file_type().is_socket());
    }
    Discovered {
        pods: pods.into_values().collect(),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pod_ids::{SegmentId, SessionId};
    use pod_store::{ChildSpec, Manifest, ParentLink};

    #[test]
    fn store_records_and_children_form_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let roots = Roots::under(dir.path());
        let store = PodStore::new(&roots.pods);
        let lead: PodName = "lead".parse().unwrap();
        let worker: PodName = "worker".parse().unwrap();
        let (s, g) = (SessionId::new(), SegmentId::new());
        let manifest = Manifest {
            model: "m1".into(),
            ..Default::default()
        };
        store
            .create_pending(&lead, s, g, manifest.clone(), None)
            .unwrap();
        store.set_active(&lead, s, g).unwrap();
        store
            .add_pending_child(
                &lead,
                ChildSpec {
                    name: worker.clone(),
                    write: vec![],
                    read: vec![],
                },
            )
            .unwrap();
        store
            .add_pending_child(
                &lead,
                ChildSpec {
                    name: "ghost".parse().unwrap(),
                    write: vec![],
                    read: vec![],
                },
            )
            .unwrap();
        let mut coder_manifest = manifest.clone();
        coder_manifest.extra.insert(
            "work".into(),
            serde_json::json!({"store": "/r/work-items", "item": "20260102-150405-x", "rights": ["comment", "status"]}),
        );
        store
            .create_pending(
                &worker,
                SessionId::new(),
                SegmentId::new(),
                coder_manifest,
                Some(ParentLink {
                    name: lead.clone(),
                    socket: None,
                    pid: None,
                }),
            )
            .unwrap();
        let d = discover(&roots, None, None);
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        let names: Vec<_> = d.pods.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["ghost", "lead", "worker"]);
        let w = &d.pods[2];
        assert_eq!(w.parent.as_ref(), Some(&lead));
        assert!(w.pending && w.live_pid.is_none());
        assert_eq!(d.pods[1].segment, Some(g));
        assert_eq!(d.pods[1].model, "m1");
        assert!(!d.pods[0].stored, "ghost is known only from its parent");
        // The work grant the `pod` crate records in the manifest.
        let link = w.work.as_ref().expect("worker's work grant");
        assert_eq!(link.store, Path::new("/r/work-items"));
        assert_eq!(link.item.as_deref(), Some("20260102-150405-x"));
        assert_eq!(link.rights, ["comment", "status"]);
        assert_eq!(d.pods[1].work, None);
    }

    /// The registry `pod` opens from the user's config (PostgreSQL, say) is the one
    /// read, not the file under the roots; one that cannot be opened is a problem
    /// line, and is tried again on the next pass.
    #[test]
    fn the_configured_registry_is_the_one_read() {
        let dir = tempfile::tempdir().unwrap();
        let roots = Roots::under(dir.path());
        let elsewhere = FileRegistry::open(dir.path().join("elsewhere")).unwrap();
        let stamp = pod_registry::ProcessStamp::current().unwrap();
        let pid = stamp.pid;
        elsewhere
            .register(pod_registry::RegisterRequest {
                name: "remote".parse().unwrap(),
                process: stamp,
                socket: None,
                allow: vec![scope::ScopeRule::new(dir.path(), scope::Access::Write, true).unwrap()],
                deny: vec![],
                segment_id: None,
                restoring_children: vec![],
            })
            .unwrap();
        // Unreachable at first (a problem line), opened on a later pass.
        let tries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let t = tries.clone();
        let configured = LiveRegistry::new(move || {
            if t.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Err("registry database postgres://db/pods is unreachable".to_owned())
            } else {
                Ok(AnyRegistry::File(elsewhere.clone()))
            }
        });
        let d = discover(&roots, None, Some(&configured));
        assert_eq!(
            d.problems,
            ["registry database postgres://db/pods is unreachable"]
        );
        let d = discover(&roots, None, Some(&configured));
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        assert_eq!(d.pods.len(), 1);
        assert_eq!(d.pods[0].live_pid, Some(pid));
        // Opened once, then kept.
        discover(&roots, None, Some(&configured));
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert!(discover(&roots, None, None).pods.is_empty());
    }
}
