//! Pod metadata is only ever read or written under the pods root: every
//! pod-store operation leaves the sessions root (and any other sibling) exactly as
//! it was, and everything it creates lies under the pods root.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::{child_spec, manifest, name, segment, session};
use pod_store::{EventKind, ParentLink, PodStore};

/// Is-dir, size, mode, mtime (s, ns) and content of one path.
type Stat = (bool, u64, u32, i64, i64, Vec<u8>);

/// Every path under `dir` with its [`Stat`].
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Stat> {
    fn walk(p: &Path, out: &mut BTreeMap<PathBuf, Stat>) {
        let m = fs::symlink_metadata(p).unwrap();
        let content = if m.is_file() {
            fs::read(p).unwrap()
        } else {
            Vec::new()
        };
        out.insert(
            p.to_path_buf(),
            (
                m.is_dir(),
                m.len(),
                m.mode(),
                m.mtime(),
                m.mtime_nsec(),
                content,
            ),
        );
        if m.is_dir() {
            for e in fs::read_dir(p).unwrap() {
                walk(&e.unwrap().path(), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    out
}

#[test]
fn pod_store_never_touches_the_sessions_root_or_other_siblings() {
    let data = tempfile::tempdir().unwrap();
    let roots = pod_ids::Roots::under(data.path());
    let sessions = roots.sessions.clone();
    let other = data.path().join("data/other");
    // A sessions root with content, and another sibling of the pods root.
    fs::create_dir_all(sessions.join("0190-session")).unwrap();
    fs::write(sessions.join("0190-session/seg.jsonl"), "{\"seq\":0}\n").unwrap();
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("note"), "untouched").unwrap();
    let before_sessions = snapshot(&sessions);
    let before_other = snapshot(&other);

    let store = PodStore::new(&roots.pods);
    let (lead, w) = (name("lead"), name("w"));
    store
        .create_pending(&lead, session(1), segment(1), manifest(), None)
        .unwrap();
    store.set_active(&lead, session(1), segment(1)).unwrap();
    store.set_pending(&lead, session(2), segment(2)).unwrap();
    store.set_manifest(&lead, manifest()).unwrap();
    store.set_manifest_extra(&lead, "k", 1.into()).unwrap();
    let link = ParentLink {
        name: name("boss"),
        socket: None,
        pid: None,
    };
    store.set_parent(&lead, Some(link)).unwrap();
    store
        .add_pending_child(&lead, child_spec("w", "/w/a"))
        .unwrap();
    store.mark_child_live(&lead, &w, None, Some(1)).unwrap();
    store.mark_child_stopping(&lead, &w).unwrap();
    store.mark_child_lost(&lead, &w, "gone").unwrap();
    store
        .record_event(&lead, &w, EventKind::ChildExited, None)
        .unwrap();
    store.reclaim_child(&lead, &w, "gone").unwrap();
    store.reclaim_child(&lead, &w, "gone").unwrap();
    store.read(&lead).unwrap();
    store.exists(&lead).unwrap();
    store.list().unwrap();
    store
        .create_pending(&name("tmp"), session(3), segment(3), manifest(), None)
        .unwrap();
    store.remove(&name("tmp")).unwrap();

    assert_eq!(
        snapshot(&sessions),
        before_sessions,
        "sessions root changed"
    );
    assert_eq!(
        snapshot(&other),
        before_other,
        "a sibling of the pods root changed"
    );
    // Everything in the data dir is either pre-existing or under the pods root.
    let all = snapshot(data.path());
    for p in all.keys() {
        let pre = before_sessions.contains_key(p) || before_other.contains_key(p);
        let ancestor = roots.pods.starts_with(p);
        assert!(
            pre || ancestor || p.starts_with(&roots.pods),
            "{} outside pods root",
            p.display()
        );
    }
    assert!(roots.pods.join("lead/metadata.json").is_file());
}
