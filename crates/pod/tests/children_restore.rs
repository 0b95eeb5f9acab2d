//! A parent restored after SIGKILL reconciles with its children: dead ones are
//! reclaimed everywhere with one notice each, live ones are re-linked and their
//! reports reach the restored parent, and a crash between the child adopting and
//! the parent marking it live never leaves two writers or a forgotten child.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, Mock, start_lead, system_items, wait_until};
use pod_ids::PodName;
use pod_registry::Registry;
use rustix::process::Signal;
use session_store::EntryKind;

fn kill(pid: u32) {
    common::signal(pid, Signal::KILL);
}

fn child(env: &Env, parent: &str, name: &str) -> Option<pod_store::ChildRecord> {
    pod_store::PodStore::new(env.roots.pods.clone())
        .read(&PodName::new(parent).unwrap())
        .unwrap()
        .children
        .into_iter()
        .find(|c| c.name.as_str() == name)
}

#[test]
fn dead_child_is_reclaimed_on_parent_restore_with_one_notice() {
    let env = Env::new();
    let script = r#"
responses:
  - when: {model: lead}
    output:
      - tool_call: spawn_pod
        id: s1
        arguments: {"name": "b", "task": "long task", "write": ["src"], "model": "mb"}
  - when: {model: lead, last_tool_result: spawn_pod}
    output:
      - text: "spawned"
  - when: {model: mb}
    delay_ms: 30000
    output:
      - text: "never"
  - when: {model: lead, last_user_contains: "what now"}
    output:
      - tool_call: list_pods
        id: lp
        arguments: {}
  - when: {model: lead, last_tool_result: list_pods}
    output:
      - text: "ok"
"#;
    let mock = Mock::start(script);
    start_lead(&env, &mock, None);
    wait_until("b live and the lead idle", Duration::from_secs(15), || {
        child(&env, "l", "b").is_some_and(|c| c.status == pod_store::ChildStatus::Live)
            && env
                .log("l")
                .iter()
                .any(|e| matches!(e.kind, EntryKind::RunCompleted))
    });
    let (lpid, bpid) = (env.pid("l"), env.pid("b"));
    kill(lpid);
    wait_until("l dead", Duration::from_secs(5), || !env.is_live("l"));
    kill(bpid);
    wait_until("b dead", Duration::from_secs(5), || !env.is_live("b"));

    let before = mock.requests().len();
    env.ok(&["resume", "l", "what now?", "--detach"]);
    wait_until("the lead's answer", Duration::from_secs(15), || {
        env.log("l")
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::RunCompleted))
            .count()
            >= 2
    });
    // The first request after the restore carries the reclaim notice.
    let first = &mock.requests()[before];
    let body = first.body.to_string();
    assert!(
        body.contains("child_lost{name: b}") && body.contains("what now"),
        "{body}"
    );
    let notices: Vec<_> = system_items(&env, "l")
        .into_iter()
        .filter(|t| t.contains("child_lost{name: b}"))
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    // Registry: no allocation for b, no delegation left on l.
    let reg = pod::allocation::registry(&env.roots).unwrap();
    let rows = reg.list().unwrap();
    assert!(rows.iter().all(|r| r.name.as_str() != "b"), "{rows:?}");
    let l = rows.iter().find(|r| r.name.as_str() == "l").unwrap();
    assert!(l.delegations.is_empty(), "{l:?}");
    // Pod store: reclaimed, and listed to the model as lost.
    assert_eq!(
        child(&env, "l", "b").unwrap().status,
        pod_store::ChildStatus::Reclaimed
    );
    let listed = env
        .log("l")
        .into_iter()
        .find_map(|e| match e.kind {
            EntryKind::ToolResult { result } if result.call_id == "lp" => Some(result.output),
            _ => None,
        })
        .unwrap();
    assert!(listed.contains("b [lost]"), "{listed}");

    // A second restore does not notify again (idempotent).
    env.ok(&["stop", "l"]);
    env.ok(&["resume", "l", "--detach"]);
    let count = system_items(&env, "l")
        .iter()
        .filter(|t| t.contains("child_lost{name: b}"))
        .count();
    assert_eq!(count, 1);
    env.ok(&["stop", "l"]);
}

