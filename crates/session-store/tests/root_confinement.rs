//! The store writes nothing outside its root: a sibling directory of the root is
//! byte-for-byte and entry-for-entry unchanged after every kind of operation.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use session_store::EntryKind;
use transcript::Item;

fn snapshot(dir: &Path, skip: &Path, out: &mut BTreeMap<String, (Vec<u8>, u32)>) {
    use std::os::unix::fs::PermissionsExt;
    for ent in std::fs::read_dir(dir).unwrap() {
        let p = ent.unwrap().path();
        if p == skip {
            continue;
        }
        let md = std::fs::symlink_metadata(&p).unwrap();
        let key = p.display().to_string();
        if md.is_dir() {
            out.insert(key, (Vec::new(), md.permissions().mode()));
            snapshot(&p, skip, out);
        } else {
            out.insert(key, (std::fs::read(&p).unwrap(), md.permissions().mode()));
        }
    }
}

#[test]
fn operations_never_touch_anything_outside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let sibling = dir.path().join("pods");
    std::fs::create_dir_all(sibling.join("lead")).unwrap();
    std::fs::write(sibling.join("lead/metadata.json"), b"{}").unwrap();
    let store = common::store(&dir);
    let mut before = BTreeMap::new();
    snapshot(dir.path(), store.root(), &mut before);

    let mut w = common::new_segment(&store);
    let seg = w.segment_id();
    common::append_run(&mut w, 1, 2, "a");
    w.sync().unwrap();
    drop(w);
    let mut w = store.open_writer(seg).unwrap();
    w.append(&EntryKind::UserInput {
        text: "more".into(),
    })
    .unwrap();
    drop(w);
    store.fork(seg, 1).unwrap();
    store
        .compact(seg, 2, vec![Item::UserMessage { text: "s".into() }])
        .unwrap();
    store.replay(seg).unwrap();
    store.read_from(seg, 3).unwrap();
    for s in store.list_sessions().unwrap() {
        store.list_segments(s).unwrap();
    }

    let mut after = BTreeMap::new();
    snapshot(dir.path(), store.root(), &mut after);
    assert_eq!(before, after);
    // And the store did write inside its root.
    assert!(store.root().join("index").is_dir());
}
