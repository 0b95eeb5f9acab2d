//! The model-checked scope protocol (`verify::model`), bounded for CI, and the
//! replay of a deterministic sample of the paths it explored against the real
//! registry, pod store and session logs (`verify::replay`). The long run is
//! `cargo run --release -p verify --bin model` (README, "Verification").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use stateright::{Checker, Model, Path};
use verify::model::{Action, ScopeProtocol, State};

/// CI bounds: one SIGKILL and three process starts on a path (a few seconds).
fn ci_model() -> ScopeProtocol {
    ScopeProtocol {
        kills: 1,
        starts: 3,
        grandchild: true,
    }
}

/// Paths replayed: those (of six or more steps, without reservation expiry, which
/// the real registry cannot be made to do on cue) whose fixed hash is 0 mod this.
const SAMPLE_EVERY: u64 = 600;

/// Every safety, recovery and notice property holds in every reachable state:
/// notices are recorded in the parent's log before what they report is
/// acknowledged, and a run shows each recorded one once (ARCHITECTURE §16). Then a
/// deterministic sample of the explored paths is replayed on the real registry, pod
/// store and session logs (with the real notice journal), with real processes and
/// SIGKILLs, and must end in the same state with the same invariants.
#[test]
fn the_scope_protocol_holds_and_replays_on_the_real_stores() {
    let picked: Arc<Mutex<Vec<Vec<Action>>>> = Arc::default();
    let sink = Arc::clone(&picked);
    let model = ci_model();
    let started = Instant::now();
    let checker = model
        .clone()
        .checker()
        .threads(2)
        .visitor(move |p: Path<State, Action>| {
            let actions = p.into_actions();
            if actions.len() < 6 || actions.iter().any(|a| matches!(a, Action::Expire(_))) {
                return;
            }
            let mut h = std::hash::DefaultHasher::new();
            actions.hash(&mut h);
            if h.finish().is_multiple_of(SAMPLE_EVERY) {
                sink.lock().unwrap().push(actions);
            }
        })
        .spawn_bfs()
        .join();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "model: {} states ({} unique), depth {}, {secs:.1} s",
        checker.state_count(),
        checker.unique_state_count(),
        checker.max_depth()
    );
    assert!(checker.unique_state_count() > 10_000, "the model shrank");
    for property in [
        "one writer per region",
        "parent never writes a live child's region",
        "registry rows disjoint",
        "notices at most once",
        "every delegation reclaimed or relinked",
        "end notices at least once",
        "reports at least once",
    ] {
        if let Some(path) = checker.discovery(property) {
            panic!("{property} violated by {:?}", path.into_actions());
        }
    }
    for example in ["grandchild runs under child", "lead restored relinks child"] {
        assert!(
            checker.discovery(example).is_some(),
            "never reached: {example}"
        );
    }
    let mut paths = picked.lock().unwrap().clone();
    paths.sort();
    assert!(paths.len() >= 30, "only {} paths sampled", paths.len());
    let started = Instant::now();
    let steps: usize = paths.iter().map(Vec::len).sum();
    for path in &paths {
        verify::replay::replay(&model, path).unwrap_or_else(|e| panic!("{e}"));
    }
    println!(
        "replayed {} paths ({steps} steps) in {:.1} s",
        paths.len(),
        started.elapsed().as_secs_f64()
    );
}
