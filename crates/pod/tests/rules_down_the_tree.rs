//! Permission rules in a tree of Pods (real processes, mock-llm): a child inherits
//! its parent's rules and a spawn request can only narrow them; a child's approval
//! request reaches the parent's model, which answers it with `answer_approval` —
//! approving only what its own rules allow, and asking its own user where they ask.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, Mock, wait_until};
use protocol::{ApprovalDecision, Request};
use session_store::EntryKind;

/// The Pod's tool results so far (none while its record or segment is not there).
fn tool_outputs(env: &Env, pod: &str) -> Vec<(String, String)> {
    let rec = pod::record::RecordStore::new(env.roots.pods.clone())
        .load(&pod_ids::PodName::new(pod).unwrap())
        .ok()
        .flatten();
    let Some((_, seg)) = rec.and_then(|r| r.active_segment()) else {
        return Vec::new();
    };
    let Ok(read) = session_store::SessionStore::new(env.roots.sessions.clone()).read_segment(seg)
    else {
        return Vec::new();
    };
    read.entries
        .into_iter()
        .filter_map(|e| match e.kind {
            EntryKind::ToolResult { result } => Some((result.call_id, result.output)),
            _ => None,
        })
        .collect()
}

fn output_of(env: &Env, pod: &str, call: &str) -> Option<String> {
    tool_outputs(env, pod)
        .into_iter()
        .find(|(id, _)| id == call)
        .map(|(_, o)| o)
}

#[test]
fn a_child_cannot_widen_its_parents_rules_and_the_parent_answers_its_asks() {
    let env = Env::new();
    std::fs::create_dir_all(env.project.join("sub")).unwrap();
    let script = r#"
responses:
  - when: {model: lead, last_user_contains: "delegate"}
    output:
      - tool_call: spawn_pod
        id: s1
        arguments: {"name": "kid", "task": "the task", "write": ["sub"], "model": "kid", "permissions": {"allow": ["bash(curl*)", "bash(git push*)", "bash"], "ask": ["bash(ls*)"], "default": "allow"}}
  - when: {model: lead, last_tool_result: spawn_pod}
    output: [{text: "spawned"}]
  - when: {model: lead, last_user_contains: "approval_requested{name: kid"}
    output:
      - tool_call: answer_approval
        id: a1
        arguments: {"pod": "kid", "decision": "once"}
  - when: {model: lead, last_tool_result: answer_approval}
    output: [{text: "answered"}]
  - when: {model: lead, last_user_contains: "approval_requested{name: kid"}
    output:
      - tool_call: answer_approval
        id: a2
        arguments: {"pod": "kid", "decision": "once"}
  - when: {model: lead, last_tool_result: answer_approval}
    output: [{text: "answered"}]
  - when: {model: lead}
    output: [{text: "noted"}]
    times: 5
  - when: {model: kid, last_user_contains: "the task"}
    output:
      - tool_call: bash
        id: k1
        arguments: {"command": "curl -s http://127.0.0.1:9/ > curl.txt"}
  - when: {model: kid, last_tool_result: bash}
    output:
      - tool_call: bash
        id: k2
        arguments: {"command": "ls > listed.txt"}
  - when: {model: kid, last_tool_result: bash}
    output:
      - tool_call: bash
        id: k3
        arguments: {"command": "touch pushed.txt && git push origin main"}
  - when: {model: kid, last_tool_result: bash}
    output: [{text: "kid done"}]
"#;
    let mock = Mock::start(script);
    env.ok(&[
        "run",
        "delegate",
        "--name",
        "lead",
        "--model",
        "lead",
        "--base-url",
        &mock.url(),
        "--deny",
        "bash(curl*)",
        "--ask",
        "bash(git push*)",
        "--detach",
    ]);
    // The spawn request's `allow` did not lift the parent's deny.
    wait_until("the child's curl call", Duration::from_secs(30), || {
        output_of(&env, "kid", "k1").is_some()
    });
    let k1 = output_of(&env, "kid", "k1").unwrap();
    assert!(k1.contains("deny rule `bash(curl*)`"), "{k1}");
    assert!(!env.project.join("sub/curl.txt").exists());
    // The child's own (narrowing) ask went to the parent, whose rules allow `ls`:
    // the parent's model approved it and it ran.
    wait_until("the approved ls", Duration::from_secs(30), || {
        env.project.join("sub/listed.txt").exists()
    });
    assert!(
        output_of(&env, "lead", "a1")
            .unwrap()
            .contains("answered approval")
    );
    // `git push`: the parent's own rules ask, so its approval of the child's call
    // waits for the parent's user (us, over the parent's socket).
    let asked = || {
        env.log("lead").into_iter().find_map(|e| match e.kind {
            EntryKind::Extension { domain, payload }
                if domain == "pod.permission"
                    && payload["event"] == "asked"
                    && payload["why"]
                        .as_str()
                        .unwrap_or("")
                        .contains("child kid asks") =>
            {
                payload["id"].as_u64()
            }
            _ => None,
        })
    };
    wait_until(
        "the parent to ask its user",
        Duration::from_secs(30),
        || asked().is_some(),
    );
    assert!(
        !env.project.join("sub/pushed.txt").exists(),
        "ran before anyone approved"
    );
    let id = asked().unwrap();
    mock.rt.block_on(async {
        let mut c = pod::client::PodClient::connect(&env.socket("lead"), None)
            .await
            .unwrap();
        assert!(c.status.pending_approvals.iter().any(|a| a.id == id));
        c.request(Request::AnswerApproval {
            approval: id,
            decision: ApprovalDecision::Once,
            reason: None,
        })
        .await
        .unwrap();
    });
    wait_until("the pushed file", Duration::from_secs(30), || {
        env.project.join("sub/pushed.txt").exists()
    });
    // The child's record holds both layers: the parent's first.
    let rec = pod::record::RecordStore::new(env.roots.pods.clone())
        .load(&pod_ids::PodName::new("kid").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(rec.manifest.permissions.0.len(), 2);
    assert_eq!(rec.manifest.permissions.0[0].deny, ["bash(curl*)"]);
    let _ = env.run(&["stop", "lead"]);
}
