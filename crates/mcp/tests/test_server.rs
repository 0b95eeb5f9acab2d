//! The client against the `rmcp`-built test server (`mcp-test-server`): tools are
//! listed and called, every kind of content arrives as text, a server that dies in
//! the middle of a call gives a tool error and is restarted on the next call, a
//! slow call times out, and the server cannot write outside the Pod's write scope.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mcp::{Hub, McpError, ServerConfig, State};
use scope::{Access, Scope, ScopeRule};
use tools::ToolContext;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    work: PathBuf,
    ctx: ToolContext,
    scope: tokio::sync::watch::Sender<Scope>,
}

/// A Pod-like context: write scope `root/work`, read scope `root`.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = scope::canonicalize(dir.path())
        .unwrap()
        .as_path()
        .to_path_buf();
    let work = root.join("work");
    std::fs::create_dir(&work).unwrap();
    let scope = Scope::allowing(vec![
        ScopeRule::new(&work, Access::Write, true).unwrap(),
        ScopeRule::new(&root, Access::Read, true).unwrap(),
    ]);
    let (tx, rx) = tokio::sync::watch::channel(scope);
    let ctx = ToolContext::new(rx, &work);
    Fixture {
        _dir: dir,
        root,
        work,
        ctx,
        scope: tx,
    }
}

fn test_server(tool_timeout: Option<f64>) -> ServerConfig {
    ServerConfig {
        command: Some(env!("CARGO_BIN_EXE_mcp-test-server").into()),
        enabled: true,
        tool_timeout,
        ..Default::default()
    }
}

