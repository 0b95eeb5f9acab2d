//! How the agent on top of a Pod is set up, checked in what the Pod sent to
//! mock-llm: project instructions (AGENTS.md / CLAUDE.md from the repository root
//! down to the cwd, a child reading its own cwd's, restore sending the recorded
//! text), `--append-system-prompt`, config `instructions`, and the reasoning and
//! sampling settings in the request body and the manifest.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, Mock, wait_until};
use serde_json::Value;

fn system_of(body: &Value) -> String {
    body["messages"][0]["content"]
        .as_str()
        .filter(|_| body["messages"][0]["role"] == "system")
        .unwrap_or_default()
        .to_owned()
}

fn before(text: &str, a: &str, b: &str) -> bool {
    matches!((text.find(a), text.find(b)), (Some(x), Some(y)) if x < y)
}

#[test]
fn instructions_root_first_child_reads_its_own_cwd_and_restore_sends_the_same_text() {
    let env = Env::new();
    let p = &env.project;
    std::fs::create_dir_all(p.join(".git")).unwrap();
    std::fs::create_dir_all(p.join("sub")).unwrap();
    std::fs::create_dir_all(p.join("other")).unwrap();
    std::fs::write(p.join("AGENTS.md"), "ROOT-RULES: run make test").unwrap();
    std::fs::write(p.join("sub/AGENTS.md"), "SUB-RULES: no unsafe").unwrap();
    std::fs::write(p.join("other/CLAUDE.md"), "OTHER-RULES: docs only").unwrap();
    env.write_user_config("[defaults]\ninstructions = \"CONFIG-INSTRUCTIONS\"\n");
    let mock = Mock::start(
        r#"
responses:
  - when: {model: kidm}
    output: [{text: 'child done'}]
    times: 5
  - when: {last_user_contains: 'go'}
    output:
      - tool_call: spawn_pod
        id: s1
        arguments: {"name": "kid", "task": "child task", "write": ["../other"], "cwd": "../other", "model": "kidm"}
  - output: [{text: 'ok'}]
    times: 10
"#,
    );
    let sub = p.join("sub");
    env.ok(&[
        "run",
        "go",
        "--name",
        "lead",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--cwd",
        sub.to_str().unwrap(),
        "--write",
        p.to_str().unwrap(),
        "--append-system-prompt",
        "APPENDED-TEXT",
        "--detach",
    ]);
    wait_until("the child's request", Duration::from_secs(20), || {
        mock.requests().iter().any(|r| r.body["model"] == "kidm")
    });
    let reqs = mock.requests();
    let lead = system_of(&reqs[0].body);
    assert!(before(&lead, "ROOT-RULES", "SUB-RULES"), "{lead}");
    assert!(!lead.contains("OTHER-RULES"));
    assert!(before(&lead, "SUB-RULES", "CONFIG-INSTRUCTIONS"), "{lead}");
    assert!(
        before(&lead, "CONFIG-INSTRUCTIONS", "APPENDED-TEXT"),
        "{lead}"
    );
    assert!(lead.contains("`spawn_pod`"), "tools listed: {lead}");
    let kid = reqs
        .iter()
        .find(|r| r.body["model"] == "kidm")
        .map(|r| system_of(&r.body))
        .unwrap();
    assert!(kid.contains("OTHER-RULES"), "{kid}");
    assert!(kid.contains("ROOT-RULES"), "same repository root: {kid}");
    assert!(!kid.contains("SUB-RULES"), "{kid}");
    assert!(kid.contains("child of the Pod \"lead\""), "{kid}");
    // The sources are recorded beside the prompt.
    assert!(env.log("lead").iter().any(|e| matches!(
        &e.kind,
        session_store::EntryKind::Extension { domain, .. } if domain == "pod.instructions"
    )));

    // The files change; a restore still sends what the model was given.
    std::fs::write(p.join("AGENTS.md"), "CHANGED-ROOT").unwrap();
    env.ok(&["stop", "lead"]);
    let n = mock.requests().len();
    let out = env.ok(&["resume", "lead", "again", "--print"]);
    assert_eq!(out.trim(), "ok");
    let after = mock.requests();
    let resumed = after[n..]
        .iter()
        .find(|r| r.body["model"] == "m")
        .map(|r| system_of(&r.body))
        .unwrap();
    assert_eq!(resumed, lead);
}

