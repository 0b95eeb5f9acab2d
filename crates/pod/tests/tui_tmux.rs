//! End-to-end: the real `pod` binary's dashboard (`pod tui`) in tmux, driven by
//! `send-keys` and read back with `capture-pane`, against mock-llm.
//!
//! Needs `tmux` (`.ci/run` installs it when missing); without it the test says so
//! and passes vacuously rather than failing on a machine that cannot run it.
//! The idle-CPU measurement of the dashboard is a measurement, not a test: it is
//! `#[ignore]`d and run by hand (`cargo test -p pod --test tui_tmux -- --ignored`).
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(cmd: &str, cwd: &Path, env: &[(&str, &Path)]) -> Tmux {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let session = format!("pods-tui-e2e-{}-{n}", std::process::id());
        let mut c = Command::new("tmux");
        c.args([
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "40",
            "-s",
            &session,
            "-c",
        ]);
        c.arg(cwd);
        for (k, v) in env {
            c.arg("-e").arg(format!("{k}={}", v.display()));
        }
        // `exec` makes the pane's pid the dashboard's pid (for the CPU check).
        c.arg(format!("exec {cmd}"));
        assert!(c.status().unwrap().success(), "tmux new-session failed");
        Tmux { session }
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn capture(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn pid(&self) -> u32 {
        let out = Command::new("tmux")
            .args(["list-panes", "-t", &self.session, "-F", "#{pane_pid}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    /// Polls the screen until `pred` holds (no sleeps as synchronisation: a
    /// deadline-bounded poll of the observable state).
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.capture();
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
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

fn have_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A Pod `lead` against a scripted mock, and the dashboard on it in tmux.
struct Fixture {
    home: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
    _server: mock_llm::MockServer,
    tmux: Tmux,
}

fn start_dashboard() -> Fixture {
    let pod_bin = Path::new(env!("CARGO_BIN_EXE_pod"));
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("project");
    std::fs::create_dir_all(project.join("sub")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let script = mock_llm::Script::from_yaml_str(
        r#"
responses:
  - when: {model: lead, last_user_contains: "say hello"}
    output: [{text: "Hello from the **mock** model, streamed in pieces.", chunk_size: 5}]
    pace_ms: 30
  - when: {model: lead, last_user_contains: "split"}
    output:
      - tool_call: spawn_pod
        id: s1
        arguments: '{"name": "worker", "task": "work on sub", "write": ["sub"], "model": "wk"}'
  - when: {model: lead, last_tool_result: spawn_pod}
    output: [{text: "Spawned the worker."}]
  - when: {model: wk}
    output: [{text: "Worker finished its part."}]
  - when: {model: lead, last_user_contains: "stall"}
    output: [{text: "This one stalls"}]
    stall_after_events: 1
    stall_ms: 60000
    times: 2
  - when: {model: lead, last_user_contains: "partial"}
    output: [{text: "Partial answer before the stall, never finished.", chunk_size: 8}]
    stall_after_events: 4
    stall_ms: 60000
    times: 2
  - when: {model: lead}
    output: [{text: "Noted."}]
    times: 5
"#,
    )
    .unwrap();
    let server = rt.block_on(mock_llm::MockServer::start(script)).unwrap();
    // The new-Pod form asks for name, model and scope; the provider comes from the
    // config, as it would for a user.
    let config = home.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.toml"),
        format!(
            "[defaults]\nprovider = \"mock\"\nmodel = \"m\"\n\n[providers.mock]\nkind = \"openai\"\nbase_url = \"{}/v1\"\napi_key_env = \"\"\n",
            server.base_url()
        ),
    )
    .unwrap();
    let tmux = Tmux::start(
        &format!("{} tui", pod_bin.display()),
        &project,
        &[("PODS_HOME", home.path())],
    );
    tmux.wait_for("the empty dashboard", |s| s.contains("Pods (0)"));
    // Start a Pod from the dashboard's form: the name is generated and the task
    // field has the focus; replace the name, set the model, directory and scope.
    tmux.keys(&["n"]);
    tmux.wait_for("the form", |s| s.contains("New Pod") && s.contains("pod-"));
    tmux.keys(&["BTab", "C-u"]);
    tmux.keys(&["-l", "lead"]);
    tmux.keys(&["Tab", "Tab", "Tab"]);
    tmux.keys(&["-l", "lead"]);
    tmux.keys(&["Tab", "C-u"]);
    tmux.keys(&["-l", &project.display().to_string()]);
    tmux.keys(&["Tab", "C-u"]);
    tmux.keys(&["-l", &project.display().to_string()]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the tree", |s| s.contains("Pods (1)") && s.contains("lead"));
    tmux.wait_for("lead idle", |s| s.contains("idle"));
    // The new Pod is selected with the composer focused: typing goes there.
    tmux.wait_for("the composer focused on lead", |s| {
        s.contains("┏ message lead")
    });
    Fixture {
        home,
        _rt: rt,
        _server: server,
        tmux,
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.tmux.keys(&["C-c"]);
        self.tmux.keys(&["C-c"]);
        let _ = Command::new(env!("CARGO_BIN_EXE_pod"))
            .env("PODS_HOME", self.home.path())
            .args(["stop", "lead"])
            .status();
    }
}

#[test]
fn dashboard_streams_shows_a_spawned_child_and_esc_interrupts() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    let f = start_dashboard();
    let tmux = &f.tmux;
    tmux.keys(&["-l", "say hello"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the answer", |s| s.contains("Hello from the mock model"));
    tmux.wait_for("a turn separator", |s| s.contains("turn 1"));
    // The script makes the lead spawn a child: it appears nested in the tree.
    tmux.keys(&["-l", "split the work"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the child in the tree", |s| {
        s.contains("Pods (2)") && s.contains("└") && s.contains("worker")
    });
    // Select it: its own transcript shows.
    tmux.keys(&["Tab"]);
    tmux.wait_for("the tree pane focused", |s| s.contains("Pods (2)"));
    tmux.keys(&["j"]);
    tmux.wait_for("the child's transcript", |s| {
        s.contains("Worker finished its part.")
    });
    tmux.keys(&["k"]);
    tmux.keys(&["i"]);
    // A run that stalls: Esc twice interrupts it and the Pod stays.
    tmux.keys(&["-l", "stall please"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("running", |s| s.contains("running"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("Esc armed", |s| s.contains("Esc again to interrupt"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("interrupted", |s| s.contains("interrupted"));
    tmux.wait_for("still idle, not stopped", |s| {
        s.contains("idle") && !s.contains("stopped")
    });
    // Ctrl-C interrupts too. (The cancelled message came back to the composer:
    // nothing was answered. Send it again.)
    tmux.wait_for("the message back", |s| s.contains("your message is back"));
    tmux.keys(&["i"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("running again", |s| s.contains("Ctrl-C interrupts"));
    tmux.keys(&["C-c"]);
    tmux.wait_for("interrupted again", |s| {
        s.matches("interrupted").count() >= 2
    });
}

/// `/compact` typed in the composer compacts the Pod and reaches no model as a
/// message: the mock's recorded requests never contain it.
#[test]
fn slash_compact_compacts_and_is_not_sent_to_the_model() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    let f = start_dashboard();
    let tmux = &f.tmux;
    tmux.keys(&["-l", "say hello"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the answer", |s| s.contains("Hello from the mock model"));
    tmux.wait_for("idle again", |s| s.contains("turn 1") && s.contains("idle"));
    tmux.keys(&["-l", "/comp"]);
    tmux.wait_for("the command list", |s| {
        s.contains("/compact") && s.contains("commands")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("the compaction marker", |s| s.contains("context compacted"));
    // An unknown command is said to be unknown and stays in the composer.
    tmux.keys(&["-l", "/frobnicate now"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("unknown command", |s| {
        s.contains("unknown command /frobnicate")
    });
    for r in f._server.requests() {
        let body = r.body.to_string();
        assert!(
            !body.contains("/comp"),
            "a slash command reached the model: {body}"
        );
        assert!(
            !body.contains("frobnicate"),
            "an unknown command reached the model"
        );
    }
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 of stat(5); `after` starts at field 3.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Measurement (target: under 0.1 s of CPU in 30 s for an idle dashboard attached
/// to an idle Pod); printed, reported in notes, not part of CI.
#[test]
#[ignore = "a 30 s measurement, run by hand"]
fn measure_idle_dashboard_cpu() {
    let f = start_dashboard();
    let pid = f.tmux.pid();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(30)); // the measurement window itself
    let used = (cpu_ticks(pid) - before) as f64 / 100.0; // USER_HZ
    eprintln!("idle dashboard CPU over 30 s: {used:.3} s");
}

/// `@src/lib.rs` in the composer attaches the file: the model's request carries its
/// content (the Pod reads it inside its scope).
#[test]
fn an_at_mention_attaches_the_file_content() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    let f = start_dashboard();
    let tmux = &f.tmux;
    let project = f.home.path().join("project");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(project.join("src/lib.rs"), "pub fn marker_4242() {}\n").unwrap();
    tmux.keys(&["-l", "explain @src/li"]);
    tmux.wait_for("the picker", |s| s.contains("src/lib.rs"));
    tmux.keys(&["Tab"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the answer", |s| s.contains("Noted."));
    let bodies: Vec<String> = f
        ._server
        .requests()
        .iter()
        .map(|r| r.body.to_string())
        .collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("marker_4242") && b.contains("attached_file")),
        "no request carried the file's content: {bodies:?}"
    );
}

/// A dashboard opened while a Pod is mid-answer shows the answer from its first
/// character (the stream is stalled, so nothing but the join can bring it), and
/// Esc twice then interrupts it with the partial answer kept in the log.
#[test]
fn joining_mid_answer_shows_it_whole_and_an_interrupt_keeps_it_in_the_log() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    let f = start_dashboard();
    let tmux = &f.tmux;
    tmux.keys(&["-l", "partial please"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the partial answer", |s| s.contains("Partial answer"));
    let project = f.home.path().join("project");
    let second = Tmux::start(
        &format!("{} tui", env!("CARGO_BIN_EXE_pod")),
        &project,
        &[("PODS_HOME", f.home.path())],
    );
    second.wait_for("the second dashboard", |s| s.contains("Pods (1)"));
    second.wait_for("the answer from its first character", |s| {
        s.contains("Partial answer")
    });
    second.keys(&["C-c"]);
    second.keys(&["C-c"]);
    tmux.keys(&["Escape", "Escape"]);
    tmux.wait_for("interrupted", |s| s.contains("interrupted"));
    let out = Command::new(env!("CARGO_BIN_EXE_pod"))
        .env("PODS_HOME", f.home.path())
        .args(["logs", "lead"])
        .output()
        .unwrap();
    let logs = String::from_utf8_lossy(&out.stdout);
    assert!(logs.contains("Partial answer"), "{logs}");
    assert!(logs.contains("[interrupted]"), "{logs}");
}

/// `w` opens the work items of the dashboard's repository: an item made with
/// `pod work create` is listed under open, Enter shows its thread and the Pod
/// that `pod run --work-item` gave a grant on it (read from its real record), and
/// a comment added from outside appears with no key pressed (the view re-reads on
/// the discovery tick). Esc goes back, then closes.
#[test]
fn w_lists_work_items_and_follows_a_new_comment() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let pod = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pod"))
            .env("PODS_HOME", home.path())
            // The default provider needs a key to start; mock-llm accepts any.
            .env("OPENAI_API_KEY", "test-key")
            .current_dir(&project)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pod {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    pod(&["work", "init"]);
    pod(&[
        "work",
        "create",
        "--title",
        "Fix the flaky parser test",
        "--kind",
        "bug",
        "--priority",
        "high",
    ]);
    // A one-shot Pod with a grant on the item: its record keeps the grant.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let script =
        mock_llm::Script::from_yaml_str("responses:\n  - output: [{text: \"Looked.\"}]\n").unwrap();
    let server = rt.block_on(mock_llm::MockServer::start(script)).unwrap();
    let url = format!("{}/v1", server.base_url());
    pod(&[
        "run",
        "--name",
        "helper",
        "--model",
        "m",
        "--base-url",
        &url,
        "--work-item",
        "fix-the-flaky-parser-test",
        "--work-rights",
        "comment",
        "--print",
        "look at the item",
    ]);
    let tmux = Tmux::start(
        &format!("{} tui", env!("CARGO_BIN_EXE_pod")),
        &project,
        &[("PODS_HOME", home.path())],
    );
    tmux.wait_for("the dashboard", |s| s.contains("Pods (1)"));
    tmux.keys(&["w"]);
    tmux.wait_for("the item under open", |s| {
        s.contains("Work items · project")
            && s.contains("open (1)")
            && s.contains("fix-the-flaky-parser-test")
            && s.contains("high")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("its thread and the Pod with a grant on it", |s| {
        s.contains("created: Fix the flaky parser test")
            && s.contains("Thread (1)")
            && s.contains("helper stopped · may comment")
    });
    pod(&[
        "work",
        "comment",
        "fix-the-flaky-parser-test",
        "--role",
        "plan",
        "-m",
        "Retry with a fixed seed.",
    ]);
    tmux.wait_for("the comment, re-read on the tick", |s| {
        s.contains("Retry with a fixed seed.") && s.contains("Thread (2)")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("back to the list", |s| s.contains("open (1)"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the dashboard again", |s| {
        s.contains("Pods (1)") && !s.contains("Work items")
    });
}
