//! The headless contract (README "Scripting pod"): one-shot `--print`/`--json` runs
//! that stop their Pod however they end, exit codes, the task from stdin, fail-fast
//! provider checks, scope safety at the CLI, and Unix pipe manners. Real processes
//! against mock-llm; the CLI is killed with SIGKILL where the contract says so.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Env, Mock, signal, wait_until};
use serde_json::Value;
use session_store::EntryKind;
use transcript::Item;

fn registry_is_empty(env: &Env) -> bool {
    pod_registry::FileRegistry::open(env.roots.runtime.clone())
        .and_then(|r| r.read_unlocked())
        .map(|t| t.allocations.is_empty())
        .unwrap_or(true)
}

fn record_count(env: &Env) -> usize {
    std::fs::read_dir(&env.roots.pods).map_or(0, |d| {
        d.flatten()
            .filter(|e| e.path().join("metadata.json").exists())
            .count()
    })
}

#[test]
fn twenty_one_shot_runs_in_one_directory_leave_nothing_running_and_each_resumes() {
    let env = Env::new();
    let mock = Mock::start("responses: [{output: [{text: 'ok'}], times: 40}]");
    for i in 0..20 {
        let name = format!("r{i}");
        let out = env.ok(&[
            "run",
            "go",
            "--name",
            &name,
            "--model",
            "m",
            "--base-url",
            &mock.url(),
            "--print",
        ]);
        assert_eq!(out.trim(), "ok", "run {i}");
        assert!(!env.is_live(&name), "run {i} left its Pod alive");
        assert!(!env.socket(&name).exists(), "run {i} left its socket");
    }
    assert!(registry_is_empty(&env), "every scope released");
    let ls: Value = serde_json::from_str(&env.ok(&["ls", "--json"])).unwrap();
    assert_eq!(ls.as_array().unwrap().len(), 20);
    assert!(
        ls.as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "stopped" && r["pid"].is_null()),
        "{ls}"
    );
    // Each continues by name (one-shot again), in the same session.
    for i in 0..20 {
        let name = format!("r{i}");
        let out = env.ok(&["resume", &name, "and again", "--print"]);
        assert_eq!(out.trim(), "ok");
        assert!(!env.is_live(&name));
        let users = env
            .log(&name)
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::UserInput { .. }))
            .count();
        assert_eq!(users, 2, "{name} continued its conversation");
    }
    assert!(registry_is_empty(&env));
}

const SLOW_TOOL: &str = r#"
responses:
  - output:
      - tool_call: bash
        id: call_slow
        arguments: {"command": "echo started >> marker; sleep 30; echo finished >> marker"}
  - when: {last_user_contains: "continue"}
    output:
      - text: "resumed"
"#;

