//! Shared by the end-to-end tests: a temporary PODS_HOME with a small project, the
//! `pod` binary, and mock-llm on 127.0.0.1:0 in a runtime owned by the test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use pod_ids::{PodName, Roots};

pub struct Env {
    pub home: tempfile::TempDir,
    pub project: PathBuf,
    pub roots: Roots,
}

impl Env {
    pub fn new() -> Env {
        let home = tempfile::tempdir().unwrap();
        let project = home.path().join("project");
        std::fs::create_dir_all(project.join("src")).unwrap();
        std::fs::write(project.join("a.txt"), "alpha\n").unwrap();
        std::fs::write(project.join("src/main.rs"), "fn main() {}\n").unwrap();
        let project = scope::canonicalize(&project)
            .unwrap()
            .as_path()
            .to_path_buf();
        let roots = Roots::under(home.path());
        Env {
            home,
            project,
            roots,
        }
    }

    /// Writes the user's `config.toml` (in this Env's config root).
    pub fn write_user_config(&self, toml: &str) {
        std::fs::create_dir_all(&self.roots.config).unwrap();
        std::fs::write(self.roots.config.join("config.toml"), toml).unwrap();
    }

    pub fn pod(&self) -> Command {
        self.with_env(Command::new(env!("CARGO_BIN_EXE_pod")))
    }

    /// Runs with `input` on stdin (then closed), capturing stdout and stderr.
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self
            .pod()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Dropped at the end of the statement: the child sees EOF after `input`.
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// A bash script run with the same environment as [`Env::pod`].
    pub fn pod_shell(&self, script: &str) -> Output {
        let mut c = self.with_env(Command::new("bash"));
        c.arg("-c").arg(script).output().unwrap()
    }

    /// A bash script started in the background with the same environment.
    pub fn pod_shell_spawn(&self, script: &str) -> std::process::Child {
        let mut c = self.with_env(Command::new("bash"));
        c.arg("-c").arg(script).spawn().unwrap()
    }

    fn with_env(&self, mut c: Command) -> Command {
        c.env("PODS_HOME", self.home.path())
            .env_remove("PODS_DATA_DIR")
            .env_remove("PODS_RUNTIME_DIR")
            .env_remove("PODS_CONFIG_DIR")
            // The default provider needs a key to start; mock-llm accepts any.
            .env("OPENAI_API_KEY", "test-key")
            .current_dir(&self.project);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.pod().args(args).output().unwrap()
    }

    /// Runs and asserts success, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "pod {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and asserts failure with exit code 1, returning stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        self.fails_with(1, args)
    }

    /// Runs and asserts failure with exit code `code`, returning stderr.
    pub fn fails_with(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "pod {args:?} should fail with {code}: {out:?}"
        );
        String::from_utf8(out.stderr).unwrap()
    }

    pub fn socket(&self, name: &str) -> PathBuf {
        self.roots.runtime.join(name).join("sock")
    }

    pub fn pid(&self, name: &str) -> u32 {
        std::fs::read_to_string(self.roots.runtime.join(name).join("lock"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    pub fn is_live(&self, name: &str) -> bool {
        pod::liveness::probe(&self.roots.runtime.join(name).join("lock")).is_some()
    }

    /// Entries of the Pod's active segment.
    pub fn log(&self, name: &str) -> Vec<session_store::Entry> {
        let rec = pod::record::RecordStore::new(self.roots.pods.clone())
            .load(&PodName::new(name).unwrap())
            .unwrap()
            .unwrap();
        let (_, seg) = rec.active_segment().unwrap();
        session_store::SessionStore::new(self.roots.sessions.clone())
            .read_segment(seg)
            .unwrap()
            .entries
    }
}

impl Drop for Env {
    /// A failed test must not leave its Pods running: SIGTERM every live one.
    fn drop(&mut self) {
        let Ok(dirs) = std::fs::read_dir(&self.roots.runtime) else {
            return;
        };
        for d in dirs.flatten() {
            if let Some(Some(pid)) = pod::liveness::probe(&d.path().join("lock"))
                && let Some(pid) = rustix::process::Pid::from_raw(pid as i32)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
    }
}

/// Sends `sig` to a process (tests kill Pods for real: SIGKILL, SIGTERM).
pub fn signal(pid: u32, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a live pid is positive");
    rustix::process::kill_process(pid, sig).unwrap();
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub struct Mock {
    pub rt: tokio::runtime::Runtime,
    pub server: Option<mock_llm::MockServer>,
}

impl Mock {
    pub fn start(yaml: &str) -> Mock {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let script = mock_llm::Script::from_yaml_str(yaml).unwrap();
        let server = rt.block_on(mock_llm::MockServer::start(script)).unwrap();
        Mock {
            rt,
            server: Some(server),
        }
    }

    /// The OpenAI-style base URL.
    pub fn url(&self) -> String {
        format!("{}/v1", self.server.as_ref().unwrap().base_url())
    }

    pub fn requests(&self) -> Vec<mock_llm::RecordedRequest> {
        self.server.as_ref().unwrap().requests()
    }
}

pub fn kinds(entries: &[session_store::Entry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            serde_json::to_value(e).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// git in `dir` with a fixed author; panics with git's stderr when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s.trim()).unwrap()
}

/// The first tool result in `pod`'s log that mentions `call`.
pub fn tool_output(env: &Env, pod: &str, call: &str) -> String {
    env.log(pod)
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .find(|e| e["kind"] == "tool_result" && e.to_string().contains(call))
        .unwrap_or_else(|| panic!("no result of {call} in {pod}'s log"))
        .to_string()
}

/// Every tool result in `pod`'s log.
pub fn tool_results(env: &Env, pod: &str) -> Vec<transcript::ToolResult> {
    env.log(pod)
        .into_iter()
        .filter_map(|e| match e.kind {
            session_store::EntryKind::ToolResult { result } => Some(result),
            _ => None,
        })
        .collect()
}

/// How many runs `pod`'s log records as completed.
pub fn completed_runs(env: &Env, pod: &str) -> usize {
    env.log(pod)
        .iter()
        .filter(|e| matches!(e.kind, session_store::EntryKind::RunCompleted))
        .count()
}

/// The system items (notices, reports) in `pod`'s log.
pub fn system_items(env: &Env, pod: &str) -> Vec<String> {
    env.log(pod)
        .into_iter()
        .filter_map(|e| match e.kind {
            session_store::EntryKind::SystemItem { text } => Some(text),
            _ => None,
        })
        .collect()
}

/// Starts the detached Pod `l` on model `lead`, with one extra environment
/// variable if given (a crash hook, say).
pub fn start_lead(env: &Env, mock: &Mock, extra_env: Option<(&str, &str)>) {
    let mut c = env.pod();
    c.args([
        "run",
        "go",
        "--name",
        "l",
        "--model",
        "lead",
        "--base-url",
        &mock.url(),
        "--detach",
    ]);
    if let Some((k, v)) = extra_env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "{out:?}");
}
