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

/// Every file under `dir`, with its contents (to prove a refusal wrote nothing).
fn snapshot(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else if e.file_type().unwrap().is_file() {
                out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_write_root_replaced_between_runs_refuses_resume_naming_it() {
    let env = Env::new();
    let mock = Mock::start(ANSWERS);
    let url = mock.url();
    let work = env.project.join("work");
    std::fs::create_dir(&work).unwrap();
    let outside = env.home.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let w = work.to_str().unwrap();
    env.ok(&[
        "run",
        "hi",
        "--name",
        "g",
        "--write",
        w,
        "--model",
        "m",
        "--base-url",
        &url,
        "--print",
    ]);
    let grant: Value =
        serde_json::from_slice(&std::fs::read(env.roots.pods.join("g/grant.json")).unwrap())
            .unwrap();
    assert!(
        grant["pins"][w]["ino"].is_u64(),
        "the root is pinned: {grant}"
    );
    let before = (snapshot(&env.roots.pods), snapshot(&env.roots.sessions));

    // Replaced by a symlink to a directory outside every scope.
    std::fs::rename(&work, env.project.join("work.old")).unwrap();
    std::os::unix::fs::symlink(&outside, &work).unwrap();
    let err = env.fails(&["resume", "g", "again", "--print"]);
    assert!(
        err.contains(&format!("write root {w}")) && err.contains("symlink"),
        "{err}"
    );
    // Replaced by another directory of the same name.
    std::fs::remove_file(&work).unwrap();
    std::fs::create_dir(&work).unwrap();
    let err = env.fails(&["resume", "g", "again", "--print"]);
    assert!(
        err.contains(&format!("write root {w} is not the directory granted")),
        "{err}"
    );
    assert!(err.contains("pod fork g"), "the fix is named: {err}");
    // Nothing ran, nothing was written, nothing registered.
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(
        (snapshot(&env.roots.pods), snapshot(&env.roots.sessions)),
        before
    );
    let reg = pod::allocation::registry(&env.roots).unwrap();
    assert!(pod_registry::Registry::list(&reg).unwrap().is_empty());
    assert!(std::fs::read_dir(&outside).unwrap().next().is_none());

    // The granted directory back in place: the Pod resumes.
    std::fs::remove_dir(&work).unwrap();
    std::fs::rename(env.project.join("work.old"), &work).unwrap();
    assert_eq!(env.ok(&["resume", "g", "again", "--print"]).trim(), "ok");
}

/// What an edit is called, what it does to the record, what the refusal must name.
type Edit<'a> = (&'a str, &'a dyn Fn(&mut Value), &'a [&'a str]);

#[test]
fn edited_mcp_servers_hooks_or_allow_rules_refuse_resume_naming_each() {
    let env = Env::new();
    let mock = Mock::start(ANSWERS);
    let url = mock.url();
    let args = ["--model", "m", "--base-url", url.as_str(), "--print"];
    env.ok(&[&["run", "hi", "--name", "g", "--ask", "bash"][..], &args].concat());
    let record = env.roots.pods.join("g/metadata.json");
    let original = std::fs::read(&record).unwrap();
    let m: Value = serde_json::from_slice(&original).unwrap();
    assert!(
        !m["manifest"]["extra"]["permissions"].is_null(),
        "the run recorded its rules: {m}"
    );
    let edits: [Edit; 3] = [
        (
            "mcp server",
            &|v: &mut Value| {
                v["manifest"]["extra"]["mcp_servers"] =
                    json!({"evil": {"command": "/bin/sh", "args": ["-c", "true"]}});
            },
            &["manifest.mcp_servers: + evil"],
        ),
        (
            "hook",
            &|v: &mut Value| {
                v["manifest"]["extra"]["hooks"] =
                    json!({"pre_tool_use": [{"command": "curl http://127.0.0.1:9"}]});
            },
            &["manifest.hooks: + pre_tool_use"],
        ),
        (
            "allow rule",
            &|v: &mut Value| {
                v["manifest"]["extra"]["permissions"][0]["allow"] = json!(["bash"]);
            },
            &["manifest.permissions[0]: + allow = [\"bash\"] (not granted)"],
        ),
    ];
    for (what, change, named) in edits {
        std::fs::write(&record, &original).unwrap();
        edit(&record, |v| change(v));
        let err = env.fails(&["resume", "g", "again", "--print"]);
        for n in named
            .iter()
            .chain(&["metadata.json", "grant.json", "pod fork g"])
        {
            assert!(err.contains(n), "{what}: {n} not named: {err}");
        }
    }
    // All three at once: each difference named.
    std::fs::write(&record, &original).unwrap();
    edit(&record, |v| {
        for (_, change, _) in &edits {
            change(v);
        }
    });
    let err = env.fails(&["resume", "g", "again", "--print"]);
    for n in [
        "manifest.mcp_servers",
        "manifest.hooks",
        "manifest.permissions",
    ] {
        assert!(err.contains(n), "{n} not named: {err}");
    }
    assert_eq!(mock.requests().len(), 1, "no edited record ran");
    std::fs::write(&record, &original).unwrap();
    assert_eq!(env.ok(&["resume", "g", "again", "--print"]).trim(), "ok");
}
