//! `grep` tool vs `rg` with the same options over a large source tree, side by
//! side: a literal and a regex, content mode (every matching line with its number).
//!
//! Tree: `$PODS_BENCH_TREE`, else the cargo registry sources
//! (`~/.cargo/registry/src`). `rg` is skipped when not installed.
//! Run: `cargo bench -p tools --bench grep_vs_rg`.
// A benchmark aborts on a broken setup; it handles no user input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use scope::{Access, Scope, ScopeRule};
use serde_json::json;
use tools::{ToolContext, ToolSet};

const CASES: &[(&str, &str, bool)] = &[
    ("literal", "unsafe impl", true),
    ("regex", r"fn \w+_mut\(", false),
];

fn tree() -> Option<PathBuf> {
    let p = match std::env::var_os("PODS_BENCH_TREE") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cargo/registry/src"),
    };
    std::fs::canonicalize(p).ok()
}

fn rg_available() -> bool {
    Command::new("rg")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// rg with the tool's filters: hidden files searched, .gitignore honoured outside
/// git repos, .git/target/node_modules skipped, line numbers, no heading.
fn rg(tree: &PathBuf, pattern: &str, literal: bool, count: bool) -> std::process::Output {
    let mut c = Command::new("rg");
    c.args([
        "--hidden",
        "--no-require-git",
        "-g",
        "!.git",
        "-g",
        "!target",
        "-g",
        "!node_modules",
    ]);
    c.args(["--no-heading", "-n", "--color", "never"]);
    if literal {
        c.arg("-F");
    }
    if count {
        c.arg("-c");
    }
    c.arg("-e").arg(pattern).arg(tree);
    c.output().expect("rg runs")
}

fn bench(c: &mut Criterion) {
    let Some(tree) = tree() else {
        eprintln!("no tree to search: set PODS_BENCH_TREE");
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let rule = ScopeRule::trusted(&tree, Access::Read, true).expect("canonical");
    let (_tx, rx) = tokio::sync::watch::channel(Scope::allowing(vec![rule]));
    let ctx = ToolContext::new(rx, &tree);
    let set = ToolSet::standard();
    let have_rg = rg_available();
    if !have_rg {
        eprintln!("rg not installed: benchmarking the tool alone");
    }
    let run = |pattern: &str, literal: bool, mode: &str| {
        let args = json!({"pattern": pattern, "literal": literal, "output_mode": mode,
                          "max_results": tools::GREP_HARD_MAX});
        rt.block_on(set.call(&ctx, "grep", &args.to_string()))
            .expect("grep runs")
    };
    // Sanity: both find the same number of matching lines.
    for (name, pattern, literal) in CASES {
        let ours: u64 = run(pattern, *literal, "count")
            .text
            .lines()
            .filter_map(|l| l.rsplit_once(':')?.1.parse::<u64>().ok())
            .sum();
        let theirs: Option<u64> = have_rg.then(|| {
            String::from_utf8_lossy(&rg(&tree, pattern, *literal, true).stdout)
                .lines()
                .filter_map(|l| l.rsplit_once(':')?.1.parse::<u64>().ok())
                .sum()
        });
        eprintln!("{name} {pattern:?}: tool {ours} matching lines, rg {theirs:?}");
    }
    let mut g = c.benchmark_group("grep");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (name, pattern, literal) in CASES {
        g.bench_function(format!("tool/{name}"), |b| {
            b.iter(|| run(pattern, *literal, "content"))
        });
        if have_rg {
            g.bench_function(format!("rg/{name}"), |b| {
                b.iter(|| rg(&tree, pattern, *literal, false))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
