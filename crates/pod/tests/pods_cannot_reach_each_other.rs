//! Issue 19, the runtime's side: a Pod's shell cannot signal, connect to or stop
//! another Pod; a Pod whose tool is blocked in a system call still stops promptly; a
//! full disk makes `pod send --wait` fail with a clear error instead of hanging.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Env, Mock, path_str, wait_until};
use session_store::EntryKind;

fn shell_output(env: &Env, pod: &str, call: &str) -> String {
    env.log(pod)
        .iter()
        .find_map(|e| match &e.kind {
            EntryKind::ToolResult { result } if result.call_id == call => {
                Some(result.output.clone())
            }
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn a_pods_shell_cannot_signal_connect_to_or_read_the_token_of_another_pod() {
    let env = Env::new();
    for d in ["a", "b"] {
        std::fs::create_dir_all(env.project.join(d)).unwrap();
    }
    let quiet = Mock::start("responses: []");
    let (a, b) = (
        path_str(&env.project.join("a")),
        path_str(&env.project.join("b")),
    );
    env.ok(&[
        "run",
        "--name",
        "b",
        "--model",
        "m",
        "--base-url",
        &quiet.url(),
        "--cwd",
        &b,
        "--write",
        &b,
        "--detach",
    ]);
    let pid_b = env.pid("b");
    let sock_b = env.socket("b");
    let token_b = protocol::token_path(&sock_b);
    let secret = std::fs::read_to_string(&token_b).unwrap();
    let connect = format!(
        "import socket; s = socket.socket(socket.AF_UNIX); s.connect('{}'); s.sendall(b'{{\"type\":\"request\",\"id\":1,\"request\":\"shutdown\"}}\\n'); print('connected')",
        sock_b.display()
    );
    let command = format!(
        "kill -9 {pid_b}; echo kill=$?; python3 -c \"{connect}\"; echo py=$?; cat '{}'; echo cat=$?",
        token_b.display()
    )
    .replace('"', "\\\"")
    .replace("\\\\\"", "\\\\\\\"");
    let script = format!(
        "responses:\n  - output:\n      - tool_call: bash\n        id: call_x\n        arguments: {{\"command\": \"{command}\"}}\n  - when: {{last_tool_result: bash}}\n    output: [{{text: 'tried'}}]\n"
    );
    let mock = Mock::start(&script);
    let out = env.ok(&[
        "run",
        "go",
        "--name",
        "a",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--cwd",
        &a,
        "--write",
        &a,
        "--print",
    ]);
    assert_eq!(out.trim(), "tried");
    let shell = shell_output(&env, "a", "call_x");
    assert!(shell.contains("kill=1"), "the signal was refused: {shell}");
    assert!(
        !shell.contains("connected"),
        "the socket was reached: {shell}"
    );
    assert!(
        !shell.contains(secret.trim()),
        "the token was read: {shell}"
    );
    assert!(env.is_live("b"), "b survived");
    assert_eq!(env.pid("b"), pid_b);
    env.ok(&["stop", "b"]);
}

#[test]
fn a_pod_whose_tool_is_blocked_on_a_fifo_stops_within_5_seconds() {
    let env = Env::new();
    let mock = Mock::start(
        r#"
responses:
  - output:
      - tool_call: bash
        arguments: {"command": "mkfifo pipe; cat pipe"}
"#,
    );
    env.ok(&[
        "run",
        "block",
        "--name",
        "f",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--detach",
    ]);
    wait_until("the fifo", Duration::from_secs(10), || {
        env.project.join("pipe").exists()
    });
    let t = Instant::now();
    env.ok(&["stop", "f"]);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert!(!env.is_live("f"));
}

#[test]
fn a_full_disk_fails_send_wait_with_a_clear_error() {
    let env = Env::new();
    let mock = Mock::start("responses: [{output: [{text: 'fine'}], times: 5}]");
    let data = env.home.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&data)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a small tmpfs here (needs root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(data.clone());
    env.ok(&[
        "run",
        "--name",
        "full",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--detach",
    ]);
    assert_eq!(env.ok(&["send", "full", "first", "--wait"]).trim(), "fine");
    // Fill the disk the session log lives on.
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", data.join("filler").display()))
        .output();
    let t = Instant::now();
    // Large enough to need new pages (a small append can still fit in the log's
    // last, partly used page of a full tmpfs).
    let second = format!("second {}", "x".repeat(64 * 1024));
    let mut child = env
        .pod()
        .args(["send", "full", &second, "--wait"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "pod send --wait hangs on a full disk"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    // Refused when the input itself cannot be recorded (nothing acknowledged), or
    // when the run cannot write its log: either way a clear error, never a hang.
    assert!(
        (err.contains("input could not be recorded") || err.contains("session log failed"))
            && err.contains("disk full"),
        "{err}"
    );
    std::fs::remove_file(data.join("filler")).unwrap();
    env.ok(&["stop", "full"]);
}

#[test]
fn deleting_the_registry_table_under_three_live_pods_admits_no_overlap() {
    let env = Env::new();
    let mock = Mock::start("responses: []");
    for d in ["a", "b", "c"] {
        let dir = env.project.join(d);
        std::fs::create_dir_all(&dir).unwrap();
        let dir = path_str(&dir);
        env.ok(&[
            "run",
            "--name",
            d,
            "--model",
            "m",
            "--base-url",
            &mock.url(),
            "--cwd",
            &dir,
            "--write",
            &dir,
            "--detach",
        ]);
    }
    let table = env.roots.runtime.join(".registry/registry.json");
    assert!(table.exists(), "the registry lives apart from Pod folders");
    std::fs::remove_file(&table).unwrap();
    // Each of the three regions is still held; the whole project overlaps all three.
    for target in ["a", "b", "c"] {
        let dir = path_str(&env.project.join(target));
        let err = env.fails_with(
            4,
            &[
                "run",
                "--name",
                &format!("x{target}"),
                "--model",
                "m",
                "--base-url",
                &mock.url(),
                "--cwd",
                &dir,
                "--write",
                &dir,
                "--detach",
            ],
        );
        assert!(err.contains(&format!("by Pod {target}")), "{err}");
        std::fs::write(&table, "{}").unwrap();
    }
    env.fails_with(
        4,
        &[
            "run",
            "--name",
            "wide",
            "--model",
            "m",
            "--base-url",
            &mock.url(),
            "--detach",
        ],
    );
    // A disjoint directory is still admitted.
    std::fs::create_dir_all(env.project.join("d")).unwrap();
    let d = path_str(&env.project.join("d"));
    env.ok(&[
        "run",
        "--name",
        "d",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--cwd",
        &d,
        "--write",
        &d,
        "--detach",
    ]);
    for n in ["a", "b", "c", "d"] {
        env.ok(&["stop", n]);
    }
}

#[test]
fn with_and_without_xdg_runtime_dir_one_registry_refuses_the_second_pod() {
    let env = Env::new();
    let mock = Mock::start("responses: []");
    let data = env.home.path().join("data");
    let xdg = env.home.path().join("xdg");
    std::fs::create_dir_all(&xdg).unwrap();
    // A login shell (XDG_RUNTIME_DIR set) and cron or ssh (not set): two runtime roots.
    let pod = |with_xdg: bool| {
        let mut c = env.pod();
        c.env_remove("PODS_HOME")
            .env("PODS_DATA_DIR", &data)
            .env("PODS_CONFIG_DIR", env.home.path().join("config"));
        if with_xdg {
            c.env("XDG_RUNTIME_DIR", &xdg);
        } else {
            c.env_remove("XDG_RUNTIME_DIR");
        }
        c
    };
    let first = pod(true)
        .args([
            "run",
            "--name",
            "login",
            "--model",
            "m",
            "--base-url",
            &mock.url(),
            "--detach",
        ])
        .output()
        .unwrap();
    assert!(first.status.success(), "{first:?}");
    let second = pod(false)
        .args([
            "run",
            "--name",
            "cron",
            "--model",
            "m",
            "--base-url",
            &mock.url(),
            "--detach",
        ])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(4), "{second:?}");
    assert!(String::from_utf8_lossy(&second.stderr).contains("by Pod login"));
    let stop = pod(true).args(["stop", "login"]).output().unwrap();
    assert!(stop.status.success(), "{stop:?}");
}
