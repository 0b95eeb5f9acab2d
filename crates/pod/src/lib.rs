//! The Pod runtime and the `pod` CLI (ARCHITECTURE §8, §10, §12).
//!
//! Owns: the Pod process (one per Pod): its controller actor (`idle` / `running` /
//! `paused`) and level-triggered inbox ([`controller`]), the turn loop ([`turn`]),
//! the journal that appends every entry to the session log before broadcasting it
//! ([`journal`]), the Unix socket protocol server ([`server`]) and client
//! ([`client`]), restore by construction ([`restore`]), launching Pod processes
//! ([`launcher`]), child Pods — spawn with delegated scope, supervision, authenticated
//! reports, stop, reconciliation on restore ([`children`]) — permission rules, hooks
//! and approvals around every tool call ([`policy`]), which project configs the user
//! trusts ([`trust`]), what each Pod was granted and the check of it at every restore
//! ([`grant`]), and the CLI commands ([`cli`]).
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
//! - A project's `.pods/config.toml` applies only as the content the user trusted,
//!   and never sets where the API key goes, confinement, or paths outside the project.
//! - A restore runs only from a record that matches its grant (`grant.json`).
//! - A child's scope returns to its parent only once the child's process is gone; a
//!   pending child record is durable before the child process starts.
//! - A restored Pod has reconciled its children (relinked or reclaimed, one notice
//!   each) before its first model request.
//!
//! Talking to a live Pod from Rust (what `pod send --wait` does):
//!
//! ```no_run
//! # async fn demo(roots: pod_ids::Roots) -> Result<(), Box<dyn std::error::Error>> {
//! use pod::client::PodClient;
//! use protocol::{Event, InputMode, Request};
//! let name = pod_ids::PodName::new("lead")?;
//! let sock = pod::layout::PodPaths::new(&roots, &name).socket();
//! let mut c = PodClient::connect(&sock, None).await?;
//! c.request(Request::SendInput { text: "run the tests".into(), mode: InputMode::Queue, attachments: Vec::new() }).await?;
//! while let Ok((_seq, event)) = c.next_event().await {
//!     if let Event::RunCompleted { final_text } = event {
//!         println!("{final_text}");
//!         break;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! The restore boundary is closed at the API: the only public way to obtain a
//! restored Pod is to run one ([`process::run_pod`]), which reconciles its children
//! before the first model request; the pieces it is built from are crate-private:
//!
//! ```compile_fail
//! // error: `open_conversation` is private
//! let _ = pod::restore::open_conversation;
//! ```
//!
//! ```compile_fail
//! // error: `Controller::new` is private
//! let _ = pod::controller::Controller::new;
//! ```
#![deny(missing_docs)]

pub mod allocation;
pub mod children;
pub mod cli;
pub mod client;
pub mod compaction;
pub mod config;
pub mod controller;
pub mod demo;
pub mod demo_team;
pub mod grant;
pub mod images;
pub mod input_log;
pub mod instructions;
pub mod journal;
pub mod launch;
pub mod launcher;
pub mod layout;
pub mod liveness;
pub mod mcp_session;
pub mod notice_log;
pub mod plan;
pub mod policy;
pub mod process;
pub mod prompt;
pub mod record;
pub mod restore;
pub mod server;
pub mod settings;
pub mod toolbox;
pub mod trust;
pub mod turn;
pub mod work;

/// `extension` domain of the Pod lifecycle entries (`started`, `restored`, `stopped`).
pub const LIFECYCLE_DOMAIN: &str = "pod.lifecycle";
