//! Issue 13's benchmarks, real processes against an in-process mock-llm:
//! 1. compaction of a 200-turn session, time excluding the model call (the Pod
//!    reports it: transcript, summary prompt, new segment, record, journal switch);
//! 2. `pod resume` (to ready) of a Pod whose log holds 100 MB, once with the bulk
//!    in an older segment (the active one is a compacted segment: replay reads only
//!    it) and once with all 100 MB in the active segment, for comparison.
//!
//! `cargo bench -p pod --bench agent`. A plain binary (`harness = false`): each
//! sample is a process start or a socket round trip.
// A benchmark aborts on a broken setup; it handles no user input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pod_ids::{PodName, Roots};
use session_store::{EntryKind, SessionStore};
use transcript::{Item, ToolCall, ToolResult};

fn pod(home: &Path, project: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pod"))
        .args(args)
        .env("PODS_HOME", home)
        .env("OPENAI_API_KEY", "bench")
        .current_dir(project)
        .output()
        .expect("pod runs");
    assert!(
        out.status.success(),
        "pod {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Appends `turns` turns of `bytes_per_turn` (user text, a tool call, its output,
/// an answer) to the Pod's active segment; the Pod must be stopped.
fn grow(roots: &Roots, name: &str, turns: u64, bytes_per_turn: usize) {
    let rec = pod::record::RecordStore::new(roots.pods.clone())
        .load(&PodName::new(name).unwrap())
        .unwrap()
        .unwrap();
    let (_, seg) = rec.active_segment().unwrap();
    let sessions = SessionStore::new(roots.sessions.clone());
    let base = sessions.replay(seg).unwrap().turn_count;
    let mut w = sessions.open_writer(seg).unwrap();
    let chunk = "lorem ipsum dolor sit amet ".repeat(bytes_per_turn / 27 / 2);
    for t in 1..=turns {
        let id = format!("c{t}");
        for e in [
            EntryKind::UserInput {
                text: format!("turn {t}: {}", &chunk[..chunk.len() / 8]),
            },
            EntryKind::AssistantItem {
                item: Item::ToolCall(ToolCall {
                    call_id: id.clone(),
                    name: "read_file".into(),
                    arguments: "{\"path\":\"a.txt\"}".into(),
                }),
            },
            EntryKind::ToolResult {
                result: ToolResult {
                    call_id: id,
                    name: "read_file".into(),
                    output: chunk.clone(),
                    is_error: false,
                },
            },
            EntryKind::AssistantItem {
                item: Item::AssistantMessage {
                    text: chunk[..chunk.len() / 2].to_owned(),
                },
            },
            EntryKind::TurnEnd { turn: base + t },
            EntryKind::RunCompleted,
        ] {
            w.append(&e).unwrap();
        }
    }
    w.sync().unwrap();
}

fn segment_bytes(roots: &Roots, name: &str) -> u64 {
    let rec = pod::record::RecordStore::new(roots.pods.clone())
        .load(&PodName::new(name).unwrap())
        .unwrap()
        .unwrap();
    let seg = rec.active_segment().unwrap().1;
    let p = SessionStore::new(roots.sessions.clone())
        .segment_path(seg)
        .unwrap();
    std::fs::metadata(p).unwrap().len()
}

fn timed_resume(home: &Path, project: &Path, name: &str) -> Duration {
    let t = Instant::now();
    pod(home, project, &["resume", name, "--detach"]);
    let took = t.elapsed();
    pod(home, project, &["stop", name]);
    took
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let script = mock_llm::Script::from_yaml_str(
        "responses: [{times: 100000, output: [{text: 'SUMMARY: bench session; continue.'}]}]",
    )
    .unwrap();
    let server = rt.block_on(mock_llm::MockServer::start(script)).unwrap();
    let url = format!("{}/v1", server.base_url());
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("a.txt"), "alpha\n").unwrap();
    let roots = Roots::under(home.path());
    let h = home.path();

    // 1. Compaction of a 200-turn session (~8 KB per turn).
    pod(
        h,
        &project,
        &[
            "run",
            "hi",
            "--name",
            "c200",
            "--model",
            "m",
            "--base-url",
            &url,
            "--print",
        ],
    );
    grow(&roots, "c200", 200, 8 * 1024);
    let mb = segment_bytes(&roots, "c200") as f64 / 1e6;
    pod(h, &project, &["resume", "c200", "--detach"]);
    let mut local = Vec::new();
    let mut wall = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = pod(h, &project, &["compact", "c200", "--json"]);
        wall.push(t.elapsed());
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        local.push(v["local_ms"].as_u64().unwrap());
        // Grow the new segment back to 200 turns for the next sample.
        pod(h, &project, &["stop", "c200"]);
        grow(&roots, "c200", 200, 8 * 1024);
        pod(h, &project, &["resume", "c200", "--detach"]);
    }
    pod(h, &project, &["stop", "c200"]);
    local.sort_unstable();
    wall.sort_unstable();
    println!(
        "compaction of a 200-turn session ({mb:.1} MB segment): local (excluding the model) p50 {} ms, max {} ms; `pod compact` wall p50 {:?}",
        local[local.len() / 2],
        local[local.len() - 1],
        wall[wall.len() / 2]
    );

    // 2. Resume with 100 MB of log: bulk in an older segment, small active one.
    pod(
        h,
        &project,
        &[
            "run",
            "hi",
            "--name",
            "big",
            "--model",
            "m",
            "--base-url",
            &url,
            "--print",
        ],
    );
    grow(&roots, "big", 1900, 64 * 1024);
    let old_mb = segment_bytes(&roots, "big") as f64 / 1e6;
    pod(h, &project, &["resume", "big", "--detach"]);
    pod(h, &project, &["compact", "big"]);
    pod(h, &project, &["stop", "big"]);
    let active_kb = segment_bytes(&roots, "big") as f64 / 1e3;
    let mut samples: Vec<Duration> = (0..5).map(|_| timed_resume(h, &project, "big")).collect();
    samples.sort_unstable();
    println!(
        "pod resume to ready, {old_mb:.0} MB in an older segment, active segment {active_kb:.0} KB: p50 {:?}, max {:?} (target < 500 ms)",
        samples[2], samples[4]
    );

    // For comparison: all of it in the active segment (no compaction).
    pod(
        h,
        &project,
        &[
            "run",
            "hi",
            "--name",
            "flat",
            "--model",
            "m",
            "--base-url",
            &url,
            "--print",
        ],
    );
    grow(&roots, "flat", 1900, 64 * 1024);
    let flat_mb = segment_bytes(&roots, "flat") as f64 / 1e6;
    let mut samples: Vec<Duration> = (0..3).map(|_| timed_resume(h, &project, "flat")).collect();
    samples.sort_unstable();
    println!(
        "pod resume to ready, {flat_mb:.0} MB in the active segment: p50 {:?}, max {:?}",
        samples[1], samples[2]
    );
    rt.block_on(server.shutdown());
}
