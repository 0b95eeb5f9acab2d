//! The reference MCP servers from npm, installed by `.ci/install-mcp-servers`
//! (which `.ci/run` runs first; a test runs it itself when they are missing).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// `node_modules/.bin` holding `mcp-server-everything` and `mcp-server-filesystem`,
/// or `None` (after a loud message) only when npm is not installed at all.
pub fn reference_servers() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::var_os("PODS_MCP_SERVERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/mcp-servers"));
    let bin = dir.join("node_modules/.bin");
    if bin.join("mcp-server-everything").exists() && bin.join("mcp-server-filesystem").exists() {
        return Some(bin);
    }
    if Command::new("npm").arg("--version").output().is_err() {
        eprintln!(
            "\n*** SKIPPED: npm is not installed, so the reference MCP servers cannot be; run .ci/install-mcp-servers on a machine with npm ***\n"
        );
        return None;
    }
    let out = Command::new(root.join(".ci/install-mcp-servers"))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "installing the reference MCP servers failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(bin)
}
