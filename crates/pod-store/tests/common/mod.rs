//! Shared helpers for the pod-store integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

use pod_ids::{PodName, SegmentId, SessionId};
use pod_store::{ChildSpec, Manifest, ParentLink, PodRecord, PodStore, SystemPrompt};
use scope::{Access, Scope, ScopeRule};

pub fn name(s: &str) -> PodName {
    PodName::new(s).unwrap()
}

/// A deterministic, valid v7-shaped UUID for op `i` (the same in every process).
pub fn segment(i: u64) -> SegmentId {
    format!("01900000-0000-7000-8000-{i:012x}").parse().unwrap()
}

pub fn session(i: u64) -> SessionId {
    format!("01910000-0000-7000-8000-{i:012x}").parse().unwrap()
}

pub fn rule(path: &str, access: Access) -> ScopeRule {
    ScopeRule::trusted(path, access, true).unwrap()
}

pub fn manifest() -> Manifest {
    Manifest {
        provider: "openai".into(),
        model: "gpt-test".into(),
        base_url: Some("http://127.0.0.1:9/v1".into()),
        system_prompt: SystemPrompt {
            source: "inline".into(),
            text: "You are a test Pod.".into(),
        },
        tools: vec!["read_file".into(), "shell".into()],
        scope: Scope::allowing(vec![rule("/w", Access::Write)]),
        cwd: PathBuf::from("/w"),
        extra: Default::default(),
    }
}

pub fn child_spec(child: &str, write: &str) -> ChildSpec {
    ChildSpec {
        name: name(child),
        write: vec![rule(write, Access::Write)],
        read: vec![rule("/r", Access::Read)],
    }
}

/// The record as JSON with every timestamp removed, for comparing states written
/// by different processes at different times.
pub fn without_timestamps(r: &PodRecord) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for k in ["created_at", "updated_at", "at"] {
                    m.remove(k);
                }
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(r).unwrap();
    strip(&mut v);
    v
}

/// Op `i` of a deterministic cycle of different field updates; the same sequence
/// applied to two stores yields equal records (modulo timestamps).
pub fn apply_op(store: &PodStore, pod: &PodName, i: u64) {
    let base = i - i % 6;
    let child = name(&format!("c{base}"));
    match i % 6 {
        0 => {
            let spec = child_spec(child.as_str(), &format!("/w/c{base}"));
            store.add_pending_child(pod, spec).unwrap();
        }
        1 => {
            let sock = PathBuf::from(format!("/run/pods/c{base}.sock"));
            store
                .mark_child_live(pod, &child, Some(sock), Some(i as u32))
                .unwrap();
        }
        2 => {
            store.set_manifest_extra(pod, "counter", i.into()).unwrap();
        }
        3 => {
            store.set_active(pod, session(i), segment(i)).unwrap();
        }
        4 => {
            assert!(store.reclaim_child(pod, &child, format!("op {i}")).unwrap());
        }
        _ => {
            if (i / 6).is_multiple_of(2) {
                let parent = ParentLink {
                    name: name(&format!("p{i}")),
                    socket: Some(PathBuf::from(format!("/run/pods/p{i}.sock"))),
                    pid: Some(i as u32),
                };
                store.set_parent(pod, Some(parent)).unwrap();
            } else {
                store.set_pending(pod, session(i), segment(i)).unwrap();
            }
        }
    }
}
