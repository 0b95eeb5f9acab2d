//! The Pod runtime and the `pod` CLI (ARCHITECTURE §8, §10, §12).
//!
//! Owns: the Pod process (one per Pod): its controller actor (`idle` / `running` /
//! `paused`) and level-triggered inbox ([`controller`]), the turn loop ([`turn`]),
//! the journal that appends every entry to the session log before broadcasting it
//! ([`journal`]), the Unix socket protocol server ([`server`]) and client
//! ([`client`]), restore by construction ([`restore`]), launching Pod processes
//! ([`launcher`]) and the CLI commands ([`cli`]).
//!
//! Must never own: storage formats (session-store, the record store), provider wire
//! formats (llm), the protocol's message types (protocol), or scope arithmetic (scope).
//!
//! Invariants:
//! - An entry is in the session log before any client hears of it.
//! - A restored Pod never re-runs a tool call whose result is missing: restore closes
//!   it with a synthetic "interrupted" result, and comes up `paused` when the log
//!   ended mid-run.
//! - One live process per Pod name (the liveness lock); the socket lives only while
//!   that process does and is only served to the same uid.
//! - Configuration reaches a Pod process through a 0600 file, never argv.
#![deny(missing_docs)]

pub mod allocation;
pub mod cli;
pub mod client;
pub mod config;
pub mod controller;
pub mod demo;
pub mod journal;
pub mod launch;
pub mod launcher;
pub mod layout;
pub mod liveness;
pub mod process;
pub mod prompt;
pub mod record;
pub mod restore;
pub mod server;
pub mod toolbox;
pub mod turn;

/// `extension` domain of the Pod lifecycle entries (`started`, `restored`, `stopped`).
pub const LIFECYCLE_DOMAIN: &str = "pod.lifecycle";
