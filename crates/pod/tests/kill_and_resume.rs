//! SIGKILL while a tool runs, then `pod resume`: the Pod comes up paused, the tool
//! call is closed with a synthetic "interrupted" result and never re-executed, and
//! the model's next request carries that result. Also: a Pod that died before its
//! first segment restores as a fresh start.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, Mock, wait_until};
use serde_json::Value;
use session_store::EntryKind;

#[test]
fn sigkill_during_tool_then_resume_is_paused_and_never_reruns_the_call() {
    let env = Env::new();
    let marker = env.project.join("marker");
    // `exec sleep` replaces the shell so the blocking process is the one the Pod
    // supervises (and dies with it).
    let script = format!(
        r#"
responses:
  - output:
      - tool_call: bash
        id: call_1
        arguments: {{"command": "echo once >> {m}; echo $$ > {m}.pid; exec sleep 30"}}
  - output:
      - text: "resumed fine"
"#,
        m = marker.display()
    );
    let mock = Mock::start(&script);
    env.ok(&[
        "run",
        "do it",
        "--name",
        "k",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--detach",
    ]);
    // The pid line is the tool's last write before it blocks: kill only after it.
    wait_until("the tool to block", Duration::from_secs(10), || {
        std::fs::read_to_string(marker.with_extension("pid")).is_ok_and(|s| s.ends_with('\n'))
    });
    common::signal(env.pid("k"), rustix::process::Signal::KILL);
    wait_until("the Pod to die", Duration::from_secs(5), || {
        !env.is_live("k")
    });

    let ls: Value = serde_json::from_str(&env.ok(&["ls", "--json"])).unwrap();
    assert_eq!(ls[0]["status"], "lost");

    env.ok(&["resume", "k", "--detach"]);
    let ls: Value = serde_json::from_str(&env.ok(&["ls", "--json"])).unwrap();
    assert_eq!(ls[0]["status"], "paused", "{ls}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "once\n");

    // The log holds the synthetic result (appended by restore) and a closed run.
    let log = env.log("k");
    let synthetic = log.iter().find_map(|e| match &e.kind {
        EntryKind::ToolResult { result } if result.call_id == "call_1" => Some(result.clone()),
        _ => None,
    });
    let synthetic = synthetic.expect("synthetic result in the log");
    assert!(synthetic.is_error && synthetic.output.starts_with("interrupted"));
    assert!(log.iter().any(
        |e| matches!(&e.kind, EntryKind::RunErrored { error } if error.contains("interrupted"))
    ));

    let out = env.ok(&["send", "k", "carry on", "--wait"]);
    assert_eq!(out.trim(), "resumed fine");
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "once\n",
        "the tool call was re-run"
    );

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2, "one request before the kill, one after");
    let msgs = reqs[1].body["messages"].as_array().unwrap().clone();
    let tool_msg = msgs
        .iter()
        .find(|m| m["role"] == "tool" && m["tool_call_id"] == "call_1")
        .expect("the interrupted result is in the next request");
    assert!(
        tool_msg["content"]
            .as_str()
            .unwrap()
            .starts_with("interrupted")
    );
    assert_eq!(msgs.last().unwrap()["content"], "carry on");
    env.ok(&["stop", "k"]);
    // The tool's process outlived the SIGKILLed Pod (nothing tied it to the Pod's
    // life); end it by its recorded pid so the test leaves nothing behind.
    let orphan: i32 = std::fs::read_to_string(marker.with_extension("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _ = rustix::process::kill_process_group(
        rustix::process::Pid::from_raw(orphan).unwrap(),
        rustix::process::Signal::KILL,
    );
}

#[test]
fn pod_that_died_before_its_first_segment_restores_as_fresh_start() {
    let env = Env::new();
    let mock = Mock::start("responses: [{output: [{text: fresh}]}]");
    // Simulate a crash between the pending record and the segment: write the
    // pending record the way `open_conversation` does first.
    let records = pod::record::RecordStore::new(env.roots.pods.clone());
    let manifest = pod::launch::Manifest {
        pins: Default::default(),
        provider: "openai".into(),
        dialect: None,
        reasoning_echo: Default::default(),
        base_url: mock.url(),
        api_key_env: None,
        model: "m".into(),
        max_output_tokens: None,
        headers: Default::default(),
        idle_timeout_secs: None,
        call_limits: Default::default(),
        max_attempts: None,
        system_prompt_source: "default".into(),
        allow_unconfined_shell: false,
        tools: vec!["read_file".into()],
        scope: scope::Scope::allowing(vec![
            scope::ScopeRule::new(&env.project, scope::Access::Write, true).unwrap(),
        ]),
        cwd: env.project.clone(),
        agent: Default::default(),
        work: None,
        workflow: None,
        mcp_servers: Default::default(),
        permissions: Default::default(),
        hooks: Default::default(),
    };
    records
        .create_pending(
            &pod_ids::PodName::new("early").unwrap(),
            pod_ids::SessionId::new(),
            &manifest,
            &pod::grant::Grant::of(&manifest, "test", false),
        )
        .unwrap();
    let out = env.ok(&["resume", "early", "hello", "--print"]);
    assert_eq!(out.trim(), "fresh");
    // `resume --print` is one-shot too: the Pod stopped cleanly after the run.
    let ls: Value = serde_json::from_str(&env.ok(&["ls", "--json"])).unwrap();
    assert_eq!(ls[0]["status"], "stopped");
}

#[test]
fn ten_messages_queued_behind_a_long_tool_call_survive_a_sigkill_and_are_answered() {
    let env = Env::new();
    let mock = Mock::start(
        r#"
responses:
  - when: {last_user_contains: "msg 9"}
    output: [{text: "answered all ten"}]
  - output:
      - tool_call: bash
        id: call_slow
        arguments: {"command": "touch slow_started; exec sleep 30"}
"#,
    );
    env.ok(&[
        "run",
        "start",
        "--name",
        "q",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--detach",
    ]);
    wait_until("the slow tool", Duration::from_secs(10), || {
        env.project.join("slow_started").exists()
    });
    for i in 0..10 {
        // Each returns only once the Pod acknowledged (and so recorded) it.
        env.ok(&["send", "q", &format!("msg {i}")]);
    }
    common::signal(env.pid("q"), rustix::process::Signal::KILL);
    wait_until("the Pod to die", Duration::from_secs(5), || {
        !env.is_live("q")
    });

    env.ok(&["resume", "q", "--detach"]);
    wait_until(
        "the queued messages to be answered",
        Duration::from_secs(15),
        || {
            env.log("q").iter().any(|e| matches!(&e.kind, EntryKind::AssistantItem { item: transcript::Item::AssistantMessage { text } } if text == "answered all ten"))
        },
    );
    let inputs: Vec<String> = env
        .log("q")
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::UserInput { text } => Some(text.clone()),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = std::iter::once("start".to_owned())
        .chain((0..10).map(|i| format!("msg {i}")))
        .collect();
    assert_eq!(inputs, expected, "each message exactly once, in order");
    env.ok(&["stop", "q"]);
}
