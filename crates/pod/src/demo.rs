//! `pod demo` (written next).

use std::process::ExitCode;

/// Runs the offline demo.
pub fn run_demo() -> anyhow::Result<ExitCode> {
    anyhow::bail!("demo not written yet")
}
