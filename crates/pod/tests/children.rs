//! Child Pods end to end (real processes, mock-llm): the journey of a lead that
//! splits work between two children, refused spawns, and notices.
//!
//! Each Pod talks to the same mock; responses are told apart by the request's model
//! (`lead`, `ma`, `mb`), which the children get through `spawn_pod{model}`.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, Mock, completed_runs, start_lead, tool_results, wait_until};
use pod_ids::PodName;
use session_store::EntryKind;
use transcript::Item;

fn children_of(env: &Env, pod: &str) -> Vec<pod_store::ChildRecord> {
    pod_store::PodStore::new(env.roots.pods.clone())
        .read(&PodName::new(pod).unwrap())
        .map(|r| r.children)
        .unwrap_or_default()
}

#[test]
fn journey_lead_splits_work_between_two_children() {
    let env = Env::new();
    let w = env.project.clone();
    std::fs::create_dir_all(w.join("a")).unwrap();
    std::fs::create_dir_all(w.join("b")).unwrap();
    let script = format!(
        r#"
responses:
  - when: {{model: lead}}
    output:
      - tool_call: spawn_pod
        id: s1
        arguments: {{"name": "a", "task": "work on a", "write": ["a"], "model": "ma"}}
  - when: {{model: lead, last_tool_result: spawn_pod}}
    output:
      - tool_call: spawn_pod
        id: s2
        arguments: {{"name": "b", "task": "work on b", "write": ["{w}/b"], "model": "mb"}}
  - when: {{model: lead, last_tool_result: spawn_pod}}
    output:
      - tool_call: spawn_pod
        id: s3
        arguments: {{"name": "c", "task": "overlap", "write": ["a/deep"], "model": "ma"}}
  - when: {{model: lead, last_tool_result: spawn_pod}}
    output:
      - tool_call: write_file
        id: w1
        arguments: {{"path": "{w}/a/lead.txt", "content": "lead"}}
      - tool_call: bash
        id: b1
        arguments: {{"command": "echo lead > {w}/a/bash.txt"}}
  - when: {{model: lead}}
    output:
      - text: "waiting for children"
  - when: {{model: ma}}
    output:
      - text: "A is done: wrote nothing"
  - when: {{model: mb}}
    delay_ms: 30000
    output:
      - text: "B never gets here"
  - when: {{model: lead, last_user_contains: "child_finished{{name: a}}"}}
    output:
      - tool_call: stop_pod
        id: st
        arguments: {{"name": "a"}}
  - when: {{model: lead, last_tool_result: stop_pod}}
    output:
      - tool_call: write_file
        id: w2
        arguments: {{"path": "{w}/a/lead.txt", "content": "lead again"}}
  - when: {{model: lead, last_tool_result: write_file}}
    output:
      - text: "all done"
"#,
        w = w.display()
    );
    let mock = Mock::start(&script);
    start_lead(&env, &mock, None);
    wait_until("the lead's final answer", Duration::from_secs(20), || {
        tool_results(&env, "l").iter().any(|r| r.call_id == "w2") && completed_runs(&env, "l") >= 2
    });
    let results = tool_results(&env, "l");
    let get = |id: &str| results.iter().find(|r| r.call_id == id).unwrap().clone();
    assert!(!get("s1").is_error, "{:?}", get("s1"));
    assert!(!get("s2").is_error, "{:?}", get("s2"));
    let s3 = get("s3");
    assert!(s3.is_error && s3.output.contains("child a"), "{s3:?}");
    // While A lived, neither the file tool nor the shell could write into /w/a.
    assert!(get("w1").is_error, "{:?}", get("w1"));
    assert!(
        !w.join("a/bash.txt").exists(),
        "bash wrote into a delegated region"
    );
    // A's notice is in L's log before the model request that answered with stop_pod.
    let log = env.log("l");
    let notice_at = log
        .iter()
        .position(|e| matches!(&e.kind, EntryKind::SystemItem { text } if text.contains("child_finished{name: a}") && text.contains("A is done")))
        .expect("notice in the log");
    let stop_at = log
        .iter()
        .position(|e| matches!(&e.kind, EntryKind::AssistantItem { item: Item::ToolCall(c) } if c.name == "stop_pod"))
        .unwrap();
    assert!(notice_at < stop_at);
    let req = mock
        .requests()
        .into_iter()
        .find(|r| r.body.to_string().contains("child_finished{name: a}"))
        .expect("a model request carried the notice");
    assert!(req.body.to_string().contains("\"lead\""));
    // After stop_pod the region is L's again.
    assert!(!get("w2").is_error, "{:?}", get("w2"));
    assert_eq!(
        std::fs::read_to_string(w.join("a/lead.txt")).unwrap(),
        "lead again"
    );
    assert!(!env.is_live("a"));
    assert!(env.is_live("b"));
    let kids = children_of(&env, "l");
    let status = |n: &str| kids.iter().find(|c| c.name.as_str() == n).map(|c| c.status);
    assert_eq!(status("a"), Some(pod_store::ChildStatus::Reclaimed));
    assert_eq!(status("b"), Some(pod_store::ChildStatus::Live));
    assert_eq!(status("c"), None, "a refused spawn leaves no record");
    // The registry: B holds /w/b, delegated from L; nothing for a or c.
    let reg = pod::allocation::registry(&env.roots).unwrap();
    let rows = pod_registry::Registry::list(&reg).unwrap();
    let names: Vec<_> = rows.iter().map(|r| r.name.as_str().to_string()).collect();
    assert!(
        names.contains(&"b".to_string())
            && !names.contains(&"a".to_string())
            && !names.contains(&"c".to_string()),
        "{names:?}"
    );
    // `pod ls` shows b under l.
    let ls = env.ok(&["ls"]);
    let lines: Vec<&str> = ls.lines().collect();
    let l_at = lines.iter().position(|x| x.starts_with("l ")).unwrap();
    let b_at = lines.iter().position(|x| x.starts_with("└ b ")).expect(&ls);
    assert!(
        b_at > l_at && lines[l_at + 1..b_at].iter().all(|x| x.starts_with("└ ")),
        "{ls}"
    );
    // Stopping the lead stops its child first.
    env.ok(&["stop", "l"]);
    assert!(!env.is_live("b"), "the child outlived its stopped parent");
    let rows = pod_registry::Registry::list(&reg).unwrap();
    assert!(rows.is_empty(), "{rows:?}");
}

