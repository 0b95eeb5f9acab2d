//! Hooks and permission rules end to end (README "Hooks" and "Permission rules"):
//! real `pod` processes against mock-llm, hooks as real shell commands under the
//! Pod's sandbox, and what the model saw read back from mock-llm's recorded
//! requests.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, Mock, wait_until};
use session_store::EntryKind;

/// A model that calls `bash` with `command` once, then answers "done".
fn bash_then_done(command: &str) -> String {
    format!(
        r#"
responses:
  - output:
      - tool_call: bash
        id: c1
        arguments: {{"command": {command:?}}}
  - when: {{last_tool_result: bash}}
    output:
      - text: "done"
"#
    )
}

/// The text of the second model request (the one after the tool call).
fn second_request(mock: &Mock) -> String {
    let reqs = mock.requests();
    assert!(
        reqs.len() >= 2,
        "expected two model requests, got {}",
        reqs.len()
    );
    reqs[1].body.to_string()
}

fn extensions(env: &Env, pod: &str, domain: &str) -> Vec<serde_json::Value> {
    env.log(pod)
        .into_iter()
        .filter_map(|e| match e.kind {
            EntryKind::Extension { domain: d, payload } if d == domain => Some(payload),
            _ => None,
        })
        .collect()
}

fn run_print(env: &Env, mock: &Mock, name: &str, extra: &[&str]) -> std::process::Output {
    let url = mock.url();
    let mut args = vec![
        "run",
        "go",
        "--name",
        name,
        "--model",
        "m",
        "--base-url",
        &url,
        "--print",
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

#[test]
fn a_pre_tool_use_hook_denies_bash_and_the_model_sees_its_message() {
    let env = Env::new();
    env.write_user_config(
        r#"
[[hooks.pre_tool_use]]
matcher = "bash"
command = "cat > hook-input.json; echo 'no touching here: use write_file' >&2; exit 2"
"#,
    );
    let mock = Mock::start(&bash_then_done("touch should-not-exist"));
    let out = run_print(&env, &mock, "h1", &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        !env.project.join("should-not-exist").exists(),
        "the denied command ran"
    );
    let seen = second_request(&mock);
    assert!(seen.contains("no touching here: use write_file"), "{seen}");
    // The hook got the event as JSON on stdin (Claude Code's field names).
    let input: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.project.join("hook-input.json")).unwrap())
            .unwrap();
    assert_eq!(input["hook_event_name"], "PreToolUse");
    assert_eq!(input["tool_name"], "bash");
    assert_eq!(input["tool_input"]["command"], "touch should-not-exist");
    assert_eq!(input["pod"], "h1");
    // The decision is in the session log.
    let hooks = extensions(&env, "h1", "pod.hook");
    assert!(
        hooks
            .iter()
            .any(|h| h["outcome"] == "block" && h["event"] == "pre_tool_use"),
        "{hooks:?}"
    );
}