fn hub(f: &Fixture, config: ServerConfig) -> Hub {
    Hub::new(&BTreeMap::from([("t".to_owned(), config)]), &f.ctx)
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_are_listed_with_prefixed_names_and_calls_return_every_kind_of_content() {
    let f = fixture();
    let hub = hub(&f, test_server(None));
    let started = hub.start_all().await;
    assert_eq!(started.len(), 1);
    assert_eq!(*started[0].outcome.as_ref().unwrap(), 7);
    let names: Vec<String> = hub.specs().into_iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        ["add", "crash", "echo", "picture", "pid", "sleep", "write"]
            .map(|t| format!("mcp__t__{t}"))
    );
    let echo = hub
        .specs()
        .into_iter()
        .find(|s| s.name == "mcp__t__echo")
        .unwrap();
    assert_eq!(echo.parameters["type"], "object");
    assert!(echo.parameters["properties"]["text"].is_object());
    let echo = hub.call("mcp__t__echo", r#"{"text":"hi"}"#).await.unwrap();
    assert_eq!((echo.text.as_str(), echo.is_error), ("echo: hi", false));
    let sum = hub
        .call("mcp__t__add", r#"{"a":2,"b":40}"#)
        .await
        .unwrap()
        .text;
    assert!(sum.contains("42"), "{sum}");
    let pic = hub.call("mcp__t__picture", "").await.unwrap();
    assert_eq!(
        pic.text,
        "a picture:\n[image 1: image/png, 70 bytes, shown after this result]"
    );
    assert_eq!(pic.images[0].data.len(), 70);
    // Bad arguments are the server's refusal, not a crash.
    let err = hub.call("mcp__t__add", r#"{"a":"x"}"#).await;
    assert!(
        matches!(
            &err,
            Err(McpError::Refused { .. }) | Ok(mcp::CallOutput { is_error: true, .. })
        ),
        "{err:?}"
    );
    let err = hub.call("mcp__t__nope", "{}").await.unwrap_err();
    assert!(err.to_string().contains("does not offer"), "{err}");
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_dies_mid_call_gives_a_tool_error_and_is_restarted_on_next_use() {
    let f = fixture();
    let hub = hub(&f, test_server(None));
    hub.start_all().await;
    // Host pids from the hub: inside its PID namespace the server is pid 2 or so.
    let host_pid = |hub: &Hub| hub.statuses()[0].pid.unwrap();
    let first = host_pid(&hub);
    assert!(alive(first));
    let err = hub.call("mcp__t__crash", "").await.unwrap_err();
    assert!(matches!(err, McpError::Crashed { .. }), "{err:?}");
    assert!(err.to_string().contains("exit status: 7"), "{err}");
    let st = &hub.statuses()[0];
    assert_eq!(st.state, State::Crashed);
    assert!(!alive(first));
    // Next use: a new process answers.
    let again = hub
        .call("mcp__t__echo", r#"{"text":"again"}"#)
        .await
        .unwrap();
    assert_eq!(again.text, "echo: again");
    let second = host_pid(&hub);
    assert_ne!(first, second);
    let st = &hub.statuses()[0];
    assert_eq!(
        (st.state, st.restarts, st.pid),
        (State::Running, 1, Some(second))
    );
    hub.shutdown().await;
    assert!(!alive(second), "the server outlived shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_call_times_out_as_a_tool_error_and_the_server_keeps_serving() {
    let f = fixture();
    let hub = hub(&f, test_server(Some(0.3)));
    let err = hub
        .call("mcp__t__sleep", r#"{"secs": 30}"#)
        .await
        .unwrap_err();
    assert!(matches!(err, McpError::CallTimeout { .. }), "{err:?}");
    assert!(err.to_string().contains("tool_timeout"), "{err}");
    assert_eq!(
        hub.call("mcp__t__echo", r#"{"text":"x"}"#)
            .await
            .unwrap()
            .text,
        "echo: x"
    );
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_writes_only_inside_the_write_scope() {
    let f = fixture();
    let hub = hub(&f, test_server(None));
    let inside = f.work.join("in.txt");
    let outside = f.root.join("out.txt");
    let call = |p: &Path| format!(r#"{{"path":"{}","text":"x"}}"#, p.display());
    let ok = hub
        .call("mcp__t__write", &call(&inside))
        .await
        .unwrap()
        .text;
    assert!(ok.starts_with("wrote"), "{ok}");
    assert!(inside.exists());
    let refused = hub
        .call("mcp__t__write", &call(&outside))
        .await
        .unwrap()
        .text;
    assert!(refused.contains("cannot write"), "{refused}");
    assert!(
        !outside.exists(),
        "the server wrote outside the Pod's write scope"
    );
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_failures_and_start_timeouts_are_errors_naming_the_server() {
    let f = fixture();
    let missing = ServerConfig {
        command: Some("/nonexistent/mcp-server".into()),
        enabled: true,
        ..Default::default()
    };
    let hung = ServerConfig {
        command: Some("sleep".into()),
        args: vec!["60".into()],
        enabled: true,
        startup_timeout: Some(0.3),
        ..Default::default()
    };
    let hub = Hub::new(
        &BTreeMap::from([("gone".to_owned(), missing), ("hung".to_owned(), hung)]),
        &f.ctx,
    );
    let started = hub.start_all().await;
    let err = |i: usize| started[i].outcome.as_ref().unwrap_err().to_string();
    assert!(err(0).contains("`gone` did not start"), "{}", err(0));
    assert!(err(1).contains("within 0.3 s"), "{}", err(1));
    assert!(hub.specs().is_empty());
    assert!(hub.statuses().iter().all(|s| s.state == State::Failed));
    let call = hub.call("mcp__gone__x", "{}").await.unwrap_err();
    assert!(call.to_string().contains("did not start"), "{call}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_scope_change_a_restarted_server_has_the_narrower_scope() {
    let f = fixture();
    let hub = hub(&f, test_server(None));
    let file = f.work.join("later.txt");
    let write = format!(r#"{{"path":"{}","text":"x"}}"#, file.display());
    hub.start_all().await;
    let first = hub.statuses()[0].pid.unwrap();
    // The Pod loses write on `work` (say, delegated to a child).
    f.scope.send_replace(Scope::allowing(vec![
        ScopeRule::new(&f.root, Access::Read, true).unwrap(),
    ]));
    // The next call notices and restarts the server under the new scope.
    let out = hub.call("mcp__t__write", &write).await.unwrap().text;
    assert!(out.contains("cannot write"), "{out}");
    assert!(!file.exists());
    assert!(!alive(first));
    let second = hub.statuses()[0].pid.unwrap();
    assert_ne!(second, first);
    // What the runtime does at once when the scope changes: stop them all.
    hub.restart_confined("the Pod's scope changed").await;
    assert_eq!(hub.statuses()[0].state, State::Stopped);
    assert!(!alive(second));
}