#[test]
fn live_child_is_relinked_and_its_later_report_reaches_the_restored_parent() {
    let env = Env::new();
    let script = r#"
responses:
  - when: {model: lead}
    output:
      - tool_call: spawn_pod
        id: s1
        arguments: {"name": "b", "task": "first task", "write": ["src"], "model": "mb"}
  - when: {model: lead, last_tool_result: spawn_pod}
    output:
      - text: "spawned"
  - when: {model: lead, last_user_contains: "child_finished"}
    times: 5
    output:
      - text: "noted"
  - when: {model: mb, last_user_contains: "first task"}
    output:
      - text: "first done"
  - when: {model: mb, last_user_contains: "again"}
    output:
      - text: "second done"
"#;
    let mock = Mock::start(script);
    start_lead(&env, &mock, None);
    wait_until("the first report handled", Duration::from_secs(15), || {
        system_items(&env, "l")
            .iter()
            .any(|t| t.contains("first done"))
            && env
                .log("l")
                .iter()
                .filter(|e| matches!(e.kind, EntryKind::RunCompleted))
                .count()
                >= 2
    });
    kill(env.pid("l"));
    wait_until("l dead", Duration::from_secs(5), || !env.is_live("l"));
    assert!(env.is_live("b"));
    env.ok(&["resume", "l", "--detach"]);
    let reg = pod::allocation::registry(&env.roots).unwrap();
    let b = reg.get(&PodName::new("b").unwrap()).unwrap().unwrap();
    assert_eq!(b.delegated_from.as_ref().map(|n| n.as_str()), Some("l"));
    assert_eq!(
        child(&env, "l", "b").unwrap().status,
        pod_store::ChildStatus::Live
    );
    // l's effective write scope excludes b's region (never two writers).
    let eff = reg.effective_write(&PodName::new("l").unwrap()).unwrap();
    assert!(!eff.can_write(&env.project.join("src")));
    env.ok(&["send", "b", "again"]);
    // A user's message to b: its report reaches l without starting a paid turn,
    // and shows with l's next run.
    run_parent_after_a_quiet_report(&env);
    wait_until(
        "b's second report in l's log",
        Duration::from_secs(15),
        || {
            system_items(&env, "l")
                .iter()
                .any(|t| t.contains("second done"))
        },
    );
    env.ok(&["stop", "l"]);
    assert!(!env.is_live("b"));
    assert!(reg.list().unwrap().is_empty());
}

#[test]
fn crash_between_adopt_and_live_is_relinked_by_the_next_restore() {
    let env = Env::new();
    let script = r#"
responses:
  - when: {model: lead}
    output:
      - tool_call: spawn_pod
        id: s1
        arguments: {"name": "b", "task": "task", "write": ["src"], "model": "mb"}
"#;
    let mock = Mock::start(script);
    start_lead(&env, &mock, Some(("POD_TEST_CRASH_BEFORE_LIVE", "b")));
    wait_until("l to crash", Duration::from_secs(15), || {
        child(&env, "l", "b").is_some() && !env.is_live("l")
    });
    assert_eq!(
        child(&env, "l", "b").unwrap().status,
        pod_store::ChildStatus::Pending
    );
    assert!(env.is_live("b"), "the child adopted and runs");
    env.ok(&["resume", "l", "--detach"]);
    assert_eq!(
        child(&env, "l", "b").unwrap().status,
        pod_store::ChildStatus::Live
    );
    let reg = pod::allocation::registry(&env.roots).unwrap();
    let b = reg.get(&PodName::new("b").unwrap()).unwrap().unwrap();
    assert_eq!(b.delegated_from.as_ref().map(|n| n.as_str()), Some("l"));
    let eff = reg.effective_write(&PodName::new("l").unwrap()).unwrap();
    assert!(
        !eff.can_write(&env.project.join("src")),
        "two writers of src"
    );
    env.ok(&["stop", "l"]);
    assert!(!env.is_live("b"));
    assert!(reg.list().unwrap().is_empty());
}

