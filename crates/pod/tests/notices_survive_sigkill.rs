//! Every notice reaches the parent's model exactly once across a SIGKILL of the
//! parent (ARCHITECTURE §9 "notices", issue 17): a notice recorded and not yet shown
//! is shown after `pod resume`, once; one shown before the kill is not shown again;
//! a child's report retried after the crash and the restore's reconciliation do not
//! add a second one.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, Mock, completed_runs, start_lead, system_items, wait_until};
use rustix::process::Signal;
use session_store::EntryKind;

const SCRIPT: &str = r#"
responses:
  - when: {model: lead, last_user_contains: "what now"}
    times: 5
    output:
      - text: "carrying on"
  - when: {model: lead, last_user_contains: "child_"}
    times: 5
    output:
      - text: "noted"
  - when: {model: lead}
    output:
      - tool_call: spawn_pod
        id: s1
        arguments: {"name": "b", "task": "the task", "write": ["src"], "model": "mb"}
  - when: {model: lead, last_tool_result: spawn_pod}
    output:
      - text: "spawned"
  - when: {model: mb}
    delay_ms: 1500
    output:
      - text: "b is done"
"#;

/// Notice journal entries of `pod`'s log.
fn notice_entries(env: &Env, pod: &str) -> Vec<serde_json::Value> {
    env.log(pod)
        .into_iter()
        .filter_map(|e| match e.kind {
            EntryKind::Extension { domain, payload } if domain == pod::notice_log::DOMAIN => {
                Some(payload)
            }
            _ => None,
        })
        .collect()
}

/// The requests the lead made since `from`, as text.
fn lead_requests(mock: &Mock, from: usize) -> Vec<String> {
    mock.requests()[from..]
        .iter()
        .map(|r| r.body.to_string())
        .filter(|b| b.contains("\"lead\""))
        .collect()
}

#[test]
fn a_recorded_child_finished_notice_survives_a_sigkill_of_the_idle_parent_and_is_shown_once() {
    let env = Env::new();
    let mock = Mock::start(SCRIPT);
    // The lead kills itself (SIGKILL) right after recording b's report, before
    // answering b and before any run of its own could show the notice.
    start_lead(
        &env,
        &mock,
        Some(("POD_TEST_CRASH_AFTER_REPORT_NOTICE", "b")),
    );
    wait_until(
        "the lead killed after recording",
        Duration::from_secs(20),
        || !env.is_live("l"),
    );
    assert_eq!(
        completed_runs(&env, "l"),
        1,
        "the lead was idle between runs"
    );
    let queued = notice_entries(&env, "l");
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert!(queued[0]["text"].as_str().unwrap().contains("b is done"));
    assert!(
        system_items(&env, "l").is_empty(),
        "no run showed the notice before the kill"
    );
    assert!(env.is_live("b"), "the child outlives its parent's crash");

    let before = mock.requests().len();
    env.ok(&["resume", "l", "--detach"]);
    // The restored lead re-queues the notice, which starts a run on its own.
    wait_until("the restored lead's run", Duration::from_secs(20), || {
        completed_runs(&env, "l") >= 2
    });
    let requests = lead_requests(&mock, before);
    assert!(!requests.is_empty());
    assert_eq!(
        requests[0].matches("child_finished{name: b}").count(),
        1,
        "{}",
        requests[0]
    );
    // b retries its unanswered report until the restored lead accepts it: that
    // retry is recognised by its report id and adds no notice.
    let log = env.roots.runtime.join("l").join("pod.log");
    wait_until(
        "b's retried report answered",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("already recorded")
        },
    );
    env.ok(&["send", "l", "what now?", "--wait"]);
    let shown: Vec<String> = system_items(&env, "l")
        .into_iter()
        .filter(|t| t.contains("child_finished{name: b}"))
        .collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(notice_entries(&env, "l").len(), 1);
    let last = lead_requests(&mock, before).pop().unwrap();
    assert!(last.contains("what now"), "{last}");
    assert_eq!(last.matches("child_finished{name: b}").count(), 1, "{last}");
    // `pod logs` keeps the bookkeeping out of the default view, `--full` shows it.
    let plain = env.ok(&["logs", "l"]);
    assert!(
        !plain.contains("pod.notice") && plain.contains("child_finished"),
        "{plain}"
    );
    assert!(env.ok(&["logs", "l", "--full"]).contains("pod.notice"));
    env.ok(&["stop", "l"]);
}

#[test]
fn a_notice_shown_before_the_kill_is_not_shown_again_after_resume() {
    let env = Env::new();
    let mock = Mock::start(SCRIPT);
    start_lead(&env, &mock, None);
    wait_until(
        "the lead ran with b's notice",
        Duration::from_secs(20),
        || completed_runs(&env, "l") >= 2,
    );
    assert_eq!(system_items(&env, "l").len(), 1);
    common::signal(env.pid("l"), Signal::KILL);
    wait_until("l dead", Duration::from_secs(5), || !env.is_live("l"));

    let before = mock.requests().len();
    env.ok(&["resume", "l", "what now?", "--detach"]);
    wait_until("the lead's answer", Duration::from_secs(20), || {
        completed_runs(&env, "l") >= 3
    });
    let requests = lead_requests(&mock, before);
    assert_eq!(requests.len(), 1, "no run for an already shown notice");
    assert!(requests[0].contains("what now"));
    assert_eq!(requests[0].matches("child_finished{name: b}").count(), 1);
    assert_eq!(system_items(&env, "l").len(), 1);
    env.ok(&["stop", "l"]);
}

