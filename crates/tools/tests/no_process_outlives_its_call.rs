//! Nothing a `bash` call starts outlives the call, whatever session or process
//! group it moved to: the call runs in its own PID namespace (sandbox `pidns`).
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use scope::{Access, Scope};
use serde_json::json;

#[tokio::test]
async fn setsid_nohup_disown_and_double_forks_die_when_the_call_ends() {
    if !tools::sandbox::support().pid_namespace {
        eprintln!("skipped: no PID namespace on this system (the runtime warns about it)");
        return;
    }
    let t = Tree::new();
    let w = t.mkdir("w");
    let (_tx, ctx) = ctx(Scope::allowing(vec![rule(&w, Access::Write)]), &w);
    let tag = format!("8{}", std::process::id());
    let go = w.join("go");
    let cmd = format!(
        "{} while [ ! -e {} ]; do sleep 0.02; done; echo launched",
        escapers(&tag),
        go.display()
    );
    let call = tokio::spawn(async move {
        common::call(&ctx, "bash", json!({"command": cmd}))
            .await
            .unwrap()
    });
    let markers = escaper_markers(&tag);
    let mut pids = Vec::new();
    poll_until(
        "all four processes to start",
        Duration::from_secs(10),
        || {
            pids = markers.iter().flat_map(|m| pids_with_arg(m)).collect();
            pids.len() == markers.len()
        },
    )
    .await;
    std::fs::write(&go, "").unwrap();
    let out = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .unwrap()
        .unwrap();
    assert!(out.text.contains("launched"), "{}", out.text);
    assert!(out.text.contains("[exit code: 0]"), "{}", out.text);
    // The namespace is gone before the call returns; the deadline only absorbs
    // /proc catching up.
    poll_until(
        "every process of the call to be gone",
        Duration::from_secs(1),
        || pids.iter().all(|p| !alive(*p)),
    )
    .await;
}

#[tokio::test]
async fn the_exit_code_and_a_signal_death_come_through_the_namespace() {
    let t = Tree::new();
    let w = t.mkdir("w");
    let (_tx, ctx) = ctx(Scope::allowing(vec![rule(&w, Access::Write)]), &w);
    let out = common::call(&ctx, "bash", json!({"command": "echo hi; exit 7"}))
        .await
        .unwrap();
    assert!(out.text.contains("hi\n[exit code: 7]"), "{}", out.text);
    let out = common::call(&ctx, "bash", json!({"command": "kill -9 $$"}))
        .await
        .unwrap();
    assert!(
        out.text.contains("[exit code: 137]") || out.text.contains("[killed by signal 9]"),
        "{}",
        out.text
    );
}

#[tokio::test]
async fn without_a_pid_namespace_leftovers_are_found_by_their_tmpdir() {
    let t = Tree::new();
    let w = t.mkdir("w");
    let (_tx, mut ctx) = ctx(Scope::allowing(vec![rule(&w, Access::Write)]), &w);
    // No mount layer: no PID namespace either (the fallback).
    ctx.shell.assume_no_mount_namespace = true;
    let tag = format!("2{}", std::process::id());
    let go = w.join("go");
    let cmd = format!(
        "{} while [ ! -e {} ]; do sleep 0.02; done; echo launched",
        escapers(&tag),
        go.display()
    );
    let call = tokio::spawn(async move {
        common::call(&ctx, "bash", json!({"command": cmd}))
            .await
            .unwrap()
    });
    let markers = escaper_markers(&tag);
    let mut pids = Vec::new();
    poll_until(
        "all four processes to start",
        Duration::from_secs(10),
        || {
            pids = markers.iter().flat_map(|m| pids_with_arg(m)).collect();
            pids.len() == markers.len()
        },
    )
    .await;
    std::fs::write(&go, "").unwrap();
    let out = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .unwrap()
        .unwrap();
    assert!(out.text.contains("launched"), "{}", out.text);
    poll_until(
        "every process of the call to be gone",
        Duration::from_secs(1),
        || pids.iter().all(|p| !alive(*p)),
    )
    .await;
}
