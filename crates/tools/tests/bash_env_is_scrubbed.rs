//! The shell never sees provider API keys. Its own test binary, because it sets a
//! process environment variable (no other test runs in this process).
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use scope::{Access, Scope};
use serde_json::json;

#[tokio::test]
async fn env_does_not_show_provider_keys() {
    // SAFETY: the only test in this binary; set before any other thread reads env.
    unsafe {
        std::env::set_var("OPENAI_API_KEY", "sk-test-openai-secret");
        std::env::set_var("ACME_API_KEY", "acme-secret");
        std::env::set_var("DEPLOY_TOKEN", "deploy-secret");
        std::env::set_var("HARMLESS_VAR", "visible");
        // Issue 19: the runtime's own variables would lead a Pod's shell to other
        // Pods' sockets.
        std::env::set_var("PODS_RUNTIME_DIR", "pods-runtime-secret");
        std::env::set_var("XDG_RUNTIME_DIR", "/run/user/xdg-runtime-secret");
    }
    let t = Tree::new();
    let w = t.mkdir("w");
    let (_tx, mut ctx) = ctx(Scope::allowing(vec![rule(&w, Access::Write)]), &w);
    ctx.scrub_env = vec!["*_TOKEN".into()];
    let out = call(&ctx, "bash", json!({"command": "env"}))
        .await
        .unwrap()
        .text;
    assert!(out.contains("HARMLESS_VAR=visible"), "env not run? {out}");
    for secret in [
        "sk-test-openai-secret",
        "acme-secret",
        "deploy-secret",
        "pods-runtime-secret",
        "xdg-runtime-secret",
    ] {
        assert!(!out.contains(secret), "{secret} leaked");
    }
    // TMPDIR is private to the call (issue 19: it was 0755).
    let out = call(&ctx, "bash", json!({"command": "stat -c %a \"$TMPDIR\""}))
        .await
        .unwrap()
        .text;
    assert!(out.starts_with("700\n"), "{out}");
    // Under Landlock the shell cannot read the runtime's own environment via /proc
    // either (Landlock denies ptrace-class access to processes outside its domain).
    if tools::landlock_available() {
        let me = std::process::id();
        let out = call(
            &ctx,
            "bash",
            json!({"command": format!("cat /proc/{me}/environ")}),
        )
        .await
        .unwrap()
        .text;
        assert!(
            !out.contains("sk-test-openai-secret"),
            "leaked via /proc: {out}"
        );
    }
}
