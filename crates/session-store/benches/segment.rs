//! Throughput of the two hot paths: appending (fsync only at turn boundaries) and
//! replaying a large segment.
// A benchmark aborts on a broken setup; it handles no user input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use session_store::{EntryKind, NewSegment, SegmentWriter, SessionStore};
use transcript::{Item, RequestConfig, ToolCall, ToolResult, Usage};

/// An entry of about 1 KiB on disk.
fn one_kib_text() -> String {
    "lorem ipsum dolor sit amet, ".repeat(34)[..950].to_owned()
}

fn segment(store: &SessionStore) -> SegmentWriter {
    store
        .create_segment(NewSegment {
            system_prompt: "bench".into(),
            config: RequestConfig {
                provider: "mock".into(),
                model: "m".into(),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap()
}

fn appends(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::new(dir.path().join("sessions"));
    let text = one_kib_text();
    let mut g = c.benchmark_group("append");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    g.bench_function("1KiB entries, fsync every 20th (turn_end)", |b| {
        b.iter_custom(|iters| {
            // A fresh segment per sample keeps files from growing without bound.
            let mut w = segment(&store);
            let user = EntryKind::UserInput { text: text.clone() };
            let start = Instant::now();
            for i in 1..=iters {
                if i % 20 == 0 {
                    w.append(&EntryKind::TurnEnd { turn: i / 20 }).unwrap();
                } else {
                    w.append(&user).unwrap();
                }
            }
            start.elapsed()
        })
    });
    // The same appends with no fsync at all: the CPU and write(2) cost alone, to
    // separate it from the disk's fsync latency.
    g.bench_function("1KiB entries, no fsync", |b| {
        b.iter_custom(|iters| {
            let mut w = segment(&store);
            let user = EntryKind::UserInput { text: text.clone() };
            let start = Instant::now();
            for _ in 0..iters {
                w.append(&user).unwrap();
            }
            start.elapsed()
        })
    });
    g.finish();
}

fn replay(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::new(dir.path().join("sessions"));
    let mut w = segment(&store);
    let text = one_kib_text();
    let mut turn = 0;
    // 100,000 entries in a realistic mix, averaging about 1 KiB.
    while w.next_seq() < 100_000 {
        let k = w.next_seq() % 8;
        let call_id = format!("call-{}", w.next_seq() / 8);
        let kind = match k {
            0 => EntryKind::UserInput { text: text.clone() },
            1 => EntryKind::AssistantItem {
                item: Item::ToolCall(ToolCall {
                    call_id,
                    name: "read_file".into(),
                    arguments: r#"{"path":"/work/src/lib.rs","offset":0,"limit":200}"#.into(),
                }),
            },
            2 => EntryKind::ToolResult {
                result: ToolResult {
                    call_id,
                    name: "read_file".into(),
                    output: text.repeat(3),
                    is_error: false,
                },
            },
            3 => EntryKind::Usage {
                usage: Usage {
                    input_tokens: 1234,
                    output_tokens: 56,
                    ..Default::default()
                },
            },
            4 => EntryKind::AssistantItem {
                item: Item::AssistantMessage { text: text.clone() },
            },
            5 => EntryKind::SystemItem {
                text: "child pod b finished".into(),
            },
            6 => {
                turn += 1;
                EntryKind::TurnEnd { turn }
            }
            _ => EntryKind::RunCompleted,
        };
        w.append(&kind).unwrap();
    }
    w.sync().unwrap();
    let seg = w.segment_id();
    let bytes = std::fs::metadata(w.path()).unwrap().len();
    drop(w);
    eprintln!(
        "replay segment: 100000 entries, {:.1} MiB",
        bytes as f64 / (1 << 20) as f64
    );
    let mut g = c.benchmark_group("replay");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Bytes(bytes));
    g.bench_function("100k-entry segment", |b| {
        b.iter(|| {
            let r = store.replay(seg).unwrap();
            assert_eq!(r.last_seq, 99_999);
            r
        })
    });
    g.finish();
}

criterion_group!(benches, appends, replay);
criterion_main!(benches);