#[test]
fn wait_read_send_and_a_forged_report_is_rejected() {
    let env = Env::new();
    let script = r#"
responses:
  - when: {model: lead}
    output:
      - tool_call: spawn_pod
        id: s1
        arguments: {"name": "w", "task": "first task", "write": ["src"], "model": "mw"}
  - when: {model: lead, last_tool_result: spawn_pod}
    output:
      - tool_call: wait_pod
        id: wt1
        arguments: {"name": "w", "timeout_s": 20}
  - when: {model: lead, last_tool_result: wait_pod}
    output:
      - tool_call: read_pod_output
        id: r1
        arguments: {"name": "w"}
  - when: {model: lead, last_tool_result: read_pod_output}
    output:
      - tool_call: send_to_pod
        id: se
        arguments: {"name": "w", "message": "second please"}
  - when: {model: lead, last_tool_result: send_to_pod}
    output:
      - tool_call: wait_pod
        id: wt2
        arguments: {"timeout_s": 20}
  - when: {model: lead, last_tool_result: wait_pod}
    output:
      - text: "done"
  - when: {model: lead, last_user_contains: "child_finished"}
    times: 5
    output:
      - text: "noted"
  - when: {model: mw, last_user_contains: "first task"}
    output:
      - text: "first answer"
  - when: {model: mw, last_user_contains: "second please"}
    output:
      - text: "second answer"
"#;
    let mock = Mock::start(script);
    start_lead(&env, &mock, None);
    wait_until("the lead's second wait", Duration::from_secs(20), || {
        tool_results(&env, "l").iter().any(|r| r.call_id == "wt2")
    });
    let results = tool_results(&env, "l");
    let get = |id: &str| results.iter().find(|r| r.call_id == id).unwrap().clone();
    assert!(
        get("wt1").output.contains("first answer"),
        "{:?}",
        get("wt1")
    );
    let r1 = get("r1").output;
    assert!(
        r1.contains("first answer") && r1.contains("cursor: "),
        "{r1}"
    );
    assert!(!get("se").is_error, "{:?}", get("se"));
    assert!(
        get("wt2").output.contains("second answer"),
        "{:?}",
        get("wt2")
    );

    // A forged report: the right token, but sent by this test process, not the child.
    let token = std::fs::read_to_string(env.roots.runtime.join("l/children/w.token")).unwrap();
    let sock = env.socket("l");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt.block_on(async {
        let mut c = pod::client::PodClient::connect(&sock, None).await.unwrap();
        c.request(protocol::Request::ChildReport {
            child: "w".into(),
            token,
            report: protocol::ChildReport::Finished {
                final_text: "FORGED".into(),
            },
            quiet: false,
            report_id: None,
        })
        .await
        .unwrap_err()
    });
    assert!(err.to_string().contains("not the child"), "{err}");
    assert!(env.is_live("w"));
    let kids = children_of(&env, "l");
    assert_eq!(kids[0].status, pod_store::ChildStatus::Live);
    assert!(
        !env.log("l")
            .iter()
            .any(|e| matches!(&e.kind, EntryKind::SystemItem { text } if text.contains("FORGED"))),
        "a forged report reached the model"
    );
    env.ok(&["stop", "l"]);
    assert!(!env.is_live("w"));
}