#[test]
fn resume_child_restores_it_under_its_live_parent_with_its_own_manifest() {
    let env = Env::new();
    let script = r#"
responses:
  - when: {model: lead}
    output:
      - tool_call: spawn_pod
        id: s1
        arguments: {"name": "b", "task": "first task", "write": ["src"], "model": "mb"}
  - when: {model: lead, last_tool_result: spawn_pod}
    output:
      - text: "spawned"
  - when: {model: lead}
    times: 6
    output:
      - text: "noted"
  - when: {model: mb, last_user_contains: "first task"}
    output:
      - text: "first done"
  - when: {model: mb, last_user_contains: "again"}
    output:
      - text: "second done"
"#;
    let mock = Mock::start(script);
    start_lead(&env, &mock, None);
    wait_until("b's first report", Duration::from_secs(15), || {
        system_items(&env, "l")
            .iter()
            .any(|t| t.contains("first done"))
    });
    // b is stopped behind its parent's back: the parent reclaims its scope.
    env.ok(&["stop", "b"]);
    wait_until("b reclaimed", Duration::from_secs(10), || {
        child(&env, "l", "b").is_some_and(|c| c.status == pod_store::ChildStatus::Reclaimed)
    });
    env.ok(&["resume", "b", "again", "--detach"]);
    let reg = pod::allocation::registry(&env.roots).unwrap();
    let b = reg.get(&PodName::new("b").unwrap()).unwrap().unwrap();
    assert_eq!(b.delegated_from.as_ref().map(|n| n.as_str()), Some("l"));
    let eff = reg.effective_write(&PodName::new("l").unwrap()).unwrap();
    assert!(!eff.can_write(&env.project.join("src")));
    run_parent_after_a_quiet_report(&env);
    wait_until(
        "b's second report reaches l",
        Duration::from_secs(15),
        || {
            system_items(&env, "l")
                .iter()
                .any(|t| t.contains("second done"))
        },
    );
    // The resumed child used its own manifest (model mb), not a default profile.
    assert!(
        mock.requests()
            .iter()
            .any(|r| r.body.to_string().contains("again") && r.body["model"] == "mb")
    );
    env.ok(&["stop", "l"]);
    assert!(!env.is_live("b"));
    assert!(reg.list().unwrap().is_empty());
}

#[test]
fn crash_in_the_middle_of_reconciliation_is_completed_with_exactly_one_notice() {
    let env = Env::new();
    let script = r#"
responses:
  - when: {model: lead}
    output:
      - tool_call: spawn_pod
        id: s1
        arguments: {"name": "b", "task": "long task", "write": ["src"], "model": "mb"}
  - when: {model: lead, last_tool_result: spawn_pod}
    output:
      - text: "spawned"
  - when: {model: mb}
    delay_ms: 30000
    output:
      - text: "never"
"#;
    let mock = Mock::start(script);
    start_lead(&env, &mock, None);
    wait_until("b live and the lead idle", Duration::from_secs(15), || {
        child(&env, "l", "b").is_some_and(|c| c.status == pod_store::ChildStatus::Live)
            && env
                .log("l")
                .iter()
                .any(|e| matches!(e.kind, EntryKind::RunCompleted))
    });
    let (lpid, bpid) = (env.pid("l"), env.pid("b"));
    kill(lpid);
    wait_until("l dead", Duration::from_secs(5), || !env.is_live("l"));
    kill(bpid);
    wait_until("b dead", Duration::from_secs(5), || !env.is_live("b"));
    // The first restore dies after logging b's notice, before marking b reclaimed.
    let out = env
        .pod()
        .args(["resume", "l", "--detach"])
        .env("POD_TEST_CRASH_MID_RECONCILE", "b")
        .output()
        .unwrap();
    assert!(!out.status.success());
    wait_until(
        "the crashed restore to be gone",
        Duration::from_secs(5),
        || !env.is_live("l"),
    );
    assert_ne!(
        child(&env, "l", "b").unwrap().status,
        pod_store::ChildStatus::Reclaimed
    );
    env.ok(&["resume", "l", "--detach"]);
    assert_eq!(
        child(&env, "l", "b").unwrap().status,
        pod_store::ChildStatus::Reclaimed
    );
    let n = system_items(&env, "l")
        .iter()
        .filter(|t| t.contains("child_lost{name: b}"))
        .count();
    assert_eq!(n, 1);
    env.ok(&["stop", "l"]);
}

/// A child's report of a run a user started reaches its parent quietly (it does not
/// wake it); the parent's next run shows it.
fn run_parent_after_a_quiet_report(env: &Env) {
    let log = env.roots.runtime.join("l").join("pod.log");
    wait_until(
        "the quiet report reached l",
        Duration::from_secs(15),
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("did not ask for")
        },
    );
    env.ok(&["send", "l", "any child_finished news?", "--wait"]);
}
