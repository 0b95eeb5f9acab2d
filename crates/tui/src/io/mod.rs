//! Terminal, sockets, discovery and commands: everything the pure core is not.

use std::path::PathBuf;

use pod_ids::{PodName, Roots};

/// How to start the dashboard.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    /// Where pods keeps its files.
    pub roots: Roots,
    /// Pod to select at start (`pod attach NAME`).
    pub focus: Option<PodName>,
    /// The `pod` executable used for start / resume / stop.
    pub pod_exe: PathBuf,
}

impl TuiOptions {
    /// Options with no focus and the current executable as `pod`.
    pub fn new(roots: Roots) -> TuiOptions {
        TuiOptions {
            roots,
            focus: None,
            pod_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("pod")),
        }
    }
}

/// Runs the dashboard until the user quits.
pub async fn run(opts: TuiOptions) -> anyhow::Result<()> {
    let _ = opts;
    Ok(())
}
