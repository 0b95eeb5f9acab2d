//! What the process layer costs: a `bash` call of `true` with every layer (its
//! own PID namespace: two extra forks), the same without the mount layer (and so
//! without a PID namespace: the TMPDIR walk of `/proc` instead), and a
//! `background` start + stop round trip.
//! Run: `cargo bench -p tools --bench tool_processes`.
// A benchmark aborts on a broken setup; it handles no user input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use scope::{Access, Scope, ScopeRule};
use serde_json::json;
use tools::{ToolContext, ToolSet};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let w = std::fs::canonicalize(dir.path()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let set = ToolSet::standard();
    let ctx = |no_mounts: bool| {
        let rule = ScopeRule::trusted(&w, Access::Write, true).unwrap();
        let (tx, rx) = tokio::sync::watch::channel(Scope::allowing(vec![rule]));
        std::mem::forget(tx);
        let mut ctx = ToolContext::new(rx, &w);
        ctx.shell.assume_no_mount_namespace = no_mounts;
        ctx
    };
    let mut g = c.benchmark_group("tool_processes");
    g.measurement_time(Duration::from_secs(5)).sample_size(30);
    for (name, no_mounts) in [
        ("bash_true_pid_namespace", false),
        ("bash_true_tmpdir_walk", true),
    ] {
        let ctx = ctx(no_mounts);
        g.bench_function(name, |b| {
            b.iter(|| {
                let out = rt
                    .block_on(set.call(&ctx, "bash", &json!({"command": "true"}).to_string()))
                    .unwrap();
                assert!(out.text.ends_with("[exit code: 0]"), "{}", out.text);
            })
        });
    }
    let ctx = ctx(false);
    g.bench_function("background_start_stop", |b| {
        b.iter(|| {
            rt.block_on(async {
                let start = json!({"action": "start", "command": "exec sleep 60"}).to_string();
                let out = set.call(&ctx, "background", &start).await.unwrap();
                let id = out.text["started background process ".len()..]
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_owned();
                let stop = format!(r#"{{"action":"stop","id":{id}}}"#);
                set.call(&ctx, "background", &stop).await.unwrap();
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
