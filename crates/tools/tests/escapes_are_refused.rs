//! Scope enforcement of the file tools: `..`, symlinks (also swapped between
//! calls), read-only and denied regions, and a scope narrowed while the Pod runs.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::symlink;

use common::*;
use scope::{Access, Scope};
use serde_json::json;
use tools::ToolError;

fn w_scope(t: &Tree) -> Scope {
    Scope::allowing(vec![rule(&t.p("w"), Access::Write)])
}

#[tokio::test]
async fn dotdot_out_of_scope_is_refused() {
    let t = Tree::new();
    t.mkdir("w");
    t.write("secret", "s3cret");
    let (_tx, ctx) = ctx(w_scope(&t), &t.p("w"));
    let e = call(&ctx, "read_file", json!({"path": "../secret"}))
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::OutOfScope { .. }), "{e}");
    assert!(
        e.to_string().contains(&t.p("secret").display().to_string()),
        "{e}"
    );
    let e = call(
        &ctx,
        "write_file",
        json!({"path": "../new", "content": "x"}),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ToolError::OutOfScope { .. }), "{e}");
    assert!(!t.p("new").exists());
}

#[tokio::test]
async fn hard_to_see_dotdot_is_resolved_before_the_check() {
    // only /w/a allowed; /w/a/./../b is /w/b
    let t = Tree::new();
    t.mkdir("w/a");
    t.write("w/b", "other");
    let scope = Scope::allowing(vec![rule(&t.p("w/a"), Access::Write)]);
    let (_tx, ctx) = ctx(scope, &t.p("w/a"));
    let sneaky = format!("{}/w/a/./../b", t.base.display());
    let e = call(&ctx, "read_file", json!({"path": sneaky}))
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::OutOfScope { .. }), "{e}");
    let e = call(&ctx, "write_file", json!({"path": sneaky, "content": "x"}))
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::OutOfScope { .. }), "{e}");
    assert_eq!(std::fs::read_to_string(t.p("w/b")).unwrap(), "other");
}

#[tokio::test]
async fn symlink_inside_scope_pointing_outside_is_refused_for_read_and_write() {
    let t = Tree::new();
    t.mkdir("w");
    t.write("out/secret", "s3cret");
    symlink(t.p("out"), t.p("w/escape")).unwrap();
    symlink(t.p("out/secret"), t.p("w/secret-link")).unwrap();
    let (_tx, ctx) = ctx(w_scope(&t), &t.p("w"));
    for path in ["escape/secret", "secret-link"] {
        let e = call(&ctx, "read_file", json!({"path": path}))
            .await
            .unwrap_err();
        assert!(matches!(e, ToolError::OutOfScope { .. }), "{path}: {e}");
        let e = call(
            &ctx,
            "write_file",
            json!({"path": path, "content": "pwned"}),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, ToolError::OutOfScope { .. }), "{path}: {e}");
    }
    let e = call(
        &ctx,
        "write_file",
        json!({"path": "escape/new", "content": "x"}),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ToolError::OutOfScope { .. }), "{e}");
    assert_eq!(
        std::fs::read_to_string(t.p("out/secret")).unwrap(),
        "s3cret"
    );
    assert!(!t.p("out/new").exists());
}

#[tokio::test]
async fn symlink_swapped_to_outside_between_two_calls_is_refused() {
    let t = Tree::new();
    t.write("w/inside/f", "fine");
    t.write("out/f", "s3cret");
    symlink(t.p("w/inside"), t.p("w/link")).unwrap();
    let (_tx, ctx) = ctx(w_scope(&t), &t.p("w"));
    let ok = call(&ctx, "read_file", json!({"path": "link/f"}))
        .await
        .unwrap();
    assert!(ok.text.contains("fine"));
    std::fs::remove_file(t.p("w/link")).unwrap();
    symlink(t.p("out"), t.p("w/link")).unwrap();
    let e = call(&ctx, "read_file", json!({"path": "link/f"}))
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::OutOfScope { .. }), "{e}");
    let e = call(
        &ctx,
        "edit_file",
        json!({"path": "link/f", "old_string": "s3cret", "new_string": "x"}),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ToolError::OutOfScope { .. }), "{e}");
    assert_eq!(std::fs::read_to_string(t.p("out/f")).unwrap(), "s3cret");
}

