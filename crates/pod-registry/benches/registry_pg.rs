//! Register + release latency and throughput at 1,000 live allocations, PostgreSQL
//! backend (a private local server, Unix socket) beside the file backend (tmpfs).
//! A bench binary, not criterion: the PostgreSQL case needs one cluster for the run.
//!
//! `cargo bench -p pod-registry --bench registry_pg`
// A benchmark aborts on a broken setup; it handles no user input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use pod_registry::{
    AnyRegistry, FileRegistry, Incarnation, MachineId, PgOptions, PgRegistry, ProcessStamp,
    RegisterRequest, Registry,
};
use scope::{Access, ScopeRule};

const SEEDED: usize = 1_000;
const ROUNDS: usize = 200;

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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn measure(label: &str, reg: &AnyRegistry) {
    let me = ProcessStamp::current().unwrap();
    for i in 0..SEEDED {
        let stamp = ProcessStamp {
            incarnation: Incarnation::random(),
            ..me
        };
        reg.register(request(&format!("seed-{i}"), &format!("/seed/{i}"), stamp))
            .unwrap();
    }
    let (mut reg_lat, mut rel_lat) = (Vec::new(), Vec::new());
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let stamp = ProcessStamp {
            incarnation: Incarnation::random(),
            ..me
        };
        let t = Instant::now();
        reg.register(request("bench", "/bench/x", stamp)).unwrap();
        reg_lat.push(t.elapsed());
        let t = Instant::now();
        reg.release(&"bench".parse().unwrap(), stamp.incarnation)
            .unwrap();
        rel_lat.push(t.elapsed());
    }
    let total = started.elapsed();
    reg_lat.sort();
    rel_lat.sort();
    println!(
        "{label:<10} {SEEDED} live: register p50 {:>8.2?} p95 {:>8.2?} p99 {:>8.2?} | release p50 {:>8.2?} p95 {:>8.2?} p99 {:>8.2?} | {:.0} register+release pairs/s",
        percentile(&reg_lat, 0.5),
        percentile(&reg_lat, 0.95),
        percentile(&reg_lat, 0.99),
        percentile(&rel_lat, 0.5),
        percentile(&rel_lat, 0.95),
        percentile(&rel_lat, 0.99),
        ROUNDS as f64 / total.as_secs_f64()
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benchmarks: nothing to list
    }
    let shm = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    measure(
        "file",
        &AnyRegistry::File(FileRegistry::open(shm.path().join("run")).unwrap()),
    );
    let cluster = pg_fixture::Cluster::start().unwrap();
    let pg = PgRegistry::connect(PgOptions {
        conninfo: cluster.create_database().unwrap(),
        lease: Duration::from_secs(600),
        lock_timeout: Duration::from_secs(10),
        machine: MachineId::local().unwrap(),
    })
    .unwrap();
    measure("postgres", &AnyRegistry::Postgres(pg));
}
