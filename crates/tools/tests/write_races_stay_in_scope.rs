//! Issue 19, file-tool race: a directory on the path swapped with a symlink into
//! a region the Pod may not write (a child's delegated region: `deny(write)`)
//! while `write_file` runs. The tools resolve each path once, without following
//! symlinks, and do the temp file, rename and cleanup relative to that one parent
//! fd, so nothing lands in the region and no temp file is left anywhere.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::*;
use rustix::fs::{CWD, RenameFlags, renameat_with};
use scope::{Access, Scope};
use serde_json::json;

const CALLS: usize = 500;

/// Every file under `dir` (recursively), as paths relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writes_land_nothing_in_a_denied_region_and_leave_no_temp_files() {
    let t = Tree::new();
    let w = t.mkdir("w");
    let child = t.mkdir("w/child");
    t.mkdir("w/a");
    std::os::unix::fs::symlink("child", w.join("s")).unwrap();
    let scope = Scope {
        allow: vec![rule(&w, Access::Write)],
        deny: vec![deny(&child, Access::Write)],
    };
    let (_tx, ctx) = ctx(scope, &w);

    // The attacker: swaps `a` (a directory) and `s` (a symlink to the denied
    // region) atomically, as fast as it can.
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicUsize::new(0));
    let swapper = {
        let (w, stop, swaps) = (w.clone(), stop.clone(), swaps.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                renameat_with(CWD, w.join("a"), CWD, w.join("s"), RenameFlags::EXCHANGE).unwrap();
                swaps.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let mut tasks = Vec::new();
    for i in 0..CALLS {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            call(
                &ctx,
                "write_file",
                json!({"path": format!("a/f{i}"), "content": "parent's data\n"}),
            )
            .await
            .is_ok()
        }));
    }
    let mut ok = 0;
    for task in tasks {
        ok += usize::from(task.await.unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();

    let landed = files_under(&child);
    assert!(
        landed.is_empty(),
        "{} files landed in the denied region: {landed:?}",
        landed.len()
    );
    let temps: Vec<String> = files_under(&t.base)
        .into_iter()
        .filter(|f| f.contains("pods-tmp"))
        .collect();
    assert!(temps.is_empty(), "temp files left: {temps:?}");
    println!(
        "{ok} of {CALLS} writes succeeded (in the real directory) during {} swaps",
        swaps.load(Ordering::Relaxed)
    );
}
