//! `bash` under Landlock, its process group, its output cap, and the fallback
//! policy where Landlock is unavailable.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use scope::{Access, Scope};
use serde_json::json;
use tools::ToolError;

async fn sh(ctx: &tools::ToolContext, cmd: &str) -> tools::ToolOutput {
    call(ctx, "bash", json!({"command": cmd})).await.unwrap()
}

#[tokio::test]
async fn writes_outside_the_write_scope_fail_inside_it_work() {
    if !require_landlock() {
        return;
    }
    let t = Tree::new();
    let w = t.mkdir("w");
    let out = t.mkdir("out");
    t.write("out/secret", "s3cret");
    let (_tx, ctx) = ctx(Scope::allowing(vec![rule(&w, Access::Write)]), &w);
    let r = sh(&ctx, &format!("echo x > {}/f", out.display())).await;
    assert!(!r.text.contains("[exit code: 0]"), "{}", r.text);
    // Landlock says EACCES; the read-only mount layer, which is checked first,
    // EROFS.
    assert!(
        r.text.contains("Permission denied") || r.text.contains("Read-only file system"),
        "{}",
        r.text
    );
    assert!(!out.join("f").exists());
    let r = sh(&ctx, &format!("echo x > {}/f && echo x > f2", w.display())).await;
    assert!(r.text.contains("[exit code: 0]"), "{}", r.text);
    assert_eq!(std::fs::read_to_string(w.join("f")).unwrap(), "x\n");
    assert!(w.join("f2").exists());
    // Reading outside the readable scope fails too; system dirs stay usable.
    let r = sh(&ctx, &format!("cat {}/secret", out.display())).await;
    assert!(!r.text.contains("s3cret"), "{}", r.text);
    let r = sh(
        &ctx,
        "ls /usr/bin >/dev/null && echo tmp > $TMPDIR/t && cat $TMPDIR/t",
    )
    .await;
    assert!(r.text.contains("tmp\n[exit code: 0]"), "{}", r.text);
}

#[tokio::test]
async fn a_delegated_subdir_is_not_writable_by_bash() {
    if !require_landlock() {
        return;
    }
    let t = Tree::new();
    let w = t.mkdir("w");
    t.mkdir("w/child/deep");
    t.write("w/sib/existing", "");
    t.write("w/top.txt", "old\n");
    let full = Scope::allowing(vec![rule(&w, Access::Write)]);
    let effective = full.effective_write(&[rule(&w.join("child"), Access::Write)]);
    let (_tx, ctx) = ctx(effective, &w);
    for target in ["child/f", "child/deep/f"] {
        let r = sh(&ctx, &format!("echo x > {target}")).await;
        assert!(!r.text.contains("[exit code: 0]"), "{target}: {}", r.text);
        assert!(!w.join(target).exists(), "{target}");
    }
    // the child's region stays readable, siblings stay writable
    let r = sh(&ctx, "ls child && echo y > sib/new && echo new >> top.txt").await;
    assert!(r.text.contains("deep\n"), "{}", r.text);
    assert!(r.text.contains("[exit code: 0]"), "{}", r.text);
    assert_eq!(
        std::fs::read_to_string(w.join("top.txt")).unwrap(),
        "old\nnew\n"
    );
    // documented consequence: no new entries directly in an ancestor of the region
    let r = sh(&ctx, "echo z > new_in_w").await;
    assert!(!r.text.contains("[exit code: 0]"), "{}", r.text);
}

#[tokio::test]
async fn timeout_kills_everything_the_command_started() {
    let t = Tree::new();
    let w = t.mkdir("w");
    let (_tx, ctx) = ctx(Scope::allowing(vec![rule(&w, Access::Write)]), &w);
    let tag = format!("9{}", std::process::id());
    let started = Instant::now();
    let cmd = format!("sleep {tag}.1 & sleep {tag}.2");
    let task = tokio::spawn(async move {
        call(&ctx, "bash", json!({"command": cmd, "timeout_secs": 1})).await
    });
    let markers = [format!("{tag}.1"), format!("{tag}.2")];
    let mut pids = Vec::new();
    poll_until("both sleeps to start", Duration::from_secs(5), || {
        pids = markers.iter().flat_map(|m| pids_with_arg(m)).collect();
        pids.len() == 2
    })
    .await;
    let r = task.await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(r.text.contains("timed out after 1 s"), "{}", r.text);
    poll_until(
        "the command's processes to be gone",
        Duration::from_secs(5),
        || pids.iter().all(|p| !alive(*p)),
    )
    .await;
}

