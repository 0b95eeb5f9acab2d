//! Runs the dashboard on the roots from the environment (`PODS_HOME`, ...), for
//! trying it before the `pod` binary wires `pod tui`:
//! `POD_BIN=target/debug/pod cargo run -p tui --example dashboard [POD]`.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let roots = pod_ids::Roots::from_env(&Default::default())?;
    let mut opts = tui::TuiOptions::new(roots);
    opts.focus = std::env::args().nth(1).map(|s| s.parse()).transpose()?;
    if let Some(p) = std::env::var_os("POD_BIN") {
        opts.pod_exe = p.into();
    }
    tui::run(opts).await
}
