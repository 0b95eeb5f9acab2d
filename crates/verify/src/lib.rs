//! Verification harnesses for pods (ARCHITECTURE §16).
//!
//! Owns: the fuzz engine ([`fuzz`]), one fuzz target per parser ([`targets`]), the
//! model of the scope protocol ([`model`]) and its replay against the real registry
//! and pod store ([`replay`]).
//!
//! Must never own: anything the runtime uses. No other crate depends on this one;
//! it only drives the public APIs of the crates it checks, so a finding here is a
//! finding about what callers can reach.
//!
//! Invariants: every run is deterministic from its seed; the bounded runs under
//! `cargo test` (tests/) and the long runs (`cargo run --release -p verify --bin
//! fuzz`, `--bin model`) execute the same code.
#![deny(missing_docs)]
// A harness: a panic *is* the report (proptest catches and shrinks it), and the
// fixtures it builds are not input from users.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod fuzz;
pub mod model;
pub mod mutate;
pub mod replay;
pub mod targets;
