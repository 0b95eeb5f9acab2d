//! Fixtures shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

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
