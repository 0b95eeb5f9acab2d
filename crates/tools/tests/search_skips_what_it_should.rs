//! `grep` survives unreadable files and honours its modes; `glob` skips ignored
//! files; the registry lists tools in a stable order and dispatches by name.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use common::*;
use scope::{Access, Scope};
use serde_json::json;
use tools::{ToolError, ToolSet};

fn tree() -> (Tree, tools::ToolContext) {
    let t = Tree::new();
    t.write("w/src/a.rs", "fn alpha() {}\nlet needle = 1;\n");
    t.write(
        "w/src/b.rs",
        "one\ntwo\nneedle two\nthree\nfour\nneedle four\n",
    );
    t.write("w/notes.txt", "a needle in text\n");
    let (_tx, ctx) = ctx(
        Scope::allowing(vec![rule(&t.p("w"), Access::Read)]),
        &t.p("w"),
    );
    std::mem::forget(_tx); // keep the scope channel open for the test's lifetime
    (t, ctx)
}

#[tokio::test]
async fn grep_skips_an_unreadable_file_and_reports_the_rest() {
    let (t, ctx) = tree();
    // Tests run as root here, and root ignores permission bits, so `chmod 000`
    // would not make a file unreadable. A FIFO is a file grep cannot read: opening
    // it blocks until a writer appears, so a naive search would hang forever. It
    // must be skipped, counted, and not stop the other matches.
    let fifo = t.p("w/src/pipe.rs");
    let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let out = call(&ctx, "grep", json!({"pattern": "needle"}))
        .await
        .unwrap();
    for f in ["src/a.rs", "src/b.rs", "notes.txt"] {
        assert!(out.text.contains(f), "{f} missing: {}", out.text);
    }
    assert!(out.text.contains("[1 file skipped"), "{}", out.text);
    assert!(out.text.contains("pipe.rs"), "{}", out.text);
}

#[tokio::test]
async fn grep_modes_context_glob_and_literal() {
    let (t, ctx) = tree();
    let base = t.p("w").display().to_string();
    let out = call(
        &ctx,
        "grep",
        json!({"pattern": "needle", "output_mode": "count"}),
    )
    .await
    .unwrap();
    assert!(
        out.text.contains(&format!("{base}/src/b.rs:2")),
        "{}",
        out.text
    );
    let out = call(
        &ctx,
        "grep",
        json!({"pattern": "needle", "output_mode": "content", "glob": "*.rs", "context": 1, "path": "src/b.rs"}),
    )
    .await
    .unwrap();
    let b = format!("{base}/src/b.rs");
    let want = format!("{b}-2-two\n{b}:3:needle two\n{b}-4-three\n{b}-5-four\n{b}:6:needle four\n");
    assert!(out.text.starts_with(&want), "{}", out.text);
    let out = call(&ctx, "grep", json!({"pattern": "needle", "glob": "*.rs"}))
        .await
        .unwrap();
    assert!(!out.text.contains("notes.txt"), "{}", out.text);
    let out = call(&ctx, "grep", json!({"pattern": "alpha()", "literal": true}))
        .await
        .unwrap();
    assert!(
        out.text.contains("a.rs") && !out.text.contains("b.rs"),
        "{}",
        out.text
    );
    let e = call(&ctx, "grep", json!({"pattern": "("}))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ToolError::BadPattern { kind: "regex", .. }),
        "{e}"
    );
    let out = call(&ctx, "grep", json!({"pattern": "needle", "max_results": 1}))
        .await
        .unwrap();
    assert!(
        out.truncated && out.text.contains("[output truncated"),
        "{}",
        out.text
    );
}

#[tokio::test]
async fn glob_skips_ignored_files_and_build_dirs() {
    let t = Tree::new();
    t.write("w/.gitignore", "ignored.rs\nbuild/\n");
    for f in [
        "w/keep.rs",
        "w/src/deep/keep2.rs",
        "w/.hidden/ok.rs",
        "w/ignored.rs",
        "w/build/gen.rs",
        "w/target/debug/x.rs",
        "w/node_modules/m/x.rs",
        "w/.git/hooks/x.rs",
    ] {
        t.write(f, "x");
    }
    let (_tx, ctx) = ctx(
        Scope::allowing(vec![rule(&t.p("w"), Access::Read)]),
        &t.p("w"),
    );
    let out = call(&ctx, "glob", json!({"pattern": "**/*.rs"}))
        .await
        .unwrap();
    let got: Vec<&str> = out.text.lines().collect();
    let want: Vec<String> = ["w/.hidden/ok.rs", "w/keep.rs", "w/src/deep/keep2.rs"]
        .iter()
        .map(|p| t.p(p).display().to_string())
        .collect();
    assert_eq!(got, want);
    // grep applies the same filters
    let out = call(&ctx, "grep", json!({"pattern": "x"})).await.unwrap();
    for bad in ["ignored.rs", "build/", "target/", "node_modules", ".git/"] {
        assert!(!out.text.contains(bad), "{bad}: {}", out.text);
    }
    // `*` does not cross directories
    let out = call(&ctx, "glob", json!({"pattern": "*.rs"}))
        .await
        .unwrap();
    assert_eq!(out.text.trim(), t.p("w/keep.rs").display().to_string());
}

#[tokio::test]
async fn registry_lists_specs_sorted_and_rejects_unknown_tools_and_bad_json() {
    let set = ToolSet::standard();
    let names: Vec<String> = set.specs().into_iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "background",
            "bash",
            "edit_file",
            "glob",
            "grep",
            "list_dir",
            "read_file",
            "view_image",
            "write_file"
        ]
    );
    assert_eq!(set.specs(), set.specs());
    for s in set.specs() {
        assert_eq!(s.parameters["type"], "object", "{}", s.name);
        assert!(s.parameters.get("$schema").is_none());
    }
    let t = Tree::new();
    let (_tx, ctx) = ctx(Scope::allowing(vec![rule(&t.base, Access::Read)]), &t.base);
    let e = set.call(&ctx, "nope", "{}").await.unwrap_err();
    assert!(
        e.to_string()
            .contains("available tools are background, bash, edit_file"),
        "{e}"
    );
    let e = set.call(&ctx, "read_file", "{not json").await.unwrap_err();
    assert!(matches!(e, ToolError::InvalidArguments { .. }), "{e}");
    let e = set
        .call(&ctx, "read_file", r#"{"pth": "x"}"#)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("path"), "{e}");
}