#[tokio::test]
async fn cancel_kills_the_group_and_reports_cancelled() {
    let t = Tree::new();
    let w = t.mkdir("w");
    let (_tx, ctx) = ctx(Scope::allowing(vec![rule(&w, Access::Write)]), &w);
    let cancel = ctx.cancel.clone();
    let marker = w.join("started");
    let cmd = format!("touch {}; sleep 100", marker.display());
    let task = tokio::spawn(async move { call(&ctx, "bash", json!({"command": cmd})).await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "command never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    let r = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(r, Err(ToolError::Cancelled { .. })), "{r:?}");
}

#[tokio::test]
async fn ten_megabytes_of_output_are_capped_and_say_so() {
    let t = Tree::new();
    let w = t.mkdir("w");
    let (_tx, ctx) = ctx(Scope::allowing(vec![rule(&w, Access::Write)]), &w);
    let r = sh(
        &ctx,
        "echo START; head -c 10000000 /dev/zero | tr '\\0' a; echo; echo END",
    )
    .await;
    assert!(r.truncated);
    assert!(
        r.text.len() < ctx.shell.output_cap_bytes + 1000,
        "{}",
        r.text.len()
    );
    assert!(r.text.starts_with("START\n"));
    assert!(r.text.contains("bytes omitted"), "marker missing");
    assert!(r.text.contains("END\n[exit code: 0]"), "tail missing");
}

#[tokio::test]
async fn without_landlock_a_narrow_scope_refuses_bash_unless_allowed() {
    let t = Tree::new();
    let w = t.mkdir("w");
    let sub = t.mkdir("w/sub");
    let (_tx, mut narrow) = ctx(Scope::allowing(vec![rule(&sub, Access::Write)]), &w);
    narrow.shell.assume_no_landlock = true;
    let e = call(&narrow, "bash", json!({"command": "true"}))
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::ShellRefused { .. }), "{e}");
    assert!(e.to_string().contains("no Landlock"), "{e}");
    narrow.shell.allow_unconfined = true;
    assert!(sh(&narrow, "true").await.text.contains("[exit code: 0]"));
    // a Pod that may write its whole working tree runs unconfined without opt-in
    let (_tx, mut whole) = ctx(Scope::allowing(vec![rule(&w, Access::Write)]), &w);
    whole.shell.assume_no_landlock = true;
    assert!(sh(&whole, "true").await.text.contains("[exit code: 0]"));
}

#[test]
fn landlock_rules_cover_the_documented_system_dirs() {
    // The list is part of the documented contract (README); keep them in sync.
    for d in ["/usr", "/bin", "/lib", "/etc", "/proc", "/dev"] {
        assert!(tools::SYSTEM_READ_PATHS.contains(&d), "{d}");
    }
    assert!(tools::SYSTEM_WRITE_FILES.contains(&"/dev/null"));
    assert!(Path::new("/usr").exists());
}

#[tokio::test]
async fn a_read_denied_region_is_not_readable_by_bash() {
    if !require_landlock() {
        return;
    }
    let t = Tree::new();
    let w = t.mkdir("w");
    t.write("w/private/key", "s3cret");
    t.write("w/public/doc", "hello");
    let scope = Scope {
        allow: vec![rule(&w, Access::Write)],
        deny: vec![deny(&w.join("private"), Access::Read)],
    };
    let (_tx, ctx) = ctx(scope, &w);
    let r = sh(&ctx, "cat private/key").await;
    assert!(!r.text.contains("s3cret"), "{}", r.text);
    assert!(!r.text.contains("[exit code: 0]"), "{}", r.text);
    let r = sh(&ctx, "cat public/doc && echo more >> public/doc").await;
    assert!(r.text.contains("hello\n[exit code: 0]"), "{}", r.text);
}
