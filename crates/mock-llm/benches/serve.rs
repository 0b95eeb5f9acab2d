//! How fast the mock can feed a client: SSE bytes served per second on loopback for a
//! large fault-free stream, and the round trip of a small one. Gives the `llm` client's
//! own throughput numbers a ceiling to be read against.
// A benchmark aborts on a broken setup; it handles no user input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mock_llm::{Chunking, MockServer, Part, Response, Script, TextPart};

fn script(text_len: usize, chunk: usize) -> Script {
    Script {
        responses: vec![Response {
            times: Some(u32::MAX),
            output: vec![Part::Text(TextPart {
                text: "abcdefgh".repeat(text_len / 8),
                chunking: Chunking::Size(chunk),
                thought_signature: None,
            })],
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn fetch(client: &reqwest::Client, url: &str) -> usize {
    let body = serde_json::json!({"model": "m", "stream": true, "messages": []});
    let resp = client.post(url).json(&body).send().await.unwrap();
    resp.bytes().await.unwrap().len()
}

fn serve(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    let mut group = c.benchmark_group("serve");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    for (name, len, chunk) in [
        ("openai_chat_1MiB_text_64B_deltas", 1 << 20, 64),
        ("openai_chat_small_answer", 64, 8),
    ] {
        let server = rt.block_on(MockServer::start(script(len, chunk))).unwrap();
        let url = format!("{}/v1/chat/completions", server.base_url());
        let bytes = rt.block_on(fetch(&client, &url));
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(name, |b| {
            b.iter(|| black_box(rt.block_on(fetch(&client, &url))))
        });
        rt.block_on(server.shutdown());
    }
    group.finish();
}

criterion_group!(benches, serve);
criterion_main!(benches);
