//! `cargo bench -p llm`: SSE parsing throughput (parser alone, in memory) and the
//! latency the client adds per streamed event against `mock-llm` on loopback
//! (client stream vs. reading the same HTTP response raw with reqwest).
// A benchmark aborts on a broken setup; it handles no user input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use llm::{Client, Provider, ProviderConfig, ProviderKind, Request};
use tokio_util::sync::CancellationToken;

/// An Anthropic stream of `n` text deltas plus one tool call of `n` argument deltas.
fn anthropic_stream(n: usize) -> Vec<u8> {
    let mut s = String::from(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    );
    for i in 0..n {
        s.push_str(&format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"token {i} of the answer \"}}}}\n\n"));
    }
    s.push_str(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    );
    s.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"write_file\",\"input\":{}}}\n\n");
    s.push_str("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"content\\\": \\\"\"}}\n\n");
    for _ in 0..n {
        s.push_str("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"abcdefgh\"}}\n\n");
    }
    s.push_str("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"}\"}}\n\n");
    s.push_str(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    );
    s.push_str("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":99}}\n\n");
    s.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    s.into_bytes()
}

/// An OpenAI Chat stream of `n` text chunks.
fn chat_stream(n: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!("data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token {i} of the answer \"}},\"finish_reason\":null}}]}}\n\n"));
    }
    s.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    s.into_bytes()
}

/// One OpenAI Chat event whose text delta is `n` bytes (issue 19's single huge event).
fn one_big_event(n: usize) -> Vec<u8> {
    let mut s = String::with_capacity(n + 200);
    s.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"");
    s.extend(std::iter::repeat_n('a', n));
    s.push_str("\"},\"finish_reason\":null}]}\n\n");
    s.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    s.into_bytes()
}

/// CPU time of this thread (user + system) in clock ticks of 10 ms, from /proc.
fn thread_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The acceptance figure: CPU time (not wall time, which other processes on a
/// busy machine inflate) to parse one 64 MiB event, best of 5.
fn one_event_cpu(kind: ProviderKind, bytes: &[u8]) {
    let best = (0..5)
        .filter_map(|_| {
            let before = thread_cpu_ticks()?;
            let (_, done) = llm::parse_sse(kind, bytes.chunks(16 * 1024));
            assert!(done.is_ok());
            Some(thread_cpu_ticks()? - before)
        })
        .min();
    if let Some(t) = best {
        println!("one 64 MiB SSE event: {} ms of CPU (best of 5)", t * 10);
    }
}

fn parse_throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("sse_parse");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for (name, kind, bytes) in [
        (
            "anthropic",
            ProviderKind::Anthropic,
            anthropic_stream(10_000),
        ),
        ("openai_chat", ProviderKind::OpenAiChat, chat_stream(20_000)),
        (
            "one_64mib_event",
            ProviderKind::OpenAiChat,
            one_big_event(64 << 20),
        ),
    ] {
        if name == "one_64mib_event" {
            one_event_cpu(kind, &bytes);
        }
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                // 16 KiB chunks, like socket reads.
                let (_, done) = llm::parse_sse(kind, bytes.chunks(16 * 1024));
                assert!(done.is_ok());
            })
        });
    }
    g.finish();
}

const EVENTS: usize = 2000;

fn loopback_latency(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let text: String = (0..EVENTS).map(|_| "abcd").collect();
    let script = mock_llm::Script::from_yaml_str(&format!(
        "responses:\n  - times: 1000000\n    output:\n      - text: \"{text}\"\n        chunk_size: 4\n"
    ))
    .unwrap();
    let srv = rt.block_on(mock_llm::MockServer::start(script)).unwrap();
    let base = format!("{}/v1", srv.base_url());
    let client = Client::new(ProviderConfig::new(ProviderKind::OpenAiChat, &base, None)).unwrap();
    let mut req = Request::default();
    req.config.model = "m".into();
    req.history
        .push(transcript::Item::UserMessage { text: "hi".into() });
    let body = client.request_body(&req).unwrap();
    let raw = reqwest::Client::new();

    let via_client = || async {
        let mut s = client.stream(&req, CancellationToken::new()).unwrap();
        let mut n = 0;
        while let Some(ev) = s.next().await {
            ev.unwrap();
            n += 1;
        }
        n
    };
    let via_raw = || async {
        let resp = raw
            .post(format!("{base}/chat/completions"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let mut s = resp.bytes_stream();
        let mut bytes = 0;
        while let Some(chunk) = s.next().await {
            bytes += chunk.unwrap().len();
        }
        bytes
    };

    let mut g = c.benchmark_group("loopback_2000_events");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    g.bench_function("raw_reqwest", |b| b.iter(|| rt.block_on(via_raw())));
    g.bench_function("llm_client", |b| b.iter(|| rt.block_on(via_client())));
    g.finish();

    // A direct per-event figure for the report.
    let runs = 20;
    let t = Instant::now();
    for _ in 0..runs {
        rt.block_on(via_raw());
    }
    let raw_t = t.elapsed() / runs;
    let t = Instant::now();
    for _ in 0..runs {
        rt.block_on(via_client());
    }
    let client_t = t.elapsed() / runs;
    let added = client_t.saturating_sub(raw_t);
    println!(
        "loopback: raw {raw_t:?}, client {client_t:?} per {EVENTS}-event response; client adds {:.2} µs per event",
        added.as_secs_f64() * 1e6 / EVENTS as f64
    );
}

criterion_group!(benches, parse_throughput, loopback_latency);
criterion_main!(benches);
