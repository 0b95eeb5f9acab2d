//! End-to-end: an `ask` permission rule becomes a prompt in the real dashboard
//! (`pod attach`, in tmux): `n` + a reason denies (the model gets the reason), `y`
//! approves once. Needs `tmux` (`.ci/run` installs it); without it the test says so
//! and passes vacuously.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Env, Mock, wait_until};
use session_store::EntryKind;

/// One tmux session running the dashboard (kept apart from `tui_tmux.rs`'s helper
/// so the dashboard's own tests can change freely).
struct Tmux(String);

impl Tmux {
    fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["send-keys", "-t", &self.0])
            .args(keys)
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = Command::new("tmux")
                .args(["capture-pane", "-p", "-t", &self.0])
                .output()
                .unwrap();
            let screen = String::from_utf8_lossy(&out.stdout).into_owned();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

fn tool_outputs(env: &Env, pod: &str) -> Vec<String> {
    env.log(pod)
        .into_iter()
        .filter_map(|e| match e.kind {
            EntryKind::ToolResult { result } => Some(result.output),
            _ => None,
        })
        .collect()
}

#[test]
fn an_ask_rule_prompts_in_the_dashboard_deny_with_reason_then_approve_once() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    let env = Env::new();
    let mock = Mock::start(
        r#"
responses:
  - when: {last_user_contains: "push it"}
    output:
      - tool_call: bash
        id: c1
        arguments: {"command": "touch first.txt && git push origin main"}
  - when: {last_user_contains: "again"}
    output:
      - tool_call: bash
        id: c2
        arguments: {"command": "touch second.txt && git push origin main"}
  - when: {last_tool_result: bash}
    output: [{text: "handled"}]
    times: 2
"#,
    );
    env.ok(&[
        "run",
        "push it",
        "--name",
        "lead",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--ask",
        "bash(git push*)",
        "--detach",
    ]);
    let session = format!("pods-approval-{}", std::process::id());
    let status = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "40",
            "-s",
            &session,
            "-c",
        ])
        .arg(&env.project)
        .arg("-e")
        .arg(format!("PODS_HOME={}", env.home.path().display()))
        .arg(format!("exec {} attach lead", env!("CARGO_BIN_EXE_pod")))
        .status()
        .unwrap();
    assert!(status.success());
    let tmux = Tmux(session);
    // The call was asked before the dashboard connected: the prompt comes from the
    // Pod's status at hello.
    let screen = tmux.wait_for("the approval prompt", |s| {
        s.contains("Approval needed · lead")
    });
    assert!(screen.contains("git push origin main"), "{screen}");
    assert!(screen.contains("rule ask: bash(git push*)"), "{screen}");
    tmux.keys(&["n"]);
    tmux.wait_for("the reason field", |s| s.contains("deny, reason:"));
    tmux.keys(&["-l", "not on a Friday"]);
    tmux.keys(&["Enter"]);
    wait_until(
        "the denial to reach the log",
        Duration::from_secs(20),
        || {
            tool_outputs(&env, "lead")
                .iter()
                .any(|o| o.contains("denied by the approver: not on a Friday"))
        },
    );
    assert!(!env.project.join("first.txt").exists(), "a denied call ran");
    tmux.wait_for("the prompt to close", |s| !s.contains("Approval needed"));

    // A call asked while the dashboard is attached: the event opens the prompt.
    env.ok(&["send", "lead", "again"]);
    tmux.wait_for("the second prompt", |s| {
        s.contains("Approval needed · lead") && s.contains("second.txt")
    });
    tmux.keys(&["y"]);
    wait_until("the approved call to run", Duration::from_secs(20), || {
        env.project.join("second.txt").exists()
    });
    let reqs = mock.requests();
    let bodies: Vec<String> = reqs.iter().map(|r| r.body.to_string()).collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("denied by the approver: not on a Friday")),
        "the model saw the reason"
    );
    let _ = env.run(&["stop", "lead"]);
}