#[test]
fn killing_the_cli_mid_tool_stops_the_pod_within_2s_and_the_call_is_not_rerun() {
    let env = Env::new();
    let mock = Mock::start(SLOW_TOOL);
    let mut cli = env
        .pod()
        .args([
            "run",
            "work",
            "--name",
            "k",
            "--model",
            "m",
            "--base-url",
            &mock.url(),
            "--print",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let marker = env.project.join("marker");
    wait_until("the tool to start", Duration::from_secs(10), || {
        marker.exists()
    });
    let pod_pid = env.pid("k");
    signal(cli.id(), rustix::process::Signal::KILL);
    let killed = Instant::now();
    let _ = cli.wait();
    wait_until("the Pod to stop", Duration::from_secs(2), || {
        !env.is_live("k")
    });
    eprintln!(
        "Pod {pod_pid} stopped {:?} after its CLI was killed",
        killed.elapsed()
    );
    assert!(registry_is_empty(&env), "scope released");
    assert!(!env.socket("k").exists());
    let log = env.log("k");
    let closed = log.iter().find_map(|e| match &e.kind {
        EntryKind::ToolResult { result } if result.call_id == "call_slow" => Some(result.clone()),
        _ => None,
    });
    let closed = closed.expect("the interrupted call has a result");
    assert!(
        closed.is_error && closed.output.starts_with("interrupted"),
        "{closed:?}"
    );
    assert!(
        matches!(&log.last().unwrap().kind, EntryKind::Extension { payload, .. } if payload["event"] == "stopped"),
        "a clean stop entry ends the log: {:?}",
        log.last()
    );

    // Resume: the model sees the closed call and answers; the command is never re-run.
    let out = env.ok(&["resume", "k", "continue", "--print"]);
    assert_eq!(out.trim(), "resumed");
    let calls = env
        .log("k")
        .iter()
        .filter(|e| {
            matches!(
                &e.kind,
                EntryKind::AssistantItem {
                    item: Item::ToolCall(_)
                }
            )
        })
        .count();
    assert_eq!(calls, 1);
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "started\n",
        "not re-run, not finished"
    );
}

#[test]
fn a_missing_key_exits_3_at_once_and_leaves_nothing() {
    let env = Env::new();
    let t = Instant::now();
    let out = env
        .pod()
        .env_remove("OPENAI_API_KEY")
        .args(["run", "hi", "--model", "m", "--print"])
        .output()
        .unwrap();
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("OPENAI_API_KEY is not set"), "{err}");
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(record_count(&env), 0, "no record");
    assert!(
        std::fs::read_dir(&env.roots.runtime).map_or(true, |mut d| d.next().is_none()),
        "no runtime dir"
    );
    // A named provider's own variable is the one asked for.
    let out = env
        .pod()
        .env_remove("OPENROUTER_API_KEY")
        .args([
            "run",
            "hi",
            "--provider",
            "openrouter",
            "--model",
            "m",
            "--print",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OPENROUTER_API_KEY"));
}

#[test]
fn a_provider_answering_401_exits_3_after_one_request_and_no_pod_lives() {
    let env = Env::new();
    let mock = Mock::start("responses: [{status: 401, message: 'invalid api key'}]");
    let out = env.run(&[
        "run",
        "hi",
        "--name",
        "a",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--print",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("authentication failed") && err.contains("OPENAI_API_KEY"),
        "{err}"
    );
    assert_eq!(mock.requests().len(), 1, "401 is not retried");
    assert!(!env.is_live("a"));
    assert!(registry_is_empty(&env));

    // Connection refused is not retried either: configuration, exit 3.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let t = Instant::now();
    let out = env.run(&[
        "run",
        "hi",
        "--name",
        "b",
        "--model",
        "m",
        "--base-url",
        &url,
        "--print",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "not retried: {:?}",
        t.elapsed()
    );
    assert!(!env.is_live("b"));
}

#[test]
fn the_task_comes_from_stdin_and_stdin_is_appended_to_a_task() {
    let env = Env::new();
    let mock = Mock::start(
        r#"
responses:
  - when: {last_user_contains: "what is 2+2"}
    output: [{text: "4"}]
  - when: {last_user_contains: "<stdin>"}
    output: [{text: "reviewed"}]
"#,
    );
    let run = |args: &[&str], input: &str| env.run_with_stdin(args, input.as_bytes());
    let url = mock.url();
    let out = run(
        &[
            "run",
            "--name",
            "s1",
            "--model",
            "m",
            "--base-url",
            &url,
            "--print",
        ],
        "what is 2+2\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "4");
    let out = run(
        &[
            "run",
            "review this",
            "--name",
            "s2",
            "--model",
            "m",
            "--base-url",
            &url,
            "--print",
        ],
        "diff --git a/x b/x\n",
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "reviewed",
        "{out:?}"
    );
    let task = env.log("s2").iter().find_map(|e| match &e.kind {
        EntryKind::UserInput { text } => Some(text.clone()),
        _ => None,
    });
    assert_eq!(
        task.unwrap(),
        "review this\n\n<stdin>\ndiff --git a/x b/x\n</stdin>"
    );
    // `-` with nothing on stdin is a usage error.
    let out = run(
        &["run", "-", "--model", "m", "--base-url", &url, "--print"],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn a_closed_stdout_ends_quietly_with_0_and_stop_twice_is_fine() {
    let env = Env::new();
    let mock = Mock::start("responses: [{output: [{text: 'short'}]}]");
    // A task large enough that `pod logs` is still writing when `head` has gone.
    // (from stdin: it is too long for an argument).
    let out = env.run_with_stdin(
        &[
            "run",
            "-",
            "--name",
            "p",
            "--model",
            "m",
            "--base-url",
            &mock.url(),
            "--print",
        ],
        "x".repeat(1 << 20).as_bytes(),
    );
    assert!(out.status.success(), "{out:?}");
    for args in ["logs p --json", "logs p --full", "completions zsh"] {
        let script = format!(
            "'{}' {args} | head -1 >/dev/null; echo \"status=${{PIPESTATUS[0]}}\" >&2",
            env!("CARGO_BIN_EXE_pod")
        );
        let out = env.pod_shell(&script);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("status=0"), "pod {args} | head -1: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{err}"
        );
    }
    let first = env.ok(&["stop", "p"]);
    assert!(first.contains("already stopped"), "{first}");
    assert!(env.ok(&["stop", "p"]).contains("already stopped"));
    env.fails_with(2, &["stop", "nobody"]);
}

const WRITE_TWO_WAYS: &str = r#"
responses:
  - output:
      - tool_call: write_file
        id: call_w
        arguments: {"path": "via_tool.txt", "content": "x"}
      - tool_call: bash
        id: call_b
        arguments: {"command": "echo x > via_shell.txt"}
  - when: {last_tool_result: bash}
    output: [{text: "tried"}]
"#;

#[test]
fn broad_or_missing_write_roots_are_refused_and_read_only_pods_cannot_write() {
    let env = Env::new();
    let mock = Mock::start(WRITE_TWO_WAYS);
    let url = mock.url();
    let err = env.fails_with(
        2,
        &[
            "run",
            "x",
            "--write",
            "/",
            "--model",
            "m",
            "--base-url",
            &url,
            "--print",
        ],
    );
    assert!(
        err.contains("refusing --write /") && err.contains("--allow-broad-write"),
        "{err}"
    );
    let err = env.fails_with(
        2,
        &[
            "run",
            "x",
            "--write",
            "/etc",
            "--model",
            "m",
            "--base-url",
            &url,
            "--print",
        ],
    );
    assert!(err.contains("--write /etc"), "{err}");
    let home = env
        .pod()
        .env("HOME", &env.project)
        .args(["run", "x", "--model", "m", "--base-url", &url, "--print"])
        .output()
        .unwrap();
    assert_eq!(
        home.status.code(),
        Some(2),
        "a Pod in $HOME with the default write scope"
    );
    assert!(String::from_utf8_lossy(&home.stderr).contains("your home directory"));
    let err = env.fails_with(
        2,
        &[
            "run",
            "x",
            "--write",
            "missing/dir",
            "--model",
            "m",
            "--base-url",
            &url,
            "--print",
        ],
    );
    assert!(
        err.contains("--write") && err.contains("missing/dir") && err.contains("does not exist"),
        "{err}"
    );
    assert_eq!(record_count(&env), 0);

    let out = env.ok(&[
        "run",
        "write",
        "--name",
        "ro",
        "--read-only",
        "--model",
        "m",
        "--base-url",
        &url,
        "--print",
    ]);
    assert_eq!(out.trim(), "tried");
    assert!(!env.project.join("via_tool.txt").exists());
    assert!(!env.project.join("via_shell.txt").exists());
    let results: Vec<transcript::ToolResult> = env
        .log("ro")
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::ToolResult { result } => Some(result.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_error, "{:?}", results[0]);
    // The shell ran (the command is the model's business) but its write was denied.
    assert!(
        results[1].output.contains("Permission denied") || results[1].output.contains("Read-only"),
        "{:?}",
        results[1]
    );
    let show: Value = serde_json::from_str(&env.ok(&["show", "ro", "--json"])).unwrap();
    assert_eq!(show["write"], serde_json::json!([]));
    assert_eq!(
        show["read"],
        serde_json::json!([common::path_str(&env.project)])
    );
}

#[test]
fn providers_by_name_carry_their_url_and_key_and_unknown_names_suggest() {
    let env = Env::new();
    let out = env
        .pod()
        .env("OPENROUTER_API_KEY", "sk-or-test-ROUT")
        .args([
            "run",
            "--name",
            "or",
            "--provider",
            "openrouter",
            "--model",
            "x-ai/grok",
            "--detach",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let show: Value = serde_json::from_str(&env.ok(&["show", "or", "--json"])).unwrap();
    assert_eq!(show["provider"], "openrouter");
    assert_eq!(show["base_url"], "https://openrouter.ai/api/v1");
    assert_eq!(show["api_key_env"], "OPENROUTER_API_KEY");
    env.ok(&["stop", "or"]);

    // The preset's key goes out with the request (seen at a stand-in endpoint).
    let mock = Mock::start("responses: [{output: [{text: 'via router'}]}]");
    let out = env
        .pod()
        .env("OPENROUTER_API_KEY", "sk-or-test-ROUT")
        .args([
            "run",
            "hi",
            "--provider",
            "openrouter",
            "--base-url",
            &mock.url(),
            "--model",
            "m",
            "--print",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "via router",
        "{out:?}"
    );
    let auth = &mock.requests()[0].headers["authorization"];
    assert!(auth.ends_with("ROUT"), "{auth}");

    let err = env.fails_with(2, &["run", "hi", "--provider", "openruoter", "--print"]);
    assert!(err.contains("did you mean \"openrouter\""), "{err}");
    let help = env.ok(&["run", "--help"]);
    for p in ["openrouter", "deepseek", "groq", "lmstudio"] {
        assert!(help.contains(p), "--help lists {p}");
    }
}

#[test]
fn show_config_rm_and_completions() {
    let env = Env::new();
    let cfg = env.project.join(".pods");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.toml"),
        "[defaults]\nmodel = \"from-project\"\n",
    )
    .unwrap();
    // Not applied until trusted, and `pod config` says so.
    let text = env.ok(&["config"]);
    assert!(
        text.contains("# not applied: project config") && text.contains("`pod trust "),
        "{text}"
    );
    assert!(!text.contains("from-project"), "{text}");
    let json: Value = serde_json::from_str(&env.ok(&["config", "--json"])).unwrap();
    assert_eq!(json["project_config"]["status"], "untrusted");
    env.ok(&["trust"]);
    let text = env.ok(&["config"]);
    assert!(
        text.lines().any(|l| l.starts_with("defaults.model")
            && l.contains("from-project")
            && l.contains(".pods/config.toml")),
        "{text}"
    );
    let json: Value = serde_json::from_str(&env.ok(&["config", "--json"])).unwrap();
    assert_eq!(json["values"]["defaults.model"]["value"], "from-project");
    assert_eq!(json["project_config"]["applied"], true);
    assert_eq!(
        json["values"]["providers.deepseek.base_url"]["source"],
        "<preset>"
    );

    let mock = Mock::start("responses: [{output: [{text: 'hi'}], times: 2}]");
    env.ok(&[
        "run",
        "a",
        "--name",
        "live",
        "--base-url",
        &mock.url(),
        "--print",
        "--keep",
    ]);
    let show = env.ok(&["show", "live"]);
    for needle in [
        "status       idle",
        "model        from-project",
        "base_url",
        &common::path_str(&env.project),
    ] {
        assert!(show.contains(needle), "{needle:?} in:\n{show}");
    }
    env.fails_with(4, &["rm", "live", "--yes"]);
    env.fails_with(2, &["rm", "live-not", "--yes"]);
    env.ok(&["stop", "live"]);
    let session = env.log("live")[0].clone();
    let EntryKind::SegmentStart(start) = session.kind else {
        panic!()
    };
    let session_dir = env.roots.sessions.join(start.session_id.to_string());
    assert!(session_dir.exists());
    // Not on a terminal and no --yes: asks for --yes, removes nothing.
    env.fails_with(2, &["rm", "live"]);
    assert!(session_dir.exists());
    assert!(env.ok(&["rm", "live", "--yes"]).contains("live removed"));
    assert!(!session_dir.exists(), "session logs removed");
    assert_eq!(record_count(&env), 0);
    assert!(!env.roots.runtime.join("live").exists());
    env.fails_with(2, &["show", "live"]);

    let bash = env.ok(&["completions", "bash"]);
    assert!(
        bash.contains("complete") && bash.contains("resume"),
        "bash completion"
    );
    assert!(env.ok(&["completions", "zsh"]).starts_with("#compdef pod"));
    assert!(env.ok(&["completions", "fish"]).contains("complete -c pod"));
    let help = env.ok(&["--help"]);
    assert!(
        help.contains("Storage roots:") && help.contains("opens the dashboard"),
        "{help}"
    );
    assert!(help.contains("130"), "exit codes are listed: {help}");
    assert!(env.ok(&["logs", "--help"]).contains("Examples:"));
}

#[test]
fn line_mode_waits_for_the_answer_at_eof_and_ctrl_c_interrupts_then_detaches() {
    let env = Env::new();
    let mock = Mock::start(
        r#"
responses:
  - when: {last_user_contains: "first"}
    output:
      - tool_call: read_file
        id: call_r
        arguments: {"path": "a.txt"}
  - when: {last_tool_result: read_file}
    output: [{text: "alpha it is", chunks: 4}]
  - when: {last_user_contains: "slow"}
    output:
      - tool_call: bash
        id: call_s
        arguments: {"command": "touch slow_started; sleep 30"}
"#,
    );
    // EOF right after the message: the answer in flight is still printed.
    let out = env.run_with_stdin(
        &[
            "run",
            "--name",
            "line",
            "--model",
            "m",
            "--base-url",
            &mock.url(),
        ],
        b"first question\n",
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("alpha it is"), "{stdout}");
    assert!(
        stdout.contains(r#"[tool read_file {"path":"a.txt"}]"#),
        "tool calls show their arguments: {stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Ctrl-C interrupts"),
        "a hint"
    );
    assert!(env.is_live("line"), "line mode leaves the Pod running");

    // Ctrl-C once interrupts the run (the Pod stays), twice detaches with 130.
    let mut child = env
        .pod()
        .args(["attach", "line", "--plain"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"slow one\n").unwrap();
    wait_until("the slow tool", Duration::from_secs(10), || {
        env.project.join("slow_started").exists()
    });
    signal(child.id(), rustix::process::Signal::INT);
    wait_until("the run to be interrupted", Duration::from_secs(5), || {
        env.log("line")
            .iter()
            .any(|e| matches!(&e.kind, EntryKind::RunErrored { .. }))
    });
    signal(child.id(), rustix::process::Signal::INT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert!(env.is_live("line"), "detaching never stops the Pod");
    let closed = env.log("line").iter().any(|e| matches!(&e.kind, EntryKind::ToolResult { result } if result.call_id == "call_s" && result.output.starts_with("interrupted")));
    assert!(closed, "the interrupted call was closed");
    env.ok(&["stop", "line"]);
}

#[test]
fn doctor_checks_provider_keys_and_online_reachability() {
    let env = Env::new();
    let mock = Mock::start("responses: []");
    let cfg = env.home.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.toml"),
        format!(
            "[defaults]\nprovider = \"local\"\n[providers.local]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"LOCAL_KEY\"\n",
            mock.url()
        ),
    )
    .unwrap();
    let doctor = |online: bool, key: bool| {
        let mut c = env.pod();
        c.env_remove("OPENAI_API_KEY").args(["doctor", "--json"]);
        if online {
            c.arg("--online");
        }
        if key {
            c.env("LOCAL_KEY", "k-123");
        } else {
            c.env_remove("LOCAL_KEY");
        }
        let out = c.output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), v)
    };
    let (code, v) = doctor(false, false);
    assert_eq!(code, Some(1));
    assert!(
        v["problems"][0]
            .as_str()
            .unwrap()
            .contains("LOCAL_KEY is not set"),
        "{v}"
    );
    let (code, v) = doctor(true, true);
    assert_eq!(code, Some(0), "{v}");
    let local = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "local")
        .unwrap()
        .clone();
    assert_eq!(local["key_set"], true);
    assert_eq!(local["default"], true);
    // mock-llm serves no model list: it answers, so it is reachable.
    assert!(
        local["online"].as_str().unwrap().starts_with("reachable"),
        "{local}"
    );
    let asked = mock.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].path, "/v1/models");
    assert!(asked[0].headers["authorization"].ends_with("123"));
    // Providers without a key are not contacted.
    assert!(
        v["providers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["key_set"] == false)
            .all(|p| p["online"].is_null())
    );
}

#[test]
fn descriptors_of_the_invoking_shell_do_not_reach_the_pod() {
    let env = Env::new();
    let mock = Mock::start("responses: []");
    let outside = env.home.path().join("outside.txt");
    let script = format!(
        "'{}' run --name fds --model m --base-url '{}' --detach 7>>'{}'",
        env!("CARGO_BIN_EXE_pod"),
        mock.url(),
        outside.display()
    );
    let out = env.pod_shell(&script);
    assert!(out.status.success(), "{out:?}");
    let pid = env.pid("fds");
    let leaked: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|t| t.display().to_string())
        .filter(|t| t.contains("outside.txt"))
        .collect();
    assert!(
        leaked.is_empty(),
        "the Pod holds the shell's fd 7: {leaked:?}"
    );
    env.ok(&["stop", "fds"]);
}

#[test]
fn the_demo_runs_offline_and_ends_with_what_to_try_next() {
    let env = Env::new();
    let out = env
        .pod()
        .env_remove("OPENAI_API_KEY")
        .arg("demo")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "closed as \"interrupted\" and NOT run again",
        "The test command ran 1 time(s) in total",
        "why: error: write access to",
        "registry rows left: 0",
        "export ANTHROPIC_API_KEY",
        "pod doctor --online",
    ] {
        assert!(
            text.contains(needle),
            "{needle:?} missing from the demo:\n{text}"
        );
    }
    // The log excerpt is the story, not the whole log.
    let excerpt = text.split("the ones that tell the story:").nth(1).unwrap();
    let lines = excerpt
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .count();
    assert!((4..=8).contains(&lines), "{lines} lines:\n{excerpt}");
}

#[test]
fn an_answer_too_large_for_a_socket_line_still_reaches_every_client_whole() {
    let env = Env::new();
    // 17 MiB: over the clients' 16 MiB line limit.
    let big = "y".repeat(17 << 20);
    let mock = Mock::start(&format!(
        "responses: [{{times: 2, output: [{{text: '{big}', chunks: 40}}]}}]"
    ));
    let out = env.run(&[
        "run",
        "big",
        "--name",
        "big",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--print",
        "--keep",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout.len(),
        big.len() + 1,
        "--print prints the whole answer"
    );
    // A JSON client sees the run complete, with the text shortened on the socket.
    let json = env.run(&["send", "big", "again", "--json"]);
    let text = String::from_utf8_lossy(&json.stdout);
    let result: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(result["type"], "result", "{}", &text[..text.len().min(500)]);
    env.ok(&["stop", "big"]);
    // The log keeps it whole.
    let whole = env.log("big").iter().any(|e| matches!(&e.kind, EntryKind::AssistantItem { item: Item::AssistantMessage { text } } if text.len() == big.len()));
    assert!(whole);
}
