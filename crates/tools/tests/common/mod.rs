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
