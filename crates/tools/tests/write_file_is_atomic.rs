//! `write_file` keeps the mode and is atomic under SIGKILL.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use common::*;
use scope::{Access, Scope};
use serde_json::json;

const CHILD_ENV: &str = "TOOLS_CRASH_CHILD_DIR";
const SIZE: usize = 4 * 1024 * 1024;

#[tokio::test]
async fn write_file_keeps_the_executable_bit() {
    let t = Tree::new();
    let f = t.write("w/run.sh", "#!/bin/sh\necho old\n");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o751)).unwrap();
    let (_tx, ctx) = ctx(
        Scope::allowing(vec![rule(&t.p("w"), Access::Write)]),
        &t.p("w"),
    );
    call(
        &ctx,
        "write_file",
        json!({"path": "run.sh", "content": "#!/bin/sh\necho new\n"}),
    )
    .await
    .unwrap();
    let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o751);
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "#!/bin/sh\necho new\n"
    );
    // and edit_file too
    call(&ctx, "read_file", json!({"path": "run.sh"}))
        .await
        .unwrap();
    call(
        &ctx,
        "edit_file",
        json!({"path": "run.sh", "old_string": "new", "new_string": "newer"}),
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o7777,
        0o751
    );
}

/// Child mode: writes alternately all-'A' and all-'B' 4 MiB files to `f` forever,
/// printing a line after each write.
fn crash_child(dir: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = std::path::PathBuf::from(dir);
    let (_tx, ctx) = ctx(Scope::allowing(vec![rule(&base, Access::Write)]), &base);
    for i in 0u64.. {
        let c = if i % 2 == 0 { "B" } else { "A" };
        let content = c.repeat(SIZE);
        rt.block_on(call(
            &ctx,
            "write_file",
            json!({"path": "f", "content": content}),
        ))
        .unwrap();
        println!("wrote {i}");
    }
}

#[test]
fn crash_mid_write_leaves_old_or_new_content() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        crash_child(&dir);
        return;
    }
    let t = Tree::new();
    let w = t.mkdir("w");
    std::fs::write(w.join("f"), "A".repeat(SIZE)).unwrap();
    let exe = std::env::current_exe().unwrap();
    // Kill after a varying number of completed writes: the child is then inside
    // its next write (write + fsync + rename take milliseconds for 4 MiB).
    for kill_after in [1usize, 2, 3, 5] {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_mid_write_leaves_old_or_new_content",
                "--nocapture",
            ])
            .env(CHILD_ENV, &w)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        while seen < kill_after {
            let line = lines.next().expect("child died early").unwrap();
            if line.starts_with("wrote ") {
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let content = std::fs::read(w.join("f")).unwrap();
        assert_eq!(content.len(), SIZE, "torn length after kill #{kill_after}");
        let first = content[0];
        assert!(first == b'A' || first == b'B');
        assert!(
            content.iter().all(|&b| b == first),
            "mixed content after kill #{kill_after}"
        );
    }
}
