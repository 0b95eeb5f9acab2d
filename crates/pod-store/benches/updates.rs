//! Field updates per second with fsync (temp + fsync + rename + dir fsync each),
//! on a small record and on one with 100 children.
// A benchmark aborts on a broken setup; it handles no user input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pod_ids::{PodName, SegmentId, SessionId};
use pod_store::{ChildSpec, Manifest, PodStore};
use scope::{Access, ScopeRule};

fn store_with_children(children: usize) -> (tempfile::TempDir, PodStore, PodName) {
    let dir = tempfile::tempdir().unwrap();
    let store = PodStore::new(dir.path().join("pods"));
    let pod: PodName = "bench".parse().unwrap();
    let manifest = Manifest {
        provider: "openai".into(),
        model: "m".into(),
        cwd: "/w".into(),
        ..Default::default()
    };
    store
        .create_pending(&pod, SessionId::new(), SegmentId::new(), manifest, None)
        .unwrap();
    for i in 0..children {
        let spec = ChildSpec {
            name: format!("c{i}").parse().unwrap(),
            write: vec![ScopeRule::trusted(format!("/w/c{i}"), Access::Write, true).unwrap()],
            read: vec![],
        };
        store.add_pending_child(&pod, spec).unwrap();
    }
    (dir, store, pod)
}

fn field_updates(c: &mut Criterion) {
    let mut g = c.benchmark_group("pod_store_update");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_millis(500))
        .throughput(Throughput::Elements(1));
    for children in [0, 100] {
        let (_dir, store, pod) = store_with_children(children);
        let mut n = 0u64;
        g.bench_function(format!("set_manifest_extra/{children}_children"), |b| {
            b.iter(|| {
                n += 1;
                black_box(store.set_manifest_extra(&pod, "counter", n.into()).unwrap())
            })
        });
    }
    let (_dir, store, pod) = store_with_children(1);
    g.bench_function("read/1_child", |b| {
        b.iter(|| black_box(store.read(&pod).unwrap()))
    });
    g.finish();
}

/// The floor the disk sets: one small write + fsync of a file + fsync of its
/// directory, without any pod-store work (an update does this plus a rename).
fn fsync_floor(c: &mut Criterion) {
    use std::io::Write;
    let mut g = c.benchmark_group("fsync_floor");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_millis(500))
        .throughput(Throughput::Elements(1));
    let dir = tempfile::tempdir().unwrap();
    let mut f = std::fs::File::create(dir.path().join("f")).unwrap();
    let d = std::fs::File::open(dir.path()).unwrap();
    g.bench_function("write_fsync_file_and_dir", |b| {
        b.iter(|| {
            f.write_all(&[b'x'; 300]).unwrap();
            f.sync_all().unwrap();
            d.sync_all().unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, field_updates, fsync_floor);
criterion_main!(benches);
