//! A write root replaced after the scope was granted (a symlink swapped in, or
//! another directory exchanged into its name) refuses the shell call with an
//! error naming it, and nothing is written at the new target.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use scope::{Access, Scope};
use serde_json::json;

#[tokio::test]
async fn a_swapped_or_exchanged_write_root_refuses_the_call() {
    let t = Tree::new();
    let region = t.mkdir("w/region");
    let outside = t.mkdir("outside");
    let (_tx, ctx) = ctx(Scope::allowing(vec![rule(&region, Access::Write)]), &t.base);
    // The first call pins the root (a scope granted without a recorded identity).
    let out = call(
        &ctx,
        "bash",
        json!({"command": format!("echo a > {}/f", region.display())}),
    )
    .await
    .unwrap();
    assert!(out.text.contains("[exit code: 0]"), "{}", out.text);

    // Exchanged: another directory under the same name.
    std::fs::rename(&region, t.p("w/region.old")).unwrap();
    std::fs::rename(&outside, &region).unwrap();
    let write = json!({"command": format!("echo b > {}/g", region.display())});
    let e = call(&ctx, "bash", write.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "{} is not the directory this scope was granted on",
            region.display()
        )),
        "{e}"
    );
    assert!(!region.join("g").exists());

    // Swapped for a symlink to a place outside the scope.
    std::fs::rename(&region, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &region).unwrap();
    let e = call(&ctx, "bash", write).await.unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "{} is (or lies under) a symlink now",
            region.display()
        )),
        "{e}"
    );
    assert!(!outside.join("g").exists());
}
