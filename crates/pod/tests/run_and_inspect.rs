//! A run with two parallel tool calls then text; what the log, `pod logs`, `pod ls`
//! show; `pod stop`; and the clear errors of the CLI.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, Mock, kinds};
use serde_json::Value;
use session_store::EntryKind;
use transcript::Item;

const PARALLEL: &str = r#"
responses:
  - output:
      - tool_call: read_file
        id: call_a
        arguments: {"path": "a.txt"}
      - tool_call: grep
        id: call_b
        arguments: {"pattern": "fn main", "path": "src"}
    interleave: true
  - when: {last_tool_result: grep}
    output:
      - text: "Both done."
"#;

#[test]
fn parallel_tool_calls_then_text_are_logged_in_order_and_listed_idle() {
    let env = Env::new();
    let mock = Mock::start(PARALLEL);
    let out = env.ok(&[
        "run",
        "look",
        "--name",
        "p1",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--print",
        "--keep",
    ]);
    assert_eq!(out.trim(), "Both done.");

    let log = env.log("p1");
    let k = kinds(&log);
    let pos = |kind: &str| {
        k.iter()
            .position(|x| x == kind)
            .unwrap_or_else(|| panic!("{kind} missing: {k:?}"))
    };
    assert_eq!(k[0], "segment_start");
    // user input, two calls, their two results, the text, turn end, run completed.
    let calls: Vec<&str> = log
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::AssistantItem {
                item: Item::ToolCall(c),
            } => Some(c.call_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(calls, ["call_a", "call_b"]);
    let results: Vec<(usize, &str, bool)> = log
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.kind {
            EntryKind::ToolResult { result } => Some((i, result.call_id.as_str(), result.is_error)),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| !r.2), "tool errors: {log:?}");
    let last_call = log
        .iter()
        .rposition(|e| {
            matches!(
                &e.kind,
                EntryKind::AssistantItem {
                    item: Item::ToolCall(_)
                }
            )
        })
        .unwrap();
    let text = log.iter().position(|e| matches!(&e.kind, EntryKind::AssistantItem { item: Item::AssistantMessage { text } } if text == "Both done.")).unwrap();
    assert!(pos("user_input") < last_call);
    assert!(results.iter().all(|r| r.0 > last_call && r.0 < text));
    assert!(text < pos("turn_end") && pos("turn_end") < pos("run_completed"));
    assert_eq!(*k.last().unwrap(), "run_completed");
    // The grep result really came from the tool.
    let grep_out = log.iter().find_map(|e| match &e.kind {
        EntryKind::ToolResult { result } if result.call_id == "call_b" => {
            Some(result.output.clone())
        }
        _ => None,
    });
    let grep_out = grep_out.unwrap();
    assert!(
        grep_out.contains("src/main.rs") && !grep_out.contains("a.txt"),
        "{grep_out}"
    );

    let logs = env.ok(&["logs", "p1"]);
    for needle in [
        "user           look",
        "tool_call      call_a read_file",
        "tool_result    call_b grep",
        "assistant      Both done.",
        "run_completed",
    ] {
        assert!(logs.contains(needle), "{needle:?} not in:\n{logs}");
    }

    let ls: Value = serde_json::from_str(&env.ok(&["ls", "--json"])).unwrap();
    let row = &ls.as_array().unwrap()[0];
    assert_eq!(row["name"], "p1");
    assert_eq!(row["status"], "idle");
    assert_eq!(row["pid"].as_u64().unwrap() as u32, env.pid("p1"));
    assert_eq!(
        row["write"],
        serde_json::json!([common::path_str(&env.project)])
    );
    assert_eq!(row["read"], serde_json::json!([]));
    assert!(row["parent"].is_null());
    assert!(row["session_id"].is_string() && row["segment_id"].is_string());

    // A second Pod under the same live name is refused clearly (exit 4: held).
    let err = env.fails_with(
        4,
        &[
            "run",
            "again",
            "--name",
            "p1",
            "--model",
            "m",
            "--base-url",
            &mock.url(),
            "--detach",
        ],
    );
    assert!(err.contains("Pod p1 is already running"), "{err}");

    let registry: Value = serde_json::from_str(&env.ok(&["registry", "--json"])).unwrap();
    assert_eq!(registry[0]["name"], "p1", "{registry}");
    assert_eq!(registry[0]["pid"].as_u64().unwrap() as u32, env.pid("p1"));

    // A second Pod whose write scope overlaps the live one's is refused in the
    // user's terms (exit 4), and leaves nothing behind.
    let err = env.fails_with(
        4,
        &[
            "run",
            "x",
            "--name",
            "p2",
            "--model",
            "m",
            "--base-url",
            &mock.url(),
            "--detach",
        ],
    );
    let pid = env.pid("p1");
    assert!(
        err.contains(&format!(
            "this directory ({}) is already being written by Pod p1 (pid {pid})",
            common::path_str(&env.project)
        )) && err.contains("pod stop p1")
            && err.contains("--write SUBDIR"),
        "{err}"
    );
    assert!(
        !env.roots.runtime.join("p2").exists(),
        "no runtime dir left"
    );
    assert!(!env.roots.pods.join("p2").exists(), "no record left");

    // `pod stop`: no socket, no live process, a terminal entry.
    env.ok(&["stop", "p1"]);
    assert!(!env.socket("p1").exists());
    assert!(!env.is_live("p1"));
    let table = pod_registry::FileRegistry::open(env.roots.runtime.clone())
        .unwrap()
        .read_unlocked()
        .unwrap();
    assert!(
        table.allocations.is_empty(),
        "released, not just reaped: {:?}",
        table.allocations
    );
    let last = env.log("p1").pop().unwrap();
    match last.kind {
        EntryKind::Extension { domain, payload } => {
            assert_eq!(domain, pod::LIFECYCLE_DOMAIN);
            assert_eq!(payload["event"], "stopped");
        }
        other => panic!("last entry is {other:?}"),
    }
    let ls: Value = serde_json::from_str(&env.ok(&["ls", "--json"])).unwrap();
    assert_eq!(ls[0]["status"], "stopped");
    assert!(ls[0]["pid"].is_null(), "keys are never missing: {ls}");

    // Reusing the name of a stopped Pod points at `pod resume`.
    let err = env.fails_with(
        2,
        &[
            "run",
            "x",
            "--name",
            "p1",
            "--model",
            "m",
            "--base-url",
            &mock.url(),
            "--detach",
        ],
    );
    assert!(
        err.contains("already exists") && err.contains("pod resume p1"),
        "{err}"
    );

    // Sending to a dead Pod suggests `pod resume`.
    let err = env.fails(&["send", "p1", "hello"]);
    assert!(
        err.contains("not running") && err.contains("pod resume p1"),
        "{err}"
    );
}

