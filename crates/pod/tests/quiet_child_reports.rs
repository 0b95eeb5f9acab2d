//! Issue 14: a user talking to a child directly does not buy a model turn of the
//! parent; the parent hears of that run with its next run instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, Mock, start_lead, wait_until};

#[test]
fn a_user_message_to_a_child_does_not_wake_its_parent() {
    let env = Env::new();
    std::fs::create_dir_all(env.project.join("a")).unwrap();
    let mock = Mock::start(
        r#"
responses:
  - when: {model: lead, last_user_contains: "hello parent"}
    output: [{text: "parent answered"}]
  - when: {model: lead, last_user_contains: "child_finished{name: c}"}
    output: [{text: "parent saw the task's report"}]
  - when: {model: lead, last_tool_result: spawn_pod}
    output: [{text: "waiting"}]
  - when: {model: lead}
    output:
      - tool_call: spawn_pod
        id: s1
        arguments: {"name": "c", "task": "the task", "write": ["a"], "model": "mc"}
  - when: {model: mc}
    times: 5
    output: [{text: "child answer"}]
"#,
    );
    start_lead(&env, &mock, None);
    let lead_requests = || {
        mock.requests()
            .iter()
            .filter(|r| r.body["model"] == "lead")
            .count()
    };
    // spawn, "waiting", and the wake-up by the report of the task it gave.
    wait_until(
        "the parent heard of its child's task",
        Duration::from_secs(30),
        || lead_requests() == 3,
    );
    // The user talks to the child directly; the child's report reaches the parent.
    env.ok(&["send", "c", "a question from the user", "--wait"]);
    let log = env.roots.runtime.join("l").join("pod.log");
    wait_until("the parent got the report", Duration::from_secs(30), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("did not ask for")
    });
    assert_eq!(
        lead_requests(),
        3,
        "the report must not start a run of the parent"
    );
    // The parent's next run shows it.
    env.ok(&["send", "l", "hello parent", "--wait"]);
    let reqs = mock.requests();
    let last = reqs
        .iter()
        .rev()
        .find(|r| r.body["model"] == "lead")
        .unwrap();
    let body = last.body.to_string();
    assert!(body.contains("hello parent"), "{body}");
    assert_eq!(
        body.matches("child_finished{name: c}").count(),
        2,
        "the task's report and the user's run's report: {body}"
    );
    assert_eq!(lead_requests(), 4);
    env.ok(&["stop", "l"]);
}
