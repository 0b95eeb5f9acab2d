//! The full-screen dashboard of the Pod tree (ARCHITECTURE §12, issue 8).
//!
//! Owns: the terminal UI: the tree of every Pod the pod store and the registry
//! know, the live transcript of the selected Pod, the composer, the status line,
//! and the actions (new, stop, resume, interrupt) a user takes from it.
//!
//! Must never own: Pod state. It is one client of the socket protocol
//! (`protocol`), discovers Pods only through `pod-store` and `pod-registry` APIs,
//! reads past transcripts only through `session-store` and work items only
//! through `work-items` (never writing them), and starts, resumes and stops Pods
//! by running the `pod` executable. It never reads those crates' files itself and
//! never reaches into the runtime.
//!
//! Invariants:
//! - State and rendering are pure: [`App`] + [`render`] + [`handle_key`] (which
//!   returns [`Action`]s); all I/O lives in the `io` module, so every screen is
//!   testable with ratatui's `TestBackend`.
//! - Work per frame depends on the visible rows, not on the transcript length:
//!   rendered lines are cached per entry (keyed by width and view toggles) and only
//!   the entries in the viewport are rendered.
//! - Nothing polls: the loop sleeps on terminal input, socket lines, and a slow
//!   (2 s) discovery tick that redraws only when the tree changed (or, while the
//!   work-items view is open, when its re-read found a change).
//! - Interrupting takes Ctrl-C or Esc twice and never stops a Pod; stopping asks
//!   for confirmation. A composer line starting with `/` is never sent to a model.
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let roots = pod_ids::Roots::from_env(&Default::default())?;
//! tui::run(tui::TuiOptions::new(roots)).await
//! # }
//! ```
#![deny(missing_docs)]

mod app;
mod approval;
mod completion;
mod composer;
mod files;
mod form;
mod io;
mod keys;
mod meters;
mod pod_view;
mod slash;
mod transcript_model;
mod tree;
mod ui;
mod work_view;

pub use app::{Action, App, DisplayState, Focus, Overlay, PodCommand, Popup};
pub use completion::{Item, items, mentioned_files};
pub use composer::{Attachment, Composer};
pub use files::{index as index_files, score as fuzzy_score};
pub use form::{NewPod, NewPodForm};
pub use io::{LiveRegistry, Notify, TuiOptions, load_work, run};
pub use keys::{KEYS, handle_key, handle_mouse, handle_paste};
pub use meters::{Meters, Price};
pub use pod_view::{Link, LinkUpdate, Loaded, PodView, merge_backlog};
pub use slash::{COMMANDS, SlashCommand};
pub use transcript_model::{Entry, EntryKind, NoticeKind, ToolEntry, ToolStatus, Transcript};
pub use tree::{Discovered, PodInfo, Tree, TreeRow, WorkLink, short_scope};
pub use ui::{Scroll, ViewFlags, render};
pub use work_view::{
    Listing, OpenItem, Opened, PodOnItem, Tab, WorkKey, WorkQuery, WorkRow, WorkSnapshot, WorkView,
    pods_on, tabs,
};
