//! The fuzz engine: proptest drives every target with a fixed seed, half of the inputs
//! arbitrary bytes, the rest valid inputs from the target's corpus taken apart by a few
//! structure-aware mutations (bit flips, truncation, splices with other corpus entries,
//! dictionary tokens, JSON-aware value swaps). A panic or a failed property is shrunk
//! by proptest to a small input and reported with its bytes.
//!
//! Why proptest and not a coverage-guided fuzzer: `cargo fuzz`/AFL need nightly or
//! extra tooling, and `bolero` falls back to random inputs on stable anyway. proptest
//! is already in the workspace, runs under `cargo test`, is deterministic from a seed,
//! and shrinks; the corpus mutations supply the structure a coverage guide would find.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::mutate::{Mutation, apply};

/// One parser under test.
pub trait Target {
    /// Short name (`sse-openai`, `session-log`, ...), used to select targets.
    fn name(&self) -> &'static str;
    /// Valid inputs the mutations start from. Each must pass [`Target::check`] and be
    /// accepted by the parser (the corpus test asserts it).
    fn corpus(&self) -> Vec<Vec<u8>>;
    /// Tokens worth inserting (field names, delimiters).
    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[]
    }
    /// Feeds `input` to the parser and checks what it did: `Err` names a broken
    /// property (a panic is caught by the engine). `knob` is extra randomness (chunk
    /// sizes, cursors) so the parser's other inputs vary too.
    fn check(&self, input: &[u8], knob: u64) -> Result<(), String>;
    /// Whether `input` parses cleanly (used to prove the corpus is valid).
    fn accepts(&self, input: &[u8]) -> bool;
}

/// What one run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The target.
    pub target: &'static str,
    /// Inputs fed to the parser (shrinking steps excluded).
    pub inputs: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// The minimal failing input and why, if any failed.
    pub failure: Option<String>,
}

/// An input plan: raw bytes, or a corpus entry and the mutations applied to it.
#[derive(Debug, Clone)]
enum Plan {
    Raw(Vec<u8>),
    Mutated { base: usize, ops: Vec<Mutation> },
}

fn plan() -> impl Strategy<Value = (Plan, u64)> {
    let raw = prop::collection::vec(any::<u8>(), 0..160).prop_map(Plan::Raw);
    let mutated = (
        any::<usize>(),
        prop::collection::vec(
            (any::<u8>(), any::<u32>(), any::<u32>(), any::<u64>())
                .prop_map(|(kind, a, b, c)| Mutation { kind, a, b, c }),
            1..6,
        ),
    )
        .prop_map(|(base, ops)| Plan::Mutated { base, ops });
    (prop_oneof![1 => raw, 4 => mutated], any::<u64>())
}

fn materialise(plan: &Plan, corpus: &[Vec<u8>], dict: &[&[u8]]) -> Vec<u8> {
    match plan {
        Plan::Raw(bytes) => bytes.clone(),
        Plan::Mutated { base, ops } => {
            let Some(first) = corpus.get(base % corpus.len().max(1)) else {
                return Vec::new();
            };
            let mut bytes = first.clone();
            for op in ops {
                apply(op, &mut bytes, corpus, dict);
            }
            bytes
        }
    }
}

/// Runs `cases` inputs through `target` from `seed`. Deterministic: the same seed
/// gives the same inputs.
pub fn run(target: &dyn Target, cases: u32, seed: u64) -> Report {
    let corpus = target.corpus();
    let dict = target.dictionary();
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 20_000,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let inputs = std::cell::Cell::new(0u64);
    let started = Instant::now();
    let outcome = runner.run(&plan(), |(plan, knob)| {
        let bytes = materialise(&plan, &corpus, dict);
        inputs.set(inputs.get() + 1);
        target.check(&bytes, knob).map_err(TestCaseError::fail)
    });
    let failure = match outcome {
        Ok(()) => None,
        Err(TestError::Fail(why, (plan, knob))) => {
            let bytes = materialise(&plan, &corpus, dict);
            Some(format!(
                "{why}\ninput ({} bytes, knob {knob}): {:?}",
                bytes.len(),
                String::from_utf8_lossy(&bytes)
            ))
        }
        Err(TestError::Abort(why)) => Some(format!("aborted: {why}")),
    };
    Report {
        target: target.name(),
        // Shrinking steps after a failure are not inputs of the run.
        inputs: inputs.get().min(u64::from(cases)),
        elapsed: started.elapsed(),
        failure,
    }
}
