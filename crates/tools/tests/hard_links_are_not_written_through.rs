//! Issue 19, hard links: `bash` never writes an inode that also has a name
//! outside its write scope (or inside a region delegated to a child), and the
//! file tools replace such a file instead of writing through it.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use scope::{Access, Scope};
use serde_json::json;

async fn sh(ctx: &tools::ToolContext, cmd: &str) -> String {
    call(ctx, "bash", json!({"command": cmd}))
        .await
        .unwrap()
        .text
}

/// `w` (write) holding `w/child` (delegated: deny write) and `out` (outside).
fn tree() -> (Tree, Scope, Scope) {
    let t = Tree::new();
    // The re-run as an ordinary user must be able to walk there.
    std::fs::set_permissions(&t.base, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    t.write("out/f", "outside\n");
    t.write("w/child/x", "child's\n");
    t.write("w/own", "own\n");
    let whole = Scope::allowing(vec![rule(&t.p("w"), Access::Write)]);
    let delegated = Scope {
        allow: vec![rule(&t.p("w"), Access::Write)],
        deny: vec![deny(&t.p("w/child"), Access::Write)],
    };
    (t, whole, delegated)
}

#[tokio::test]
async fn a_link_to_a_file_outside_is_not_written_through_by_bash() {
    if !require_landlock() {
        return;
    }
    let (t, whole, delegated) = tree();
    std::fs::hard_link(t.p("out/f"), t.p("w/linked")).unwrap();
    // Both shapes of grant: the whole tree as one rule, and the per-entry grants
    // around a delegated region.
    for (name, scope) in [("whole tree", whole), ("around a delegation", delegated)] {
        let (_tx, ctx) = ctx(scope, &t.p("w"));
        let out = sh(&ctx, "echo pwned >> linked; echo more >> own").await;
        assert_eq!(
            std::fs::read_to_string(t.p("out/f")).unwrap(),
            "outside\n",
            "{name}: {out}"
        );
        // Ordinary files next to it stay writable.
        assert!(
            std::fs::read_to_string(t.p("w/own"))
                .unwrap()
                .ends_with("more\n")
        );
    }
}

#[tokio::test]
async fn a_link_into_a_delegated_region_is_not_written_through_by_the_parent() {
    if !require_landlock() {
        return;
    }
    let (t, _, delegated) = tree();
    std::fs::hard_link(t.p("w/child/x"), t.p("w/alias")).unwrap();
    let (_tx, ctx) = ctx(delegated, &t.p("w"));
    let out = sh(&ctx, "echo pwned >> alias").await;
    assert_eq!(
        std::fs::read_to_string(t.p("w/child/x")).unwrap(),
        "child's\n",
        "{out}"
    );
    // The runtime refuses such a delegation up front.
    let leaving = tools::sandbox::links_leaving(&t.p("w/child")).unwrap();
    assert_eq!(leaving.len(), 1, "{leaving:?}");
    assert_eq!(leaving[0].path, t.p("w/child/x"));
}

#[tokio::test]
async fn file_tools_replace_a_multi_linked_file_instead_of_writing_through() {
    let (t, whole, _) = tree();
    std::fs::hard_link(t.p("out/f"), t.p("w/linked")).unwrap();
    let (_tx, ctx) = ctx(whole, &t.p("w"));
    call(&ctx, "read_file", json!({"path": "linked"}))
        .await
        .unwrap();
    call(
        &ctx,
        "edit_file",
        json!({"path": "linked", "old_string": "outside", "new_string": "edited"}),
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(t.p("w/linked")).unwrap(),
        "edited\n"
    );
    call(
        &ctx,
        "write_file",
        json!({"path": "linked", "content": "written\n"}),
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(t.p("w/linked")).unwrap(),
        "written\n"
    );
    assert_eq!(std::fs::read_to_string(t.p("out/f")).unwrap(), "outside\n");
}