#[test]
fn reasoning_and_sampling_reach_the_request_and_the_manifest() {
    let env = Env::new();
    env.write_user_config("[defaults]\ntemperature = 0.2\nreasoning_effort = \"low\"\n[providers.openai]\nmax_output_tokens = 999\n[models.m]\nprovider = \"openai\"\nreasoning_effort = \"medium\"\n");
    let mock = Mock::start("responses: [{output: [{text: 'ok'}], times: 4}]");
    env.ok(&[
        "run",
        "hi",
        "--name",
        "s1",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--print",
    ]);
    let body = &mock.requests()[0].body;
    assert_eq!(body["reasoning_effort"], "medium", "model beats defaults");
    assert!((body["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    assert_eq!(body["max_tokens"], 999, "provider setting");
    env.ok(&[
        "run",
        "hi",
        "--name",
        "s2",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--reasoning-effort",
        "high",
        "--temperature",
        "1",
        "--max-output-tokens",
        "64",
        "--print",
    ]);
    let body = &mock.requests()[1].body;
    assert_eq!(body["reasoning_effort"], "high", "flag wins");
    assert_eq!(body["max_tokens"], 64);
    let show: Value = serde_json::from_str(&env.ok(&["show", "s2", "--json"])).unwrap();
    assert_eq!(show["name"], "s2");
    let rec = std::fs::read_to_string(env.roots.pods.join("s2/metadata.json")).unwrap();
    assert!(rec.contains("\"reasoning_effort\":\"high\""), "{rec}");
    let err = env.fails_with(
        2,
        &[
            "run",
            "x",
            "--model",
            "m",
            "--reasoning-effort",
            "max",
            "--print",
        ],
    );
    assert!(err.contains("reasoning-effort"), "{err}");
}

#[test]
fn update_plan_shows_in_pod_show_and_survives_restore() {
    let env = Env::new();
    let mock = Mock::start(
        r#"
responses:
  - when: {last_user_contains: 'plan it'}
    output:
      - tool_call: update_plan
        id: p1
        arguments: {"steps": [{"text": "read the code", "status": "done"}, {"text": "fix the bug", "status": "in_progress"}], "note": "started"}
  - when: {last_user_contains: 'plan it', last_tool_result: update_plan}
    output: [{text: 'planned'}]
  - when: {last_user_contains: 'bad plan'}
    output:
      - tool_call: update_plan
        id: p2
        arguments: {"steps": [{"text": "a", "status": "in_progress"}, {"text": "b", "status": "in_progress"}]}
  - output: [{text: 'ok'}]
    times: 5
"#,
    );
    let out = env.ok(&[
        "run",
        "plan it",
        "--name",
        "pl",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--print",
    ]);
    assert_eq!(out.trim(), "planned");
    let reqs = mock.requests();
    let tools: Vec<&str> = reqs[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(tools.contains(&"update_plan"), "{tools:?}");
    let show: Value = serde_json::from_str(&env.ok(&["show", "pl", "--json"])).unwrap();
    assert_eq!(show["plan"]["steps"][1]["text"], "fix the bug");
    assert_eq!(show["plan"]["steps"][1]["status"], "in_progress");
    assert_eq!(show["plan"]["note"], "started");
    let text = env.ok(&["show", "pl"]);
    assert!(text.contains("[>] 2. fix the bug"), "{text}");

    // An invalid plan is refused (the model is told why) and the old one stays.
    let out = env.ok(&["resume", "pl", "bad plan", "--print"]);
    assert_eq!(out.trim(), "ok");
    let refused = mock
        .requests()
        .last()
        .map(|r| r.body["messages"].to_string())
        .unwrap();
    assert!(
        refused.contains("keep exactly one step in progress"),
        "{refused}"
    );
    let show: Value = serde_json::from_str(&env.ok(&["show", "pl", "--json"])).unwrap();
    assert_eq!(show["plan"]["steps"][0]["text"], "read the code");
    // A Pod without a plan shows null (the key is always there).
    env.ok(&[
        "run",
        "hi",
        "--name",
        "np",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--print",
    ]);
    let show: Value = serde_json::from_str(&env.ok(&["show", "np", "--json"])).unwrap();
    assert!(show["plan"].is_null());
}
