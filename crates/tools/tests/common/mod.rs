//! Fixtures shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use scope::{Access, Scope, ScopeRule};
use tokio::sync::watch;
use tools::{ToolContext, ToolError, ToolOutput, ToolSet};

/// A temp directory with its canonical path.
pub struct Tree {
    _dir: tempfile::TempDir,
    pub base: PathBuf,
}

impl Tree {
    pub fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        Tree { _dir: dir, base }
    }
    pub fn p(&self, rel: &str) -> PathBuf {
        self.base.join(rel)
    }
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.p(rel);
        std::fs::create_dir_all(&p).unwrap();
        p
    }
    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.p(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }
}

pub fn rule(p: &Path, access: Access) -> ScopeRule {
    ScopeRule::trusted(p, access, true).unwrap()
}

pub fn deny(p: &Path, access: Access) -> ScopeRule {
    ScopeRule::trusted(p, access, true).unwrap()
}

/// A context over `scope` with `cwd`; keep the sender to change the scope later.
pub fn ctx(scope: Scope, cwd: &Path) -> (watch::Sender<Scope>, ToolContext) {
    let (tx, rx) = watch::channel(scope);
    (tx, ToolContext::new(rx, cwd))
}

pub async fn call(
    ctx: &ToolContext,
    tool: &str,
    args: serde_json::Value,
) -> Result<ToolOutput, ToolError> {
    ToolSet::standard().call(ctx, tool, &args.to_string()).await
}

/// Whether this kernel has Landlock; tests of confinement require it unless
/// `PODS_TOOLS_SKIP_LANDLOCK=1` (a CI kernel without Landlock).
pub fn require_landlock() -> bool {
    if tools::landlock_available() {
        return true;
    }
    assert!(
        std::env::var("PODS_TOOLS_SKIP_LANDLOCK").as_deref() == Ok("1"),
        "this kernel has no Landlock; set PODS_TOOLS_SKIP_LANDLOCK=1 to skip confinement tests"
    );
    false
}

/// Set in the re-run as the throw-away user (see [`rerun_as_user`]): tests whose
/// outcome differs for an ordinary user run themselves again as one when root.
const AS_USER_ENV: &str = "TOOLS_LAYERS_AS_USER";
const USER: &str = "pods-sandbox-test";

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Creates the throw-away user once (tests run in parallel; `useradd` locks
/// /etc/passwd and fails while another holds it).
pub fn ensure_user() -> (u32, u32) {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let id = |flag: &str| {
        let out = Command::new("id").args([flag, USER]).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .ok()
    };
    if id("-u").is_none() {
        let st = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/bin/false",
                USER,
            ])
            .status()
            .unwrap();
        assert!(st.success(), "useradd {USER} failed");
    }
    (id("-u").unwrap(), id("-g").unwrap())
}

/// When root (and not already the re-run), runs `test` of this binary again as
/// the throw-away user and asserts it passed.
pub fn rerun_as_user(test: &str) {
    if !is_root() || std::env::var_os(AS_USER_ENV).is_some() {
        return;
    }
    let (uid, gid) = ensure_user();
    let out = Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
            "--",
        ])
        .arg(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(AS_USER_ENV, "1")
        .env("TMPDIR", "/tmp")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{test} as {USER}:\n{text}"
    );
}

/// Pids of live (non-zombie) processes with `arg` among their arguments, found
/// from outside (host pids: inside the sandbox's PID namespace `$$` means
/// something else).
pub fn pids_with_arg(arg: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if cmdline.split(|b| *b == 0).any(|a| a == arg.as_bytes()) && alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// Whether `pid` is a live process (not gone, not a zombie).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// Polls `f` until it holds; panics naming `what` after `timeout`.
pub async fn poll_until(what: &str, timeout: std::time::Duration, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await; // polling, not synchronising
    }
}

/// A shell fragment starting one process per way of leaving a command's process
/// group, each `sleep` with its own marker argument `{tag}.1` … `{tag}.4`:
/// `setsid`, `nohup … &`, a double fork into a new session, `disown`.
pub fn escapers(tag: &str) -> String {
    format!(
        "setsid sleep {tag}.1 & nohup sleep {tag}.2 >/dev/null 2>&1 & \
         (setsid bash -c 'sleep {tag}.3 & exit' &) ; sleep {tag}.4 & disown; "
    )
}

/// The markers of [`escapers`].
pub fn escaper_markers(tag: &str) -> Vec<String> {
    (1..=4).map(|i| format!("{tag}.{i}")).collect()
}