#[tokio::test]
async fn write_to_read_only_region_names_path_and_reason() {
    let t = Tree::new();
    t.write("w/ro/f", "old");
    t.write("r/f", "old");
    let scope = Scope {
        allow: vec![
            rule(&t.p("w"), Access::Write),
            rule(&t.p("r"), Access::Read),
        ],
        deny: vec![deny(&t.p("w/ro"), Access::Write)],
    };
    let (_tx, ctx) = ctx(scope, &t.p("w"));
    for (path, target) in [("ro/f", t.p("w/ro/f")), ("../r/f", t.p("r/f"))] {
        let e = call(&ctx, "write_file", json!({"path": path, "content": "new"}))
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(
                e,
                ToolError::OutOfScope {
                    access: Access::Write,
                    ..
                }
            ),
            "{msg}"
        );
        assert!(msg.contains(&target.display().to_string()), "{msg}");
        assert!(msg.contains("read-only"), "{msg}");
        // reading is still fine there
        assert!(call(&ctx, "read_file", json!({"path": path})).await.is_ok());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
    }
}

#[tokio::test]
async fn read_of_denied_region_is_an_error_and_it_is_hidden_from_listings() {
    let t = Tree::new();
    t.write("w/private/key", "k");
    t.write("w/public", "p");
    let scope = Scope {
        allow: vec![rule(&t.p("w"), Access::Write)],
        deny: vec![deny(&t.p("w/private"), Access::Read)],
    };
    let (_tx, ctx) = ctx(scope, &t.p("w"));
    let e = call(&ctx, "read_file", json!({"path": "private/key"}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("denied"), "{e}");
    let listing = call(&ctx, "list_dir", json!({})).await.unwrap().text;
    assert!(
        listing.contains("public") && !listing.contains("private"),
        "{listing}"
    );
    let found = call(&ctx, "grep", json!({"pattern": "k|p"}))
        .await
        .unwrap()
        .text;
    assert!(!found.contains("private"), "{found}");
}

#[tokio::test]
async fn a_scope_narrowed_by_delegation_applies_to_the_next_call() {
    let t = Tree::new();
    t.mkdir("w/child");
    let (tx, ctx) = ctx(w_scope(&t), &t.p("w"));
    call(
        &ctx,
        "write_file",
        json!({"path": "child/a", "content": "1"}),
    )
    .await
    .unwrap();
    // The runtime delegates w/child to a child Pod: effective scope now denies write.
    let narrowed = w_scope(&t).effective_write(&[rule(&t.p("w/child"), Access::Write)]);
    tx.send(narrowed).unwrap();
    let e = call(
        &ctx,
        "write_file",
        json!({"path": "child/a", "content": "2"}),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("delegated"), "{e}");
    assert_eq!(std::fs::read_to_string(t.p("w/child/a")).unwrap(), "1");
}

#[tokio::test]
async fn write_file_creates_parents_inside_scope() {
    let t = Tree::new();
    t.mkdir("w");
    let (_tx, ctx) = ctx(w_scope(&t), &t.p("w"));
    let out = call(
        &ctx,
        "write_file",
        json!({"path": "a/b/c.txt", "content": "hi\n"}),
    )
    .await
    .unwrap();
    assert!(out.text.starts_with("Created"), "{}", out.text);
    assert_eq!(std::fs::read_to_string(t.p("w/a/b/c.txt")).unwrap(), "hi\n");
}

#[tokio::test]
async fn a_rule_naming_one_file_grants_that_file_only() {
    let t = Tree::new();
    t.write("w/only.txt", "mine\n");
    t.write("w/other.txt", "not mine\n");
    let one = scope::ScopeRule::trusted(t.p("w/only.txt"), Access::Write, false).unwrap();
    let (_tx, ctx) = ctx(Scope::allowing(vec![one]), &t.p("w"));
    let out = call(&ctx, "read_file", json!({"path": "only.txt"}))
        .await
        .unwrap();
    assert!(out.text.contains("mine"));
    call(
        &ctx,
        "write_file",
        json!({"path": "only.txt", "content": "new\n"}),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read_to_string(t.p("w/only.txt")).unwrap(), "new\n");
    let e = call(&ctx, "read_file", json!({"path": "other.txt"}))
        .await
        .unwrap_err();
    assert!(matches!(e, ToolError::OutOfScope { .. }), "{e}");
}
