//! The `pod` command line (ARCHITECTURE §12): argument parsing and dispatch. Each
//! command lives in a small module; errors go to stderr with exit code 1.

mod doctor;
mod inspect;

pub use inspect::describe as describe_entry;
pub use inspect::{rows as pod_rows, tree_lines};
mod interact;
mod start;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use pod_ids::{PodName, RootOverrides, Roots};

/// `pod`: run, watch, talk to, stop and restore LLM coding agents.
#[derive(Debug, Parser)]
#[command(name = "pod", version, about)]
pub struct Cli {
    #[command(flatten)]
    dirs: DirFlags,
    /// Without a command, `pod` opens the dashboard (same as `pod tui`).
    #[command(subcommand)]
    command: Option<Cmd>,
}

/// Root overrides (ARCHITECTURE §3).
#[derive(Debug, Args)]
struct DirFlags {
    /// Data root (default: $PODS_HOME/data, $PODS_DATA_DIR, $XDG_DATA_HOME/pods).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Session logs root.
    #[arg(long, global = true)]
    sessions_dir: Option<PathBuf>,
    /// Pod records root.
    #[arg(long, global = true)]
    pods_dir: Option<PathBuf>,
    /// Runtime root (sockets, locks).
    #[arg(long, global = true)]
    runtime_dir: Option<PathBuf>,
    /// Config root.
    #[arg(long, global = true)]
    config_dir: Option<PathBuf>,
}

/// How a client follows a run.
#[derive(Debug, Args, Clone, Copy)]
#[group(multiple = false)]
pub struct OutputMode {
    /// Return once the Pod is ready (and the task, if any, was accepted).
    #[arg(long)]
    detach: bool,
    /// Wait for the run to end and print the final answer.
    #[arg(long)]
    print: bool,
    /// Stream protocol events as JSON lines until the run ends.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start a new Pod.
    Run(start::RunArgs),
    /// List Pods.
    Ls {
        /// JSON array output.
        #[arg(long)]
        json: bool,
    },
    /// Open the full-screen dashboard of every Pod.
    Tui,
    /// Open the dashboard focused on a Pod (line mode with --plain or when not on a terminal).
    Attach {
        /// Pod name.
        name: String,
        /// Line-mode client instead of the dashboard.
        #[arg(long)]
        plain: bool,
    },
    /// Send a message to a running Pod.
    Send {
        /// Pod name.
        name: String,
        /// The message.
        message: String,
        /// Return when the run this message started has ended.
        #[arg(long)]
        wait: bool,
        /// Cancel the current run instead of queueing behind it.
        #[arg(long)]
        interrupt: bool,
    },
    /// Stop a running Pod cleanly.
    Stop {
        /// Pod name.
        name: String,
    },
    /// Restore a Pod from its record and session log.
    Resume {
        /// Pod name.
        name: String,
        /// A message to send once restored.
        message: Option<String>,
        #[command(flatten)]
        mode: OutputMode,
    },
    /// Show a Pod's session log.
    Logs {
        /// Pod name.
        name: String,
        /// Keep printing new entries while the Pod lives.
        #[arg(long)]
        follow: bool,
        /// Raw entries as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Show live allocations.
    Registry {
        /// JSON array output.
        #[arg(long)]
        json: bool,
    },
    /// Check directories, records, logs and live processes.
    Doctor {
        /// Repair what can be repaired safely (stale sockets and launch files).
        #[arg(long)]
        fix: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Offline demo: a scripted model edits a generated project, is killed and restored.
    Demo,
    /// Internal: run a Pod process from a launch file.
    #[command(name = "__serve", hide = true)]
    Serve {
        /// The 0600 launch file.
        #[arg(long)]
        launch: PathBuf,
    },
}

/// Parses the command line and runs it; prints errors to stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Cmd::Serve { launch }) = &cli.command {
        init_tracing();
        return match crate::process::serve_main(launch) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("POD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

fn roots(d: &DirFlags) -> anyhow::Result<Roots> {
    Ok(Roots::from_env(&RootOverrides {
        data: d.data_dir.clone(),
        sessions: d.sessions_dir.clone(),
        pods: d.pods_dir.clone(),
        runtime: d.runtime_dir.clone(),
        config: d.config_dir.clone(),
    })?)
}

/// Validates a Pod name from the command line.
pub fn pod_name(s: &str) -> anyhow::Result<PodName> {
    Ok(PodName::new(s)?)
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(Cmd::Demo) = cli.command {
        return crate::demo::run_demo();
    }
    let roots = roots(&cli.dirs)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let command = cli.command.unwrap_or(Cmd::Tui);
    rt.block_on(async move {
        match command {
            Cmd::Tui => dashboard(roots, None).await,
            Cmd::Attach { name, plain } if !plain && std::io::stdout().is_terminal() => {
                dashboard(roots, Some(pod_name(&name)?)).await
            }
            Cmd::Run(args) => start::run(&roots, args).await,
            Cmd::Resume {
                name,
                message,
                mode,
            } => start::resume(&roots, &pod_name(&name)?, message, mode).await,
            Cmd::Ls { json } => inspect::ls(&roots, json).await,
            Cmd::Attach { name, .. } => interact::attach(&roots, &pod_name(&name)?).await,
            Cmd::Send {
                name,
                message,
                wait,
                interrupt,
            } => interact::send(&roots, &pod_name(&name)?, message, wait, interrupt).await,
            Cmd::Stop { name } => interact::stop(&roots, &pod_name(&name)?).await,
            Cmd::Logs { name, follow, json } => {
                inspect::logs(&roots, &pod_name(&name)?, follow, json).await
            }
            Cmd::Registry { json } => inspect::registry(&roots, json).await,
            Cmd::Doctor { fix, json } => doctor::doctor(&roots, fix, json),
            Cmd::Demo | Cmd::Serve { .. } => Ok(ExitCode::SUCCESS),
        }
    })
}

/// The full-screen dashboard (the `tui` crate is a protocol client; this only wires it).
async fn dashboard(roots: Roots, focus: Option<PodName>) -> anyhow::Result<ExitCode> {
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "the dashboard needs a terminal; use `pod ls`, `pod logs NAME` or `pod attach NAME --plain`"
        );
    }
    let mut opts = tui::TuiOptions::new(roots);
    opts.focus = focus;
    tui::run(opts).await?;
    Ok(ExitCode::SUCCESS)
}
