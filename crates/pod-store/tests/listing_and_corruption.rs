//! A corrupt record is reported with its path while other Pods still list; stray
//! entries under the pods root are never taken for Pods.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::os::unix::fs::symlink;

use common::{manifest, name, segment, session};
use pod_store::{PodStore, StoreError};

fn store_with(names: &[&str]) -> (tempfile::TempDir, PodStore) {
    let d = tempfile::tempdir().unwrap();
    let s = PodStore::new(d.path().join("pods"));
    for (i, n) in names.iter().enumerate() {
        s.create_pending(
            &name(n),
            session(i as u64),
            segment(i as u64),
            manifest(),
            None,
        )
        .unwrap();
    }
    (d, s)
}

fn names(s: &PodStore) -> Vec<String> {
    s.list()
        .unwrap()
        .into_iter()
        .map(|p| p.name.to_string())
        .collect()
}

#[test]
fn garbage_metadata_is_an_error_naming_the_file_and_others_still_list() {
    let (_d, s) = store_with(&["alpha", "beta", "gamma"]);
    let bad = s.metadata_path(&name("beta"));
    fs::write(&bad, "{\n  \"name\": \"beta\",\n  garbage").unwrap();

    let err = s.read(&name("beta")).unwrap_err();
    match &err {
        StoreError::Corrupt { path, line, .. } => {
            assert_eq!(path, &bad);
            assert_eq!(*line, 3);
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    assert!(
        err.to_string().contains(&bad.display().to_string()),
        "{err}"
    );

    let listed = s.list().unwrap();
    let got: Vec<_> = listed
        .iter()
        .map(|p| (p.name.as_str(), p.record.is_ok()))
        .collect();
    assert_eq!(got, [("alpha", true), ("beta", false), ("gamma", true)]);
    let beta_err = listed[1].record.as_ref().unwrap_err().to_string();
    assert!(beta_err.contains(&bad.display().to_string()), "{beta_err}");
    assert_eq!(listed[1].path, bad);

    // Updates on the corrupt Pod fail the same way and do not overwrite it.
    let upd = s
        .set_active(&name("beta"), session(9), segment(9))
        .unwrap_err();
    assert!(matches!(upd, StoreError::Corrupt { .. }), "{upd}");
    assert!(fs::read_to_string(&bad).unwrap().ends_with("garbage"));
    // The others are unaffected.
    s.set_active(&name("gamma"), session(9), segment(9))
        .unwrap();
}

#[test]
fn empty_and_wrong_shape_records_are_corrupt_too() {
    let (_d, s) = store_with(&["a", "b", "c"]);
    fs::write(s.metadata_path(&name("a")), "").unwrap();
    fs::write(s.metadata_path(&name("b")), "[1, 2]").unwrap();
    for n in ["a", "b"] {
        let err = s.read(&name(n)).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{n}: {err}");
    }
    assert!(s.read(&name("c")).is_ok());
}

#[test]
fn a_record_in_the_wrong_directory_is_corrupt() {
    let (_d, s) = store_with(&["a", "b"]);
    fs::copy(s.metadata_path(&name("a")), s.metadata_path(&name("b"))).unwrap();
    let err = s.read(&name("b")).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("\"a\""), "{err}");
}

#[test]
fn list_ignores_entries_that_are_not_pod_directories() {
    let (d, s) = store_with(&["zeta", "alpha", "m.x_y-z"]);
    let root = d.path().join("pods");
    // Invalid names (would never pass PodName), lock and temp files, stray files.
    for dir in [
        "UPPER",
        ".hidden",
        "bad name",
        "x.tmp",
        "registry",
        "no-record",
    ] {
        fs::create_dir(root.join(dir)).unwrap();
    }
    fs::write(root.join("UPPER/metadata.json"), "{}").unwrap();
    fs::write(root.join("x.tmp/metadata.json"), "{}").unwrap();
    fs::write(root.join("stray-file"), "not a pod").unwrap();
    fs::write(root.join("orphan.lock"), "").unwrap();
    fs::write(root.join("alpha/metadata.json.tmp"), "half a write").unwrap();
    // A symlink named like a Pod, pointing at a real Pod directory: not a Pod.
    symlink(root.join("alpha"), root.join("alias")).unwrap();

    assert_eq!(names(&s), ["alpha", "m.x_y-z", "zeta"]);
    assert!(s.list().unwrap().iter().all(|p| p.record.is_ok()));
    // A leftover temp file does not disturb reads or updates of its Pod.
    s.set_active(&name("alpha"), session(5), segment(5))
        .unwrap();
    assert!(!root.join("alpha/metadata.json.tmp").exists());
    // A directory without metadata.json is not a Pod and can be created over.
    assert!(!s.exists(&name("no-record")).unwrap());
    s.create_pending(&name("no-record"), session(1), segment(1), manifest(), None)
        .unwrap();
    assert_eq!(names(&s), ["alpha", "m.x_y-z", "no-record", "zeta"]);
}

#[test]
fn listing_a_missing_root_is_empty() {
    let d = tempfile::tempdir().unwrap();
    let s = PodStore::new(d.path().join("nothing-here"));
    assert!(s.list().unwrap().is_empty());
    assert!(
        !d.path().join("nothing-here").exists(),
        "list creates nothing"
    );
}

#[test]
fn bad_names_cannot_reach_the_filesystem() {
    // The store only takes PodName, which rejects every escaping or reserved name.
    let long = "a".repeat(64);
    for bad in [
        "",
        ".",
        "..",
        "a/b",
        "A",
        "../x",
        long.as_str(),
        "registry",
        "a\nb",
        "x.lock",
        "x.tmp",
    ] {
        assert!(pod_ids::PodName::new(bad).is_err(), "{bad:?}");
    }
    // And what PodName accepts stays inside the root.
    let (d, s) = store_with(&["ok"]);
    let root = d.path().join("pods");
    assert_eq!(s.pod_dir(&name("ok")).parent().unwrap(), root);
}
