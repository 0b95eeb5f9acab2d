//! A real Pod through a registry database outage (`[registry] backend = "postgres"`):
//! when its lease can no longer be renewed the Pod pauses — no tool call starts, and
//! shell calls and background processes already running are killed at the lease's
//! local deadline — a second Pod asking for an overlapping scope meanwhile is refused
//! clearly, and when the database is back the first Pod renews and finishes its run.
//! Each test stops and restarts a private cluster of its own.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{Env, Mock, wait_until};

const URL_ENV: &str = "PODS_TEST_REGISTRY_URL";
/// The configured lease: the Pod pauses at most 3/4 of it after its last renewal.
const LEASE: Duration = Duration::from_secs(1);

fn configure(env: &Env) {
    env.write_user_config(&format!(
        "[registry]\nbackend = \"postgres\"\nurl_env = \"{URL_ENV}\"\nlease_seconds = {}\n",
        LEASE.as_secs()
    ));
}

fn tool_call(tool: &str, id: &str, args: serde_json::Value) -> String {
    format!("      - tool_call: {tool}\n        id: {id}\n        arguments: {args}\n")
}

fn bash(id: &str, command: &str) -> String {
    tool_call(
        "bash",
        id,
        serde_json::json!({ "command": command, "timeout_secs": 120 }),
    )
}

/// `pod run TASK --print` as Pod `name`, in the background.
fn run_printing(env: &Env, url: &str, mock: &Mock, name: &str) -> Child {
    env.pod()
        .env(URL_ENV, url)
        .args([
            "run",
            "go",
            "--name",
            name,
            "--model",
            "m",
            "--base-url",
            &mock.url(),
            "--print",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(mut child: Child, within: Duration) -> Output {
    let end = Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the Pod did not finish within {within:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn pod_log(env: &Env, name: &str) -> String {
    std::fs::read_to_string(env.roots.runtime.join(name).join("pod.log")).unwrap_or_default()
}

fn lines(p: &Path) -> usize {
    std::fs::read_to_string(p).map_or(0, |s| s.lines().count())
}

/// Asserts that `f` holds throughout `span` (what must *not* happen while paused).
fn holds_for(what: &str, span: Duration, f: impl Fn() -> bool) {
    let end = Instant::now() + span;
    while Instant::now() < end {
        assert!(f(), "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A second Pod on the same project (overlapping write scope) while the database is
/// down: refused with the reason, never started.
fn second_pod_is_refused(env: &Env, url: &str, mock: &Mock) {
    let out = env
        .pod()
        .env(URL_ENV, url)
        .args([
            "run",
            "x",
            "--name",
            "second",
            "--model",
            "m",
            "--base-url",
            &mock.url(),
            "--detach",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("unreachable") && err.contains("no new Pod can start"),
        "{err}"
    );
    assert!(!env.is_live("second"));
}

#[test]
fn a_pod_pauses_while_the_database_is_down_and_finishes_its_run_after() {
    let cluster = pg_fixture::Cluster::start().unwrap();
    let url = cluster.create_database().unwrap();
    let env = Env::new();
    configure(&env);
    // The second answer comes late enough for the lease to lapse while the Pod
    // waits for it: its tool call then meets a paused lease.
    let script = format!(
        "responses:\n  - output:\n{}  - delay_ms: 4000\n    output:\n{}  - output:\n{}  - output:\n      - text: all three written\n",
        bash("c1", "echo one > f1"),
        bash("c2", "echo two > f2"),
        bash("c3", "echo three > f3"),
    );
    let mock = Mock::start(&script);
    let pod = run_printing(&env, &url, &mock, "writer");
    let file = |n: &str| env.project.join(n);
    wait_until(
        "the first file and the second request",
        Duration::from_secs(30),
        || file("f1").exists() && mock.requests().len() >= 2,
    );

    cluster.stop().unwrap();
    wait_until("the Pod to say its lease lapsed", LEASE * 5, || {
        pod_log(&env, "writer").contains("registry lease lapsed")
    });
    wait_until(
        "the second call to wait at the gate",
        Duration::from_secs(10),
        || pod_log(&env, "writer").contains("tool calls wait until it is"),
    );
    assert!(!file("f2").exists(), "written on a lapsed lease");
    second_pod_is_refused(&env, &url, &mock);
    holds_for("a paused Pod wrote", LEASE, || !file("f2").exists());

    cluster.resume().unwrap();
    let out = finish(pod, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        pod_log(&env, "writer")
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "all three written"
    );
    for (f, text) in [("f1", "one"), ("f2", "two"), ("f3", "three")] {
        assert_eq!(std::fs::read_to_string(file(f)).unwrap().trim(), text);
    }
    assert!(pod_log(&env, "writer").contains("registry lease renewed"));
}

#[test]
fn running_shell_calls_and_background_processes_stop_when_the_lease_lapses() {
    let cluster = pg_fixture::Cluster::start().unwrap();
    let url = cluster.create_database().unwrap();
    let env = Env::new();
    configure(&env);
    let grow = |name: &str| format!("while :; do echo x >> {name}; sleep 0.05; done");
    let script = format!(
        "responses:\n  - output:\n{}  - output:\n{}  - output:\n{}  - output:\n      - text: done after the outage\n",
        tool_call(
            "background",
            "b1",
            serde_json::json!({ "action": "start", "command": grow("bg") })
        ),
        bash("c1", &grow("fg")),
        bash("c2", "echo after > after"),
    );
    let mock = Mock::start(&script);
    let pod = run_printing(&env, &url, &mock, "grower");
    let (fg, bg) = (env.project.join("fg"), env.project.join("bg"));
    wait_until("both files to grow", Duration::from_secs(30), || {
        lines(&fg) > 3 && lines(&bg) > 3
    });

    let stopped_at = SystemTime::now();
    cluster.stop().unwrap();
    // The running call is killed at the lease's deadline and its result says why.
    wait_until("the shell call to end", LEASE * 5, || {
        mock.requests().len() >= 3
    });
    let result = serde_json::to_string(&mock.requests()[2].body).unwrap();
    assert!(result.contains("registry lease lapsed"), "{result}");
    // Nothing wrote after the lease's deadline (plus a little grace for the kill).
    let grace = Duration::from_millis(500);
    for f in [&fg, &bg] {
        let last = std::fs::metadata(f).unwrap().modified().unwrap();
        let after = last.duration_since(stopped_at).unwrap_or_default();
        assert!(
            after <= LEASE + grace,
            "{f:?} written {after:?} after the stop"
        );
    }
    let frozen = (lines(&fg), lines(&bg));
    holds_for("a killed process wrote", LEASE, || {
        (lines(&fg), lines(&bg)) == frozen
    });
    assert!(
        !env.project.join("after").exists(),
        "written on a lapsed lease"
    );

    cluster.resume().unwrap();
    let out = finish(pod, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        pod_log(&env, "grower")
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "done after the outage"
    );
    assert_eq!(
        std::fs::read_to_string(env.project.join("after"))
            .unwrap()
            .trim(),
        "after"
    );
    // The killed processes stay killed: nothing grows behind the model's back.
    assert_eq!((lines(&fg), lines(&bg)), frozen);
}
