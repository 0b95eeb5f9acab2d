//! Register + release latency with 10/100/1,000 existing allocations, a liveness
//! probe, and operations per second with 8 processes contending.
//!
//! The runtime dir is on tmpfs (`/dev/shm`) like `$XDG_RUNTIME_DIR` in production; the
//! 1,000-row case is also measured on the disk-backed temp dir.
// A benchmark aborts on a broken setup; it handles no user input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use pod_registry::{FileRegistry, ProcessStamp, RegisterRequest, Registry};
use scope::{Access, ScopeRule};

const CHILD_ENV: &str = "POD_REGISTRY_BENCH_CHILD";
const CONTENDERS: usize = 8;

fn request(name: &str, path: &str, process: ProcessStamp) -> RegisterRequest {
    RegisterRequest {
        name: name.parse().unwrap(),
        process,
        socket: None,
        allow: vec![ScopeRule::trusted(path, Access::Write, true).unwrap()],
        deny: vec![],
        segment_id: None,
        restoring_children: vec![],
    }
}

fn tmpfs_or_tmp() -> tempfile::TempDir {
    if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

fn seeded(base: &Path, rows: usize) -> FileRegistry {
    let reg = FileRegistry::open(base.join("run")).unwrap();
    let me = ProcessStamp::current().unwrap();
    for i in 0..rows {
        let stamp = ProcessStamp {
            incarnation: pod_registry::Incarnation::random(),
            ..me
        };
        reg.register(request(&format!("seed-{i}"), &format!("/seed/{i}"), stamp))
            .unwrap();
    }
    reg
}

fn register_release(c: &mut Criterion) {
    let mut group = c.benchmark_group("register_release");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    let me = ProcessStamp::current().unwrap();
    let cases: [(usize, &str); 4] = [
        (10, "tmpfs"),
        (100, "tmpfs"),
        (1000, "tmpfs"),
        (1000, "disk"),
    ];
    for (rows, fs) in cases {
        let base = if fs == "tmpfs" {
            tmpfs_or_tmp()
        } else {
            tempfile::tempdir().unwrap()
        };
        let reg = seeded(base.path(), rows);
        group.bench_with_input(BenchmarkId::new(fs, rows), &rows, |b, _| {
            b.iter(|| {
                let stamp = ProcessStamp {
                    incarnation: pod_registry::Incarnation::random(),
                    ..me
                };
                reg.register(request("bench", "/bench", stamp)).unwrap();
                reg.release(&"bench".parse().unwrap(), stamp.incarnation)
                    .unwrap();
            })
        });
    }
    group.finish();
}

fn liveness_probe(c: &mut Criterion) {
    let me = ProcessStamp::current().unwrap();
    c.bench_function("is_alive_probe", |b| b.iter(|| assert!(me.is_alive())));
}

fn contention(c: &mut Criterion) {
    let mut group = c.benchmark_group("contention");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    // One iteration = each of the 8 processes does one register and one release.
    group.throughput(Throughput::Elements((CONTENDERS * 2) as u64));
    let base = tmpfs_or_tmp();
    let dir = base.path().join("run");
    FileRegistry::open(&dir).unwrap();
    group.bench_function("8_processes_register_release", |b| {
        b.iter_custom(|iters| run_contenders(&dir, iters))
    });
    group.finish();
}

fn run_contenders(dir: &Path, iters: u64) -> Duration {
    let exe = std::env::current_exe().unwrap();
    let start = Instant::now();
    let children: Vec<_> = (0..CONTENDERS)
        .map(|i| {
            Command::new(&exe)
                .env(CHILD_ENV, format!("{}|{i}|{iters}", dir.display()))
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut ch in children {
        assert!(ch.wait().unwrap().success());
    }
    start.elapsed()
}

fn contender(spec: &str) {
    let mut parts = spec.split('|');
    let dir = PathBuf::from(parts.next().unwrap());
    let idx: usize = parts.next().unwrap().parse().unwrap();
    let iters: u64 = parts.next().unwrap().parse().unwrap();
    let reg = FileRegistry::open(dir)
        .unwrap()
        .with_lock_deadline(Duration::from_secs(60));
    for k in 0..iters {
        let stamp = ProcessStamp::current().unwrap();
        let name = format!("c{idx}-{k}");
        reg.register(request(&name, &format!("/c/{idx}/{k}"), stamp))
            .unwrap();
        reg.release(&name.parse().unwrap(), stamp.incarnation)
            .unwrap();
    }
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        contender(&spec);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    register_release(&mut c);
    liveness_probe(&mut c);
    contention(&mut c);
    c.final_summary();
}
