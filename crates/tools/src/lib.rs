//! Scoped tools for Pods: the file tools, search, and the shell that a model calls,
//! each confined to the Pod's effective scope (ARCHITECTURE §4).
//!
//! Owns: the [`Tool`] interface and [`ToolSet`] registry, scope enforcement for
//! every file operation (capability handles from `cap-std` opened on the allowed
//! roots, plus a canonical check against the scope), the edit-after-read rule, the
//! `.gitignore`-aware walk, and the Landlock confinement, process-group lifetime,
//! output cap and environment scrubbing of `bash`.
//!
//! Must never own: the scope itself or delegation bookkeeping (that is `scope` and
//! the Pod runtime, which hands the current effective scope in through
//! [`ToolContext::scope`]), the conversation, or persistence of anything but the
//! files the model asks to write.
//!
//! Invariants:
//! - Every file tool checks access at the *canonical* target and then opens it
//!   through a handle on the allowed root, so `..` and symlinks cannot leave the
//!   root even if swapped in after the check.
//! - Writes replace files atomically (temp + fsync + rename) and keep the mode.
//! - No file tool writes below a [`PROJECT_CONFIG_DIR`] (`.pods`) component
//!   unless the write rule itself lies inside it.
//! - `edit_file` only edits the version of a file this Pod last read or wrote.
//! - Nothing a `bash` command starts outlives its call: it runs in its own PID
//!   namespace (sandbox `pidns`), which ends when the command exits, times out
//!   or is cancelled, and when the process that started it dies (a Pod killed
//!   with SIGKILL), whatever session or process group its processes moved to.
//!   Where no PID namespace can be had, its process group is killed and then
//!   every process carrying its private TMPDIR; the runtime warns (`pod doctor`
//!   says so too).
//! - A process meant to keep running is a `background` process: confined like a
//!   call, in its own PID namespace, stopped on request, before a delegation its
//!   scope covers ([`BackgroundJobs::stop_covering`], which also kills `bash`
//!   calls in flight that cover the region), and with the Pod. While the Pod
//!   may not write at all (its registry lease lapsed), [`BackgroundJobs::halt`]
//!   kills every call and process and any that starts, until `resume`.
//! - Write roots are opened without following symlinks and checked against the
//!   (device, inode) recorded when the scope was granted
//!   ([`sandbox::Pins`]); Landlock rules are made from the checked fds.
//! - `bash` runs under Landlock built from the effective scope, or — where the
//!   kernel lacks Landlock — only if the Pod may write its whole working tree or
//!   the user opted out; and under the other layers of [`sandbox::Confinement`]
//!   (inherited fds closed, read-only mounts outside the write scope or seccomp,
//!   capabilities dropped, no_new_privs), which the runtime reuses for every
//!   process a Pod starts.
//! - Every reader takes regular files only, opens them non-blocking and reads at
//!   most its limit + 1 bytes; file tools walk each path once without following
//!   symlinks and work relative to the directory fd that walk returned.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tools::ToolError> {
//! use scope::{Access, Scope, ScopeRule};
//! use tools::{ToolContext, ToolSet};
//! let rule = ScopeRule::new("/work/repo", Access::Write, true).unwrap();
//! let (_scope_tx, scope_rx) = tokio::sync::watch::channel(Scope::allowing(vec![rule]));
//! let ctx = ToolContext::new(scope_rx, "/work/repo");
//! let tools = ToolSet::standard();
//! let specs = tools.specs(); // offered to the model, sorted by name
//! let out = tools.call(&ctx, "read_file", r#"{"path":"Cargo.toml"}"#).await?;
//! println!("{} ({} tools)", out.text, specs.len());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod atomic;
mod background;
mod bash;
mod beneath;
mod capability;
mod confined;
mod edit_file;
mod error;
mod fingerprint;
mod glob;
mod grep;
mod list_dir;
mod output_cap;
mod read_file;
mod registry;
pub mod sandbox;
mod tool;
mod view_image;
mod walk;
mod write_file;

pub use background::{
    Action as BackgroundAction, Background, BackgroundJobs, BackgroundParams, LOG_KEEP,
    MAX_RUNNING, WeakJobs,
};
pub use bash::{
    Bash, BashParams, confinement as process_confinement, is_scrubbed as is_scrubbed_env,
};
pub use confined::{ConfinedRun, run_confined};
pub use edit_file::{EditFile, EditFileParams};
pub use error::ToolError;
pub use fingerprint::{Fingerprint, ReadTracker};
pub use glob::{GLOB_DEFAULT_MAX, GLOB_HARD_MAX, Glob, GlobParams};
pub use grep::{
    GREP_DEFAULT_MAX, GREP_HARD_MAX, GREP_MAX_CONTEXT, GREP_MAX_FILE_BYTES, GREP_MAX_LINE_CHARS,
    GREP_MAX_OUTPUT_BYTES, Grep, GrepParams, OutputMode,
};
pub use list_dir::{LIST_MAX_ENTRIES, ListDir, ListDirParams};
pub use read_file::{
    READ_DEFAULT_LINES, READ_MAX_FILE_BYTES, READ_MAX_LINE_CHARS, READ_MAX_OUTPUT_BYTES, ReadFile,
    ReadFileParams,
};
pub use registry::ToolSet;
pub use sandbox::{SYSTEM_READ_PATHS, SYSTEM_WRITE_FILES, grant_except, landlock_available};
pub use tool::{DEFAULT_SCRUBBED_ENV, ShellSettings, Tool, ToolContext, ToolImage, ToolOutput};
pub use view_image::{IMAGE_MAX_BYTES, ViewImage, ViewImageParams, image_media_type};
pub use walk::SKIPPED_DIRS;

/// The name of a project's configuration directory. The file tools never write
/// below a directory of this name unless the write rule itself lies inside it.
pub const PROJECT_CONFIG_DIR: &str = ".pods";
pub use write_file::{WriteFile, WriteFileParams};