#[test]
fn wrong_base_url_is_a_clear_error_and_a_run_errored_entry() {
    let env = Env::new();
    // A server that is not the provider's API answers 404 to the dialect's endpoint
    // (as e.g. an OpenAI base URL without `/v1` does); 404 is not retried.
    let mock =
        Mock::start("responses: [{status: 404, message: 'no route /nowhere/chat/completions'}]");
    let url = format!("{}/nowhere", mock.server.as_ref().unwrap().base_url());
    let out = env.run(&[
        "run",
        "hi",
        "--name",
        "bad",
        "--model",
        "m",
        "--base-url",
        &url,
        "--print",
    ]);
    // 404 (a wrong URL or an unknown model) is configuration: exit 3, not retried.
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(mock.requests().len(), 1, "not retried");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("run failed") && err.contains("HTTP 404"),
        "{err}"
    );
    let log = env.log("bad");
    assert!(
        log.iter().any(
            |e| matches!(&e.kind, EntryKind::RunErrored { error } if error.contains("openai"))
        ),
        "{log:?}"
    );
    assert!(
        !env.is_live("bad"),
        "a failed one-shot run leaves no live Pod"
    );
    assert!(env.ok(&["stop", "bad"]).contains("already stopped"));
}

#[test]
fn invalid_config_key_names_file_and_key() {
    let env = Env::new();
    let cfg = env.project.join(".pods");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.toml"), "[defaults]\nmodle = \"x\"\n").unwrap();
    // Trusting it already says what is wrong.
    let trusted = env.run(&["trust"]);
    assert!(
        String::from_utf8_lossy(&trusted.stderr).contains("modle"),
        "{trusted:?}"
    );
    let err = env.fails_with(3, &["run", "hi", "--model", "m", "--detach"]);
    assert!(
        err.contains(&common::path_str(&cfg.join("config.toml"))),
        "{err}"
    );
    assert!(err.contains("modle"), "{err}");
    assert!(
        !env.roots.pods.exists() || std::fs::read_dir(&env.roots.pods).unwrap().next().is_none(),
        "no Pod may be created"
    );
}

#[test]
fn unknown_pod_errors_suggest_what_to_do() {
    let env = Env::new();
    let err = env.fails_with(2, &["send", "ghost", "hi"]);
    assert!(err.contains("no Pod named ghost"), "{err}");
    let err = env.fails_with(2, &["resume", "ghost", "--detach"]);
    assert!(err.contains("no Pod named ghost"), "{err}");
    let err = env.fails_with(2, &["send", "Bad/Name", "hi"]);
    assert!(err.contains("invalid") || err.contains("name"), "{err}");
}