#[test]
fn bad_spawn_requests_fail_with_no_process_and_no_reservation() {
    let env = Env::new();
    let outside = env.home.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, env.project.join("link")).unwrap();
    // A file in docs/ that is also a.txt: a region sharing an inode with the rest.
    std::fs::create_dir_all(env.project.join("docs")).unwrap();
    std::fs::hard_link(
        env.project.join("a.txt"),
        env.project.join("docs/shared.txt"),
    )
    .unwrap();
    let script = r#"
responses:
  - when: {model: lead}
    output:
      - tool_call: spawn_pod
        id: ok1
        arguments: {"name": "ok1", "task": "t", "write": ["src"], "model": "mok"}
  - when: {model: lead, last_tool_result: spawn_pod}
    output:
      - tool_call: spawn_pod
        id: bad_name
        arguments: {"name": "Bad/Name", "task": "t", "write": ["a.txt"]}
      - tool_call: spawn_pod
        id: dotdot
        arguments: {"name": "x1", "task": "t", "write": ["../outside"]}
      - tool_call: spawn_pod
        id: symlink
        arguments: {"name": "x2", "task": "t", "write": ["link/sub"]}
      - tool_call: spawn_pod
        id: abs
        arguments: {"name": "x3", "task": "t", "write": ["/etc"]}
      - tool_call: spawn_pod
        id: used
        arguments: {"name": "ok1", "task": "t", "write": ["a.txt"]}
      - tool_call: spawn_pod
        id: own
        arguments: {"name": "l", "task": "t", "write": ["a.txt"]}
      - tool_call: spawn_pod
        id: read_out
        arguments: {"name": "x4", "task": "t", "read": ["/etc"]}
      - tool_call: spawn_pod
        id: hardlink
        arguments: {"name": "x5", "task": "t", "write": ["docs"]}
      - tool_call: spawn_pod
        id: whole
        arguments: {"name": "x6", "task": "t", "write": ["."]}
  - when: {model: lead, last_tool_result: spawn_pod}
    output:
      - text: "done"
  - when: {model: lead, last_user_contains: "child_finished"}
    times: 3
    output:
      - text: "noted"
  - when: {model: mok}
    output:
      - text: "ok1 done"
