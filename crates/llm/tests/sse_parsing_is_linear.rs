//! SSE parsing costs time linear in the bytes received, however large one event is
//! (issue 19: one 16 MiB event cost 40 s of CPU). Tests run unoptimised, so this checks
//! the scaling (4× the bytes must cost about 4× the CPU, not 16×) with the issue's
//! 64 MiB event as the large case; the absolute figure
//! for a 64 MiB event in release is `cargo bench -p llm --bench stream -- one_event`.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use llm::{ProviderKind, StreamEvent};

/// CPU time of the calling thread (user + system), from /proc, in clock ticks. Only
/// ratios are used, so the tick length does not matter.
fn thread_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start at field 3.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// One OpenAI Chat event whose text delta is `n` bytes, then the end.
fn one_big_event(n: usize) -> Vec<u8> {
    let mut s = String::with_capacity(n + 200);
    s.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"");
    s.extend(std::iter::repeat_n('a', n));
    s.push_str("\"},\"finish_reason\":null}]}\n\n");
    s.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    s.into_bytes()
}

/// CPU ticks to parse `bytes` fed in 16 KiB chunks (a socket read's size), best of 2,
/// on a thread of its own; `None` if it did not finish within `limit` (a super-linear
/// parser on the large input would run for minutes).
fn parse_ticks(bytes: Vec<u8>, expect_len: usize, limit: Duration) -> Option<u64> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut best = u64::MAX;
        for _ in 0..2 {
            let before = thread_cpu_ticks().unwrap_or(0);
            let (events, done) = llm::parse_sse(ProviderKind::OpenAiChat, bytes.chunks(16 * 1024));
            let after = thread_cpu_ticks().unwrap_or(0);
            assert!(done.is_ok(), "{done:?}");
            let text: usize = events
                .iter()
                .map(|e| match e {
                    StreamEvent::TextDelta(t) => t.len(),
                    _ => 0,
                })
                .sum();
            assert_eq!(text, expect_len);
            best = best.min(after - before);
        }
        let _ = tx.send(best);
    });
    rx.recv_timeout(limit).ok()
}

#[test]
fn a_single_huge_event_costs_cpu_linear_in_its_size() {
    if thread_cpu_ticks().is_none() {
        eprintln!("skipped: /proc/thread-self/stat is not readable here");
        return;
    }
    const SMALL: usize = 16 << 20;
    const LARGE: usize = 64 << 20;
    let small = parse_ticks(one_big_event(SMALL), SMALL, Duration::from_secs(120))
        .expect("16 MiB event: no result within 120 s");
    // Linear: about 4× the small one. Quadratic (re-scanning the buffered event on
    // every chunk) is 16× and more; give it 12× the small one's wall time at most.
    let allowed = Duration::from_millis(10 * (small.max(10) * 12)).max(Duration::from_secs(5));
    let large = parse_ticks(one_big_event(LARGE), LARGE, allowed);
    let Some(large) = large else {
        panic!(
            "64 MiB event not parsed within {allowed:?} (16 MiB took {small} ticks): super-linear"
        );
    };
    let ratio = large as f64 / small.max(1) as f64;
    eprintln!("16 MiB: {small} ticks, 64 MiB: {large} ticks, ratio {ratio:.1}");
    assert!(
        ratio < 8.0,
        "4× the bytes cost {ratio:.1}× the CPU: super-linear"
    );
}
