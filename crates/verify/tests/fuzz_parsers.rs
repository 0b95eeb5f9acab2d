//! The fixed-seed fuzz corpus in CI: every parser gets a bounded number of inputs
//! (arbitrary bytes and mutated valid inputs) from a fixed seed, so a failure here
//! reproduces with the same seed; the long run is `cargo run --release -p verify
//! --bin fuzz` (README, "Verification").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use verify::fuzz::{Target, run};

/// Inputs per target under `cargo test` (debug build): a few seconds in all.
const CI_CASES: u32 = 1_500;
const CI_SEED: u64 = 0x5eed;

fn target(name: &str) -> Box<dyn Target> {
    verify::targets::all()
        .unwrap()
        .into_iter()
        .find(|t| t.name() == name)
        .unwrap()
}

fn fuzz(name: &str) {
    let t = target(name);
    let corpus = t.corpus();
    assert!(!corpus.is_empty(), "{name}: empty corpus");
    for (i, input) in corpus.iter().enumerate() {
        assert!(
            t.accepts(input),
            "{name}: corpus entry {i} is not valid input"
        );
        t.check(input, 0)
            .unwrap_or_else(|e| panic!("{name}: corpus entry {i}: {e}"));
    }
    let r = run(t.as_ref(), CI_CASES, CI_SEED);
    assert_eq!(r.failure, None, "{name} failed");
    assert_eq!(r.inputs, u64::from(CI_CASES));
}

#[test]
fn sse_openai() {
    fuzz("sse-openai");
}

#[test]
fn sse_anthropic() {
    fuzz("sse-anthropic");
}

#[test]
fn sse_responses() {
    fuzz("sse-responses");
}

#[test]
fn sse_gemini() {
    fuzz("sse-gemini");
}

#[test]
fn session_log() {
    fuzz("session-log");
}

#[test]
fn pod_record() {
    fuzz("pod-record");
}

#[test]
fn registry_table() {
    fuzz("registry-table");
}

#[test]
fn protocol_frames() {
    fuzz("protocol-frames");
}

#[test]
fn config_file() {
    fuzz("config-file");
}

#[test]
fn scope_paths() {
    fuzz("scope-paths");
}