#[test]
fn a_hook_past_its_timeout_is_killed_and_reported_and_the_pod_goes_on() {
    let env = Env::new();
    env.write_user_config(
        r#"
[[hooks.pre_tool_use]]
# The shell's pid as this machine sees it (`$$` is its pid inside the call's own
# PID namespace): `read` is a builtin, so /proc/self is the shell itself.
command = "read -r pid rest < /proc/self/stat; echo $pid > hook.pid; sleep 60"
timeout_secs = 1
"#,
    );
    let mock = Mock::start(&bash_then_done("echo ran > ran.txt"));
    let out = run_print(&env, &mock, "h2", &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "done");
    // Fail-open by default: the call ran after the hook was killed.
    assert!(env.project.join("ran.txt").exists());
    let seen = second_request(&mock);
    assert!(
        seen.contains("timed out after 1 s and was killed"),
        "{seen}"
    );
    // The hook's shell is gone (its group was killed), not left sleeping.
    let pid: i32 = std::fs::read_to_string(env.project.join("hook.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_until(
        "the hook's process to be gone",
        Duration::from_secs(5),
        || !std::path::Path::new(&format!("/proc/{pid}")).exists(),
    );
    let hooks = extensions(&env, "h2", "pod.hook");
    assert!(hooks.iter().any(|h| h["outcome"] == "failed"), "{hooks:?}");
}

#[test]
fn a_fail_closed_hook_that_fails_blocks_the_call() {
    let env = Env::new();
    env.write_user_config(
        r#"
[[hooks.pre_tool_use]]
command = "exit 7"
fail_closed = true
"#,
    );
    let mock = Mock::start(&bash_then_done("echo ran > ran.txt"));
    assert!(run_print(&env, &mock, "h3", &[]).status.success());
    assert!(!env.project.join("ran.txt").exists());
    assert!(second_request(&mock).contains("exited with 7"));
}

#[test]
fn a_post_tool_use_note_reaches_the_next_request() {
    let env = Env::new();
    env.write_user_config(r#"
[[hooks.post_tool_use]]
matcher = "write_file|edit_file|bash"
command = '''cat >/dev/null; echo '{"hookSpecificOutput": {"hookEventName": "PostToolUse", "additionalContext": "lint: 2 warnings in a.txt"}}' '''
"#,
    );
    let mock = Mock::start(&bash_then_done("echo hi"));
    assert!(run_print(&env, &mock, "h4", &[]).status.success());
    let seen = second_request(&mock);
    assert!(
        seen.contains("[post_tool_use hook] lint: 2 warnings in a.txt"),
        "{seen}"
    );
}

#[test]
fn a_pre_tool_use_hook_can_rewrite_the_arguments() {
    let env = Env::new();
    env.write_user_config(r#"
[[hooks.pre_tool_use]]
matcher = "bash(echo *)"
command = '''cat >/dev/null; echo '{"hookSpecificOutput": {"permissionDecision": "allow", "updatedInput": {"command": "echo rewritten > out.txt"}}}' '''
"#,
    );
    let mock = Mock::start(&bash_then_done("echo original > out.txt"));
    assert!(run_print(&env, &mock, "h5", &[]).status.success());
    assert_eq!(
        std::fs::read_to_string(env.project.join("out.txt")).unwrap(),
        "rewritten\n"
    );
    assert!(second_request(&mock).contains("rewrote the arguments"));
}

#[test]
fn an_ask_rule_is_denied_in_print_runs_unless_approve_all() {
    let env = Env::new();
    let mock = Mock::start(&bash_then_done("touch pushed.txt && git push origin main"));
    let out = run_print(&env, &mock, "a1", &["--ask", "bash(git push*)"]);
    assert!(out.status.success(), "{out:?}");
    assert!(!env.project.join("pushed.txt").exists());
    let seen = second_request(&mock);
    assert!(
        seen.contains("nobody can give one in a non-interactive run"),
        "{seen}"
    );
    assert!(seen.contains("rule ask: bash(git push*)"), "{seen}");
    let decisions = extensions(&env, "a1", "pod.permission");
    assert!(
        decisions.iter().any(|d| d["decision"] == "deny"),
        "{decisions:?}"
    );

    let mock = Mock::start(&bash_then_done("touch pushed.txt && git push origin main"));
    let out = run_print(
        &env,
        &mock,
        "a2",
        &["--ask", "bash(git push*)", "--approve-all"],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(env.project.join("pushed.txt").exists(), "approved call ran");
}

#[test]
fn deny_rules_from_config_and_flags_block_file_and_shell_calls() {
    let env = Env::new();
    env.write_user_config(
        r#"
[permissions]
deny = ["write_file(*.lock)"]
"#,
    );
    let script = r#"
responses:
  - output:
      - tool_call: write_file
        id: w1
        arguments: {"path": "sub/../Cargo.lock", "content": "x"}
      - tool_call: bash
        id: b1
        arguments: {"command": "ls && curl -s http://127.0.0.1:9/"}
  - when: {last_tool_result: bash}
    output:
      - text: "done"
"#;
    let mock = Mock::start(script);
    let out = run_print(&env, &mock, "d1", &["--deny", "bash(curl *)"]);
    assert!(out.status.success(), "{out:?}");
    assert!(!env.project.join("Cargo.lock").exists());
    let seen = second_request(&mock);
    assert!(seen.contains("deny rule `write_file(*.lock)`"), "{seen}");
    assert!(seen.contains("deny rule `bash(curl *)`"), "{seen}");
}

#[test]
fn a_bad_rule_or_hook_is_a_clear_error_before_anything_starts() {
    let env = Env::new();
    let mock = Mock::start("responses: [{output: [{text: 'ok'}]}]");
    let out = run_print(&env, &mock, "bad1", &["--deny", "bash(git"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--deny rule \"bash(git\""), "{err}");
    env.write_user_config("[[hooks.stop]]\ncommand = \"\"\n");
    let out = run_print(&env, &mock, "bad2", &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hooks.stop[0]: `command` is empty"), "{err}");
    assert!(mock.requests().is_empty(), "no model call was made");
}

#[test]
fn a_stop_hook_sends_the_model_back_to_work_once() {
    let env = Env::new();
    env.write_user_config(r#"
[[hooks.stop]]
command = '''input=$(cat); case "$input" in *'"stop_hook_active":false'*) echo 'run the tests first' >&2; exit 2;; esac'''
"#,
    );
    let mock = Mock::start("responses: [{output: [{text: 'finished'}], times: 5}]");
    let out = run_print(&env, &mock, "s1", &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mock.requests().len(), 2, "one continuation, then stop");
    assert!(second_request(&mock).contains("[stop hook] run the tests first"));
}
