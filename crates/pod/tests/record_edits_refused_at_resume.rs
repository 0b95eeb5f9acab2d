//! Editing one's own record (issue 17): a Pod record whose stored scope (or shell
//! confinement, or provider address) was changed after it was granted — by hand, or
//! by a tool that reached the data directory — is refused at `pod resume` with an
//! error naming the file and every difference; the original record resumes.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Env, Mock};
use serde_json::{Value, json};

const ANSWERS: &str = "responses:\n  - times: 10\n    output: [{text: \"ok\"}]\n";

fn edit(path: &std::path::Path, change: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    change(&mut v);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(path, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// Adds `write /` to a scope's allow rules.
fn widen(scope: &mut Value) {
    let mut root = scope["allow"][0].clone();
    root["path"] = json!("/");
    root["access"] = json!("write");
    scope["allow"].as_array_mut().unwrap().push(root);
}

#[test]
fn a_self_edit_of_the_record_widening_scope_is_refused_at_resume() {
    let env = Env::new();
    let mock = Mock::start(ANSWERS);
    let url = mock.url();
    let args = ["--model", "m", "--base-url", url.as_str(), "--print"];
    env.ok(&[&["run", "hi", "--name", "g"][..], &args].concat());
    let dir = env.roots.pods.join("g");
    let (record, grant) = (dir.join("metadata.json"), dir.join("grant.json"));
    let mode = std::fs::metadata(&grant).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o400, "the grant is read-only");
    let original = (
        std::fs::read(&record).unwrap(),
        std::fs::read(&grant).unwrap(),
    );

    // The record alone widened (write /, unconfined shell, another address).
    edit(&record, |v| {
        widen(&mut v["manifest"]["scope"]);
        v["manifest"]["extra"]["allow_unconfined_shell"] = json!(true);
        v["manifest"]["base_url"] = json!("http://127.0.0.1:9/v1");
    });
    let err = env.fails(&["resume", "g", "again", "--print"]);
    for what in [
        "metadata.json",
        "grant.json",
        "+ allow write //**",
        "manifest.allow_unconfined_shell",
        "manifest.base_url",
        "pod fork g",
    ] {
        assert!(err.contains(what), "{what} not named: {err}");
    }
    assert_eq!(mock.requests().len(), 1, "the edited record never ran");

    // The grant widened too: the rule `pod run` applied still refuses `/`.
    std::fs::write(&record, &original.0).unwrap();
    edit(&record, |v| widen(&mut v["manifest"]["scope"]));
    edit(&grant, |v| widen(&mut v["scope"]));
    let err = env.fails(&["resume", "g", "again", "--print"]);
    assert!(err.contains("--allow-broad-write was not given"), "{err}");

    // A missing grant is refused, not taken as "anything goes".
    std::fs::remove_file(&grant).unwrap();
    let err = env.fails(&["resume", "g", "again", "--print"]);
    assert!(err.contains("has no grant.json"), "{err}");
    assert_eq!(mock.requests().len(), 1);

    // The record and grant as written resume.
    std::fs::write(&record, &original.0).unwrap();
    std::fs::write(&grant, &original.1).unwrap();
    let out = env.ok(&["resume", "g", "again", "--print"]);
    assert_eq!(out.trim(), "ok");
}
