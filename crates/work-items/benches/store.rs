//! What the work-item store costs: a comment (lock, one appended event with fsync,
//! `item.md` replaced with fsync), reading an item with a long thread, and listing
//! a store of 300 items (what `pod work list` and `work_list` do).
// A benchmark aborts on a broken setup; it handles no user input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use work_items::{NewItem, Store};

fn item(title: &str) -> NewItem {
    NewItem {
        title: title.into(),
        body: "A description of a few lines.\n\nWith a second paragraph.\n".into(),
        author: "bench".into(),
        ..Default::default()
    }
}

fn store(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::init(dir.path().join("work-items")).unwrap();
    let id = s.create(&item("Busy item")).unwrap().meta.id;
    let mut g = c.benchmark_group("work_items");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.bench_function("comment (fsync)", |b| {
        b.iter(|| {
            s.comment(&id, "bench", "comment", "A comment of one line.")
                .unwrap()
        })
    });
    for _ in 0..500 {
        s.comment(&id, "bench", "comment", "A comment of one line.")
            .unwrap();
    }
    g.bench_function("load item with 500+ events", |b| {
        b.iter(|| black_box(s.load(&id).unwrap()))
    });
    for i in 0..300 {
        s.create(&item(&format!("Item number {i}"))).unwrap();
    }
    g.bench_function("list 300 items", |b| {
        b.iter(|| black_box(s.list(&[]).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, store);
criterion_main!(benches);
