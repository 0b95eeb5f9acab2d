//! Machine-readable outputs: `pod run --json` streams `started`, the protocol events
//! and `result`, then stops the one-shot Pod; `pod doctor` reports a stale socket left by a killed Pod and `--fix` removes it.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, Mock, wait_until};
use serde_json::Value;

#[test]
fn run_json_streams_events_until_the_run_ends() {
    let env = Env::new();
    let mock = Mock::start("responses: [{output: [{text: 'hello there', chunks: 3}]}]");
    let out = env.ok(&[
        "run",
        "hi",
        "--name",
        "j",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--json",
    ]);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "started", "{out}");
    assert_eq!(lines[0]["name"], "j");
    let result = lines.last().unwrap();
    assert_eq!(result["type"], "result", "{out}");
    assert_eq!(result["status"], "completed");
    assert_eq!(result["final_text"], "hello there");
    assert_eq!(result["exit_code"], 0);
    let lines = &lines[1..lines.len() - 1];
    assert!(lines.iter().all(|l| l["type"] == "event"), "{out}");
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| l["event"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds[..3],
        ["state_changed", "run_started", "user_input"],
        "{kinds:?}"
    );
    assert_eq!(lines[0]["event"]["state"], "running");
    assert_eq!(kinds.last(), Some(&"run_completed"), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "text_delta").count(), 3);
    assert_eq!(lines.last().unwrap()["event"]["final_text"], "hello there");
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    // One-shot: the Pod is gone when the command returns; stopping it again is fine.
    assert!(!env.is_live("j"));
    assert!(env.ok(&["stop", "j"]).contains("already stopped"));
}

#[test]
fn doctor_reports_a_stale_socket_and_fix_removes_it() {
    let env = Env::new();
    let mock = Mock::start("responses: []");
    env.ok(&[
        "run",
        "--name",
        "d",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--detach",
    ]);
    let clean: Value = serde_json::from_str(&env.ok(&["doctor", "--json"])).unwrap();
    assert_eq!(clean["problems"], serde_json::json!([]));
    common::signal(env.pid("d"), rustix::process::Signal::KILL);
    wait_until("the Pod to die", Duration::from_secs(5), || {
        !env.is_live("d")
    });
    assert!(env.socket("d").exists(), "SIGKILL leaves the socket file");

    let out = env.run(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("stale socket") && problems.contains(&common::path_str(&env.socket("d"))),
        "{problems}"
    );
    assert!(
        env.socket("d").exists(),
        "doctor changes nothing without --fix"
    );

    env.ok(&["doctor", "--fix"]);
    assert!(!env.socket("d").exists());
    // The registry reaps the dead Pod's row on its next operation.
    let reg: Value = serde_json::from_str(&env.ok(&["registry", "--json"])).unwrap();
    assert_eq!(reg, serde_json::json!([]));
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let env = Env::new();
    let mock = Mock::start("responses: []");
    env.ok(&[
        "run",
        "--name",
        "t",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--detach",
    ]);
    common::signal(env.pid("t"), rustix::process::Signal::TERM);
    wait_until("the Pod to exit", Duration::from_secs(10), || {
        !env.is_live("t")
    });
    assert!(!env.socket("t").exists());
    // Released by the Pod itself (read without the reaping every operation does).
    let table = pod_registry::FileRegistry::open(env.roots.runtime.clone())
        .unwrap()
        .read_unlocked()
        .unwrap();
    assert!(table.allocations.is_empty(), "{:?}", table.allocations);
    let last = env.log("t").pop().unwrap();
    let v = serde_json::to_value(&last).unwrap();
    assert_eq!(v["data"]["domain"], pod::LIFECYCLE_DOMAIN);
    assert_eq!(v["data"]["payload"]["event"], "stopped");
    assert_eq!(v["data"]["payload"]["reason"], "SIGTERM");
    let ls: Value = serde_json::from_str(&env.ok(&["ls", "--json"])).unwrap();
    assert_eq!(ls[0]["status"], "stopped");
}

#[test]
fn logs_follow_prints_new_entries_until_the_pod_stops() {
    let env = Env::new();
    let mock = Mock::start("responses: [{output: [{text: 'followed answer'}]}]");
    env.ok(&[
        "run",
        "--name",
        "f",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--detach",
    ]);
    let follower = env
        .pod()
        .args(["logs", "f", "--follow"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    env.ok(&["send", "f", "question", "--wait"]);
    env.ok(&["stop", "f"]);
    // The follower exits by itself once the Pod is gone.
    let out = follower.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "segment_start",
        "user           question",
        "assistant      followed answer",
        "\"event\":\"stopped\"",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    // `HH:MM:SS  SEQ  kind ...`; a message shown as it streamed has `…` for its seq.
    let second = |l: &str| l.split_whitespace().nth(1).unwrap_or("").to_owned();
    let seqs: Vec<u64> = text
        .lines()
        .filter_map(|l| second(l).parse().ok())
        .collect();
    let streamed = text.lines().filter(|l| second(l) == "…").count();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "entries in order, none twice: {seqs:?}"
    );
    // An entry is missing only where its text was shown as it streamed (a follower
    // that connected mid-stream shows a partial preview and then the entry itself),
    // or where it is the journal of queued input and notices (`--full` shows those).
    let bookkeeping: Vec<u64> = env
        .log("f")
        .into_iter()
        .filter(|e| {
            matches!(&e.kind, session_store::EntryKind::Extension { domain, .. }
                if domain == "pod.input" || domain == "pod.notice")
        })
        .map(|e| e.seq)
        .collect();
    assert!(!bookkeeping.is_empty() && bookkeeping.iter().all(|s| !seqs.contains(s)));
    let last = *seqs.last().unwrap();
    let missing = (0..=last)
        .filter(|s| !seqs.contains(s) && !bookkeeping.contains(s))
        .count();
    assert!(missing <= streamed, "every entry shown:\n{text}");
}
