//! `edit_file` only edits what this Pod has read, and only unambiguous matches.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use scope::{Access, Scope};
use serde_json::json;
use tools::ToolError;

fn setup(content: &str) -> (Tree, tokio::sync::watch::Sender<Scope>, tools::ToolContext) {
    let t = Tree::new();
    t.write("w/f.rs", content);
    let (tx, ctx) = ctx(
        Scope::allowing(vec![rule(&t.p("w"), Access::Write)]),
        &t.p("w"),
    );
    (t, tx, ctx)
}

fn edit(old: &str, new: &str) -> serde_json::Value {
    json!({"path": "f.rs", "old_string": old, "new_string": new})
}

#[tokio::test]
async fn edit_without_prior_read_is_refused_with_instructions() {
    let (t, _tx, ctx) = setup("fn a() {}\n");
    let e = call(&ctx, "edit_file", edit("a()", "b()"))
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::NotRead { .. }), "{e}");
    assert!(e.to_string().contains("call read_file"), "{e}");
    assert_eq!(
        std::fs::read_to_string(t.p("w/f.rs")).unwrap(),
        "fn a() {}\n"
    );
}

#[tokio::test]
async fn edit_after_the_file_changed_on_disk_is_refused_until_read_again() {
    let (t, _tx, ctx) = setup("fn a() {}\n");
    call(&ctx, "read_file", json!({"path": "f.rs"}))
        .await
        .unwrap();
    // Same length, so only the content hash (or mtime) can tell.
    std::fs::write(t.p("w/f.rs"), "fn z() {}\n").unwrap();
    let e = call(&ctx, "edit_file", edit("z()", "b()"))
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::Stale { .. }), "{e}");
    assert!(e.to_string().contains("read_file again"), "{e}");
    assert_eq!(
        std::fs::read_to_string(t.p("w/f.rs")).unwrap(),
        "fn z() {}\n"
    );
    call(&ctx, "read_file", json!({"path": "f.rs"}))
        .await
        .unwrap();
    call(&ctx, "edit_file", edit("z()", "b()")).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(t.p("w/f.rs")).unwrap(),
        "fn b() {}\n"
    );
}

#[tokio::test]
async fn ambiguous_match_is_refused_with_the_count_and_replace_all_works() {
    let (t, _tx, ctx) = setup("x = 1;\nx = 1;\nx = 1;\n");
    call(&ctx, "read_file", json!({"path": "f.rs"}))
        .await
        .unwrap();
    let e = call(&ctx, "edit_file", edit("x = 1;", "x = 2;"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ToolError::AmbiguousMatch { count: 3, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("3 times"), "{e}");
    let mut all = edit("x = 1;", "x = 2;");
    all["replace_all"] = json!(true);
    let out = call(&ctx, "edit_file", all).await.unwrap();
    assert!(out.text.contains("replaced 3 occurrences"), "{}", out.text);
    assert_eq!(
        std::fs::read_to_string(t.p("w/f.rs")).unwrap(),
        "x = 2;\nx = 2;\nx = 2;\n"
    );
}

#[tokio::test]
async fn own_edits_need_no_reread_and_the_summary_shows_the_new_lines() {
    let (t, _tx, ctx) = setup("one\ntwo\nthree\nfour\n");
    call(&ctx, "read_file", json!({"path": "f.rs"}))
        .await
        .unwrap();
    let out = call(&ctx, "edit_file", edit("two", "TWO")).await.unwrap();
    assert!(out.text.contains("     2\tTWO"), "{}", out.text);
    // the Pod's own edit updated the fingerprint: a second edit is fine
    call(&ctx, "edit_file", edit("three", "THREE"))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(t.p("w/f.rs")).unwrap(),
        "one\nTWO\nTHREE\nfour\n"
    );
    let e = call(&ctx, "edit_file", edit("missing", "x"))
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::NoMatch { .. }), "{e}");
}

#[tokio::test]
async fn read_file_pages_and_refuses_binary() {
    let (t, _tx, ctx) = setup(&(1..=10).map(|i| format!("line{i}\n")).collect::<String>());
    let out = call(
        &ctx,
        "read_file",
        json!({"path": "f.rs", "offset": 3, "limit": 2}),
    )
    .await
    .unwrap();
    assert!(out.truncated);
    assert!(
        out.text.starts_with("     3\tline3\n     4\tline4\n"),
        "{}",
        out.text
    );
    assert!(out.text.contains("offset=5"), "{}", out.text);
    std::fs::write(t.p("w/bin"), b"ELF\x00\x01\x02").unwrap();
    let e = call(&ctx, "read_file", json!({"path": "bin"}))
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::Binary { .. }), "{e}");
    assert!(e.to_string().contains("binary"), "{e}");
}