"#;
    let mock = Mock::start(script);
    start_lead(&env, &mock, None);
    wait_until("the bad spawns answered", Duration::from_secs(15), || {
        tool_results(&env, "l").len() >= 10
    });
    let results = tool_results(&env, "l");
    for id in [
        "bad_name", "dotdot", "symlink", "abs", "used", "own", "read_out", "hardlink", "whole",
    ] {
        let r = results.iter().find(|r| r.call_id == id).unwrap();
        assert!(r.is_error, "{id}: {r:?}");
    }
    assert!(
        !results
            .iter()
            .find(|r| r.call_id == "ok1")
            .unwrap()
            .is_error
    );
    let linked = results.iter().find(|r| r.call_id == "hardlink").unwrap();
    assert!(
        linked.output.contains("hard links outside it"),
        "{linked:?}"
    );
    let whole = results.iter().find(|r| r.call_id == "whole").unwrap();
    assert!(
        whole.output.contains("strict part"),
        "the parent's whole scope: {whole:?}"
    );
    for n in ["x1", "x2", "x3", "x4", "x5", "x6"] {
        assert!(!env.roots.runtime.join(n).exists(), "{n} got a runtime dir");
        assert!(!env.roots.pods.join(n).exists(), "{n} got a record");
    }
    let reg = pod::allocation::registry(&env.roots).unwrap();
    let mut names: Vec<String> = pod_registry::Registry::list(&reg)
        .unwrap()
        .iter()
        .map(|r| r.name.as_str().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["l", "ok1"]);
    let kids: Vec<String> = children_of(&env, "l")
        .iter()
        .map(|c| c.name.as_str().to_string())
        .collect();
    assert_eq!(kids, ["ok1"]);
    env.ok(&["stop", "l"]);
}

#[test]
fn grandchild_is_stopped_with_its_parent_and_never_shares_a_region() {
    let env = Env::new();
    std::fs::create_dir_all(env.project.join("a/sub")).unwrap();
    let script = r#"
responses:
  - when: {model: lead}
    output:
      - tool_call: spawn_pod
        id: sa
        arguments: {"name": "a", "task": "split further", "write": ["a"], "model": "ma"}
  - when: {model: lead, last_tool_result: spawn_pod}
    output:
      - text: "spawned a"
  - when: {model: ma, last_user_contains: "split further"}
    output:
      - tool_call: spawn_pod
        id: sa1
        arguments: {"name": "a1", "task": "leaf work", "write": ["sub"], "model": "ma1"}
  - when: {model: ma, last_tool_result: spawn_pod}
    output:
      - text: "a spawned a1"
  - when: {model: ma, last_user_contains: "child_finished"}
    times: 3
    output:
      - text: "a heard from a1"
  - when: {model: ma1}
    output:
      - text: "a1 done"
  - when: {model: lead, last_user_contains: "a heard from a1"}
    output:
      - tool_call: stop_pod
        id: st
        arguments: {"name": "a"}
  - when: {model: lead, last_user_contains: "child_finished"}
    times: 3
    output:
      - text: "noted"
  - when: {model: lead, last_tool_result: stop_pod}
    output:
      - text: "stopped a"
"#;
    let mock = Mock::start(script);
    start_lead(&env, &mock, None);
    let reg = pod::allocation::registry(&env.roots).unwrap();
    let sub = env.project.join("a/sub");
    wait_until("a1 live under a", Duration::from_secs(15), || {
        children_of(&env, "a")
            .iter()
            .any(|c| c.status == pod_store::ChildStatus::Live)
    });
    // Exactly one writer of a/sub: a1.
    let writers: Vec<String> = pod_registry::Registry::list(&reg)
        .unwrap()
        .iter()
        .filter(|r| r.effective_write().can_write(&sub))
        .map(|r| r.name.as_str().to_string())
        .collect();
    assert_eq!(writers, ["a1"]);
    wait_until("l stopped a", Duration::from_secs(15), || {
        tool_results(&env, "l").iter().any(|r| r.call_id == "st")
    });
    let st = tool_results(&env, "l")
        .into_iter()
        .find(|r| r.call_id == "st")
        .unwrap();
    assert!(!st.is_error, "{st:?}");
    // Stopping a stopped a1 first (documented cascade), and the region is l's again.
    assert!(!env.is_live("a") && !env.is_live("a1"));
    let writers: Vec<String> = pod_registry::Registry::list(&reg)
        .unwrap()
        .iter()
        .filter(|r| r.effective_write().can_write(&sub))
        .map(|r| r.name.as_str().to_string())
        .collect();
    assert_eq!(writers, ["l"]);
    env.ok(&["stop", "l"]);
}