#[test]
fn an_exit_notice_recorded_before_the_parent_died_is_shown_once_and_reconciliation_adds_none() {
    let env = Env::new();
    let mock = Mock::start(SCRIPT);
    start_lead(&env, &mock, Some(("POD_TEST_CRASH_AFTER_EXIT_NOTICE", "b")));
    wait_until(
        "the lead ran with b's report",
        Duration::from_secs(20),
        || completed_runs(&env, "l") >= 2,
    );
    // b dies; the lead's supervisor records the exit notice, then the lead is
    // SIGKILLed before its record says lost or the scope is back.
    common::signal(env.pid("b"), Signal::KILL);
    wait_until(
        "the lead killed after recording",
        Duration::from_secs(20),
        || !env.is_live("l"),
    );
    let rec = pod_store::PodStore::new(env.roots.pods.clone())
        .read(&pod_ids::PodName::new("l").unwrap())
        .unwrap();
    assert_eq!(rec.children[0].status, pod_store::ChildStatus::Live);

    let before = mock.requests().len();
    env.ok(&["resume", "l", "--detach"]);
    wait_until("the restored lead's run", Duration::from_secs(20), || {
        completed_runs(&env, "l") >= 3
    });
    let items = system_items(&env, "l");
    assert_eq!(
        items
            .iter()
            .filter(|t| t.contains("child_exited{name: b"))
            .count(),
        1,
        "{items:?}"
    );
    assert!(
        !items.iter().any(|t| t.contains("child_lost")),
        "reconciliation told the same end again: {items:?}"
    );
    let requests = lead_requests(&mock, before);
    assert_eq!(requests[0].matches("child_exited{name: b").count(), 1);
    let rec = pod_store::PodStore::new(env.roots.pods.clone())
        .read(&pod_ids::PodName::new("l").unwrap())
        .unwrap();
    assert_eq!(rec.children[0].status, pod_store::ChildStatus::Reclaimed);
    env.ok(&["stop", "l"]);
}

/// A `child_finished` hook cut off by a SIGKILL of the parent runs again at resume,
/// before the model sees the notice: its note is not lost, and the notice is still
/// shown once.
#[test]
fn a_child_finished_hook_cut_off_by_a_sigkill_runs_again_at_resume() {
    let env = Env::new();
    // In a folder of its own: with `src` delegated, the lead's shell (and so its
    // hooks) may write inside the project's existing entries but not create new
    // ones at its top (ARCHITECTURE §5, how Landlock expresses "minus a subtree").
    std::fs::create_dir(env.project.join("notes")).unwrap();
    let marker = env.project.join("notes/hook-started");
    // First run: mark, then hang (the parent is killed meanwhile). Second: a note.
    let hook = format!(
        r#"cat >/dev/null; if [ -e {m} ]; then echo '{{"hookSpecificOutput": {{"additionalContext": "checked by the hook"}}}}'; else touch {m}; sleep 60; fi"#,
        m = marker.display()
    );
    env.write_user_config(&format!(
        "[[hooks.child_finished]]\ncommand = '''{hook}'''\n"
    ));
    let mock = Mock::start(SCRIPT);
    start_lead(&env, &mock, None);
    wait_until("the hook started", Duration::from_secs(20), || {
        marker.exists()
    });
    common::signal(env.pid("l"), Signal::KILL);
    wait_until("l dead", Duration::from_secs(5), || !env.is_live("l"));
    let recorded = notice_entries(&env, "l");
    assert_eq!(recorded.len(), 1, "queued, never hooked: {recorded:?}");
    assert_eq!(recorded[0]["hook"]["child"], "b");
    assert!(system_items(&env, "l").is_empty());

    let before = mock.requests().len();
    env.ok(&["resume", "l", "--detach"]);
    wait_until("the restored lead's run", Duration::from_secs(20), || {
        completed_runs(&env, "l") >= 2
    });
    let requests = lead_requests(&mock, before);
    assert_eq!(
        requests[0]
            .matches("[child_finished hook] checked by the hook")
            .count(),
        1,
        "{}",
        requests[0]
    );
    assert_eq!(requests[0].matches("child_finished{name: b}").count(), 1);
    let hooked: Vec<_> = notice_entries(&env, "l")
        .into_iter()
        .filter(|e| e["hooked"] == true)
        .collect();
    assert_eq!(hooked.len(), 1, "{hooked:?}");
    let shown: Vec<String> = system_items(&env, "l")
        .into_iter()
        .filter(|t| t.contains("child_finished{name: b}"))
        .collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    env.ok(&["stop", "l"]);
}
