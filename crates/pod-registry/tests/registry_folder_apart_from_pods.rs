//! The registry's files live in a folder no Pod name can take (`{runtime}/.registry/`),
//! so a Pod's runtime folder `{runtime}/{name}/` never collides with them.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use pod_registry::Registry;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_pod_named_like_a_registry_file_does_not_break_later_starts() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // `registry.json` is a valid Pod name, and a Pod's runtime folder is
    // `{runtime}/{name}/`.
    std::fs::create_dir_all(run.join("registry.json").join("children")).unwrap();
    let reg = registry(dir.path());
    reg.register(register_req("registry.json", me(), vec![w("/w/a")]))
        .unwrap();
    reg.register(register_req("b", me(), vec![w("/w/b")]))
        .unwrap();
    assert_eq!(reg.list().unwrap().len(), 2);
    // The Pod's folder is untouched.
    assert!(run.join("registry.json/children").is_dir());
}

#[test]
fn registry_files_sit_in_a_private_folder_that_cannot_be_a_pod_name() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    let (_row, _hold) = reg
        .register_held(register_req("a", me(), vec![w("/w")]))
        .unwrap();
    let folder = reg.table_path().parent().unwrap().to_owned();
    assert_eq!(folder, dir.path().join("run/.registry"));
    let folder_name = folder.file_name().unwrap().to_str().unwrap();
    assert!(folder_name.parse::<pod_ids::PodName>().is_err());
    assert_eq!(mode(&dir.path().join("run")), 0o700);
    assert_eq!(mode(&folder), 0o700);
    for entry in walk(&folder) {
        let m = mode(&entry);
        if entry.is_dir() {
            assert_eq!(m, 0o700, "{entry:?}");
        } else {
            assert_eq!(m, 0o600, "{entry:?}");
        }
    }
    // Nothing of the registry is left directly in the runtime dir.
    let top: Vec<_> = std::fs::read_dir(dir.path().join("run"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(top, vec![std::ffi::OsString::from(".registry")]);
}

#[test]
fn files_at_the_old_place_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    // A table left by an older version: a runtime view, rebuilt from live processes.
    std::fs::write(run.join("registry.json"), b"not json").unwrap();
    let reg = registry(dir.path());
    reg.register(register_req("a", me(), vec![w("/w")]))
        .unwrap();
    assert_eq!(reg.list().unwrap().len(), 1);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}