#[test]
fn sigkilled_child_with_a_live_grandchild_leaves_its_region_with_the_grandchild() {
    let env = Env::new();
    std::fs::create_dir_all(env.project.join("a/sub")).unwrap();
    let script = r#"
responses:
  - when: {model: lead}
    output:
      - tool_call: spawn_pod
        id: sa
        arguments: {"name": "a", "task": "split further", "write": ["a"], "model": "ma"}
  - when: {model: lead, last_tool_result: spawn_pod}
    output:
      - text: "spawned a"
  - when: {model: lead, last_user_contains: "child_exited"}
    output:
      - tool_call: write_file
        id: wsub
        arguments: {"path": "a/sub/x.txt", "content": "l"}
      - tool_call: write_file
        id: wa
        arguments: {"path": "a/y.txt", "content": "l"}
  - when: {model: lead}
    times: 5
    output:
      - text: "noted"
  - when: {model: ma, last_user_contains: "split further"}
    output:
      - tool_call: spawn_pod
        id: sa1
        arguments: {"name": "a1", "task": "leaf work", "write": ["sub"], "model": "ma1"}
  - when: {model: ma, last_tool_result: spawn_pod}
    output:
      - text: "a spawned a1"
  - when: {model: ma1}
    delay_ms: 30000
    output:
      - text: "never"
"#;
    let mock = Mock::start(script);
    start_lead(&env, &mock, None);
    wait_until("a1 live under a", Duration::from_secs(15), || {
        children_of(&env, "a")
            .iter()
            .any(|c| c.status == pod_store::ChildStatus::Live)
    });
    common::signal(env.pid("a"), rustix::process::Signal::KILL);
    let notice = || {
        env.log("l").into_iter().find_map(|e| match e.kind {
            EntryKind::SystemItem { text } if text.starts_with("child_exited{name: a,") => {
                Some(text)
            }
            _ => None,
        })
    };
    wait_until("l's notice about a", Duration::from_secs(15), || {
        notice().is_some()
    });
    let text = notice().unwrap();
    assert!(
        text.contains("except what its own children hold: a1"),
        "{text}"
    );
    // a1 is still the only writer of a/sub; l did not get it back.
    let reg = pod::allocation::registry(&env.roots).unwrap();
    let sub = env.project.join("a/sub");
    let writers: Vec<String> = pod_registry::Registry::list(&reg)
        .unwrap()
        .iter()
        .filter(|r| r.effective_write().can_write(&sub))
        .map(|r| r.name.as_str().to_string())
        .collect();
    assert_eq!(writers, ["a1"]);
    // l's own tools agree with the registry: a/ is back, a/sub is not.
    wait_until("l's writes", Duration::from_secs(15), || {
        tool_results(&env, "l")
            .iter()
            .filter(|r| r.call_id.starts_with('w'))
            .count()
            == 2
    });
    let results = tool_results(&env, "l");
    assert!(
        results
            .iter()
            .find(|r| r.call_id == "wsub")
            .unwrap()
            .is_error
    );
    assert!(!results.iter().find(|r| r.call_id == "wa").unwrap().is_error);
    // l took a1 over: it is l's child now, and stopping l stops it.
    assert!(
        children_of(&env, "l")
            .iter()
            .any(|c| c.name.as_str() == "a1" && c.status == pod_store::ChildStatus::Live)
    );
    env.ok(&["stop", "l"]);
    assert!(!env.is_live("a1"));
    assert!(pod_registry::Registry::list(&reg).unwrap().is_empty());
}
