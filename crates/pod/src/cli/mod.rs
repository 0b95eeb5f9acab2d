//! The `pod` command line (ARCHITECTURE §12): argument parsing and dispatch. Each
//! command lives in a small module; errors go to stderr with exit code 1.

mod agent;
pub(crate) mod doctor;
mod doctor_online;
mod doctor_registry;
pub mod exit;
mod housekeeping;
mod inspect;

pub use inspect::describe as describe_entry;
pub use inspect::{rows as pod_rows, tree_lines};
pub use interact::one_line;
mod interact;
mod mcp;
mod start;
mod trust;
mod work;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use interact::Follow;
use pod_ids::{PodName, RootOverrides, Roots};

/// What the root `--help` ends with: the exit codes scripts rely on.
const ROOT_AFTER_HELP: &str = "\
Without a command, `pod` opens the dashboard (same as `pod tui`).

Exit codes:
  0    success (also when the reader closed stdout, e.g. `pod logs X | head -1`)
  1    the run failed (model or tool error), or another failure
  2    usage: bad flags, names or paths
  3    configuration or authentication (missing API key, 401/403, unknown model)
  4    scope conflict: the directory or name is held by a live Pod
  130  interrupted (Ctrl-C)

Providers by name: openai, anthropic, responses, gemini, openrouter, deepseek, groq,
mistral, xai, together, fireworks, moonshot, ollama, llamacpp, vllm, lmstudio.";

/// `pod`: run, watch, talk to, stop and restore LLM coding agents.
#[derive(Debug, Parser)]
#[command(name = "pod", version, about, after_help = ROOT_AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    dirs: DirFlags,
    /// Without a command, `pod` opens the dashboard (same as `pod tui`).
    #[command(subcommand)]
    command: Option<Cmd>,
}

/// Root overrides (ARCHITECTURE §3).
#[derive(Debug, Args)]
#[command(next_help_heading = "Storage roots")]
struct DirFlags {
    /// Data root (default: $PODS_HOME/data, $PODS_DATA_DIR, $XDG_DATA_HOME/pods).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Session logs root.
    #[arg(long, global = true, value_name = "DIR")]
    sessions_dir: Option<PathBuf>,
    /// Pod records root.
    #[arg(long, global = true, value_name = "DIR")]
    pods_dir: Option<PathBuf>,
    /// Runtime root (sockets, locks).
    #[arg(long, global = true, value_name = "DIR")]
    runtime_dir: Option<PathBuf>,
    /// Config root.
    #[arg(long, global = true, value_name = "DIR")]
    config_dir: Option<PathBuf>,
}

impl DirFlags {
    /// The flags as given, for a `pod` process this one starts (only those given:
    /// an explicit runtime root would move the registry, ARCHITECTURE §3).
    fn as_args(&self) -> Vec<std::ffi::OsString> {
        let mut out = Vec::new();
        for (flag, v) in [
            ("--data-dir", &self.data_dir),
            ("--sessions-dir", &self.sessions_dir),
            ("--pods-dir", &self.pods_dir),
            ("--runtime-dir", &self.runtime_dir),
            ("--config-dir", &self.config_dir),
        ] {
            if let Some(p) = v {
                out.push(flag.into());
                out.push(p.clone().into_os_string());
            }
        }
        out
    }
}

/// How a client follows a run.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct OutputMode {
    /// Return once the Pod is ready (and the task, if any, was accepted); the Pod keeps running.
    #[arg(long, conflicts_with_all = ["print", "json"])]
    detach: bool,
    /// Wait for the run to end, print the final answer, then stop the Pod (see --keep).
    #[arg(long, conflicts_with = "json")]
    print: bool,
    /// Stream JSON lines (`started`, events, `result`) until the run ends, then stop the Pod.
    #[arg(long)]
    json: bool,
    /// With --print/--json: keep the Pod running (idle) after the run instead of stopping it.
    #[arg(long)]
    keep: bool,
    /// Approve every call an `ask` permission rule or hook holds, without asking
    /// (otherwise --print/--json runs deny them, having nobody to ask).
    #[arg(long)]
    approve_all: bool,
}

impl OutputMode {
    /// What the Pod does with a call that needs an approval during this run.
    pub fn ask_mode(&self) -> crate::policy::AskMode {
        use crate::policy::AskMode;
        if self.approve_all {
            AskMode::ApproveAll
        } else if self.print || self.json {
            AskMode::Deny
        } else {
            AskMode::Prompt
        }
    }
}

/// Files and images sent with a message.
#[derive(Debug, Args, Clone, Default)]
pub struct AttachArgs {
    /// Attach a text file: the model sees its path and numbered lines (repeatable).
    /// The Pod reads it inside its own scope.
    #[arg(long = "attach", value_name = "PATH")]
    files: Vec<std::path::PathBuf>,
    /// Attach an image (PNG, JPEG, GIF or WebP, at most 5 MiB; repeatable).
    #[arg(long = "image", value_name = "PATH")]
    images: Vec<std::path::PathBuf>,
}

impl AttachArgs {
    /// As the protocol sends them, with relative paths made absolute here: the Pod
    /// may work in another directory than this shell.
    pub fn to_protocol(&self) -> anyhow::Result<Vec<protocol::Attachment>> {
        let abs = |p: &std::path::PathBuf| -> anyhow::Result<String> {
            Ok(std::path::absolute(p)
                .map_err(|e| {
                    exit::fail(exit::Exit::Usage, format!("bad path {}: {e}", p.display()))
                })?
                .display()
                .to_string())
        };
        let mut out = Vec::new();
        for p in &self.files {
            out.push(protocol::Attachment::File { path: abs(p)? });
        }
        for p in &self.images {
            out.push(protocol::Attachment::Image { path: abs(p)? });
        }
        Ok(out)
    }
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start a new Pod.
    Run(Box<start::RunArgs>),
    /// List Pods (a tree: children under their parent).
    #[command(
        after_help = "Examples:\n  pod ls\n  pod ls --json | jq '.[] | select(.status == \"idle\")'"
    )]
    Ls {
        /// JSON array output (schema: docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Show one Pod: manifest, provider, scope, children, last error, usage.
    #[command(after_help = "Examples:\n  pod show fix-tests\n  pod show fix-tests --json")]
    Show {
        /// Pod name.
        name: String,
        /// JSON output (schema: docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Open the full-screen dashboard of every Pod.
    Tui,
    /// Open the dashboard focused on a Pod (line mode with --plain or when not on a terminal).
    #[command(after_help = "Examples:\n  pod attach fix-tests\n  pod attach fix-tests --plain")]
    Attach {
        /// Pod name.
        name: String,
        /// Line-mode client instead of the dashboard.
        #[arg(long)]
        plain: bool,
    },
    /// Send a message to a running Pod.
    #[command(
        after_help = "Examples:\n  pod send fix-tests \"now run clippy\"\n  pod send fix-tests \"summarise\" --wait\n  pod send fix-tests \"stop that\" --interrupt"
    )]
    Send {
        /// Pod name.
        name: String,
        /// The message.
        message: String,
        /// Return when the run this message started has ended, printing its answer.
        #[arg(long)]
        wait: bool,
        /// Like --wait, but stream JSON lines (events, then `result`).
        #[arg(long)]
        json: bool,
        /// Cancel the current run instead of queueing behind it.
        #[arg(long)]
        interrupt: bool,
        #[command(flatten)]
        attach: AttachArgs,
    },
    /// Stop running Pods cleanly (a stopped Pod is not an error).
    #[command(after_help = "Examples:\n  pod stop fix-tests")]
    Stop {
        /// Pod names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Restore a Pod from its record and session log.
    #[command(
        after_help = "Examples:\n  pod resume fix-tests\n  pod resume fix-tests \"continue\" --print"
    )]
    Resume {
        /// Pod name.
        name: String,
        /// A message to send once restored.
        message: Option<String>,
        #[command(flatten)]
        mode: OutputMode,
    },
    /// Compact a running Pod's conversation now: a summary in a new segment.
    #[command(after_help = "Examples:\n  pod compact fix-tests")]
    Compact {
        /// Pod name.
        name: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Make a new Pod from another's history (up to SEQ): read-only unless --write.
    #[command(
        after_help = "Examples:\n  pod fork fix-tests --as try-other-fix\n  pod fork fix-tests --as alt --at 42 --write ../scratch\n\nThe source's log is only read; the fork gets a new session whose first segment records `forked_from`."
    )]
    Fork {
        /// The Pod to fork.
        name: String,
        /// The new Pod's name.
        #[arg(long = "as", value_name = "NEW")]
        new: String,
        /// Cut after the last turn ending at or before this entry (`pod logs NAME --json` shows seqs).
        #[arg(long, value_name = "SEQ")]
        at: Option<u64>,
        /// Writable directory for the fork (repeatable; default: none, read-only).
        #[arg(long)]
        write: Vec<PathBuf>,
    },
    /// Continue a stopped Pod from before one of its user messages, in a new segment.
    #[command(
        after_help = "Examples:\n  pod rewind fix-tests --to 57\n\nThe old segment stays as it is; file changes are not undone."
    )]
    Rewind {
        /// Pod name.
        name: String,
        /// The `seq` of the user message to go back before.
        #[arg(long, value_name = "SEQ")]
        to: u64,
    },
    /// Show a Pod's session log.
    #[command(
        after_help = "Examples:\n  pod logs fix-tests\n  pod logs fix-tests --follow\n  pod logs fix-tests --json | head -1"
    )]
    Logs {
        /// Pod name.
        name: String,
        /// Keep printing while the Pod lives; assistant text shows as it streams.
        #[arg(long)]
        follow: bool,
        /// Raw entries as JSON lines.
        #[arg(long)]
        json: bool,
        /// Do not shorten long entries, and show the journal of queued input and
        /// notices (`pod.input`, `pod.notice`).
        #[arg(long)]
        full: bool,
    },
    /// Remove stopped Pods: their records and session logs.
    #[command(after_help = "Examples:\n  pod rm old-pod\n  pod rm a b c --yes")]
    Rm {
        /// Pod names.
        #[arg(required = true)]
        names: Vec<String>,
        /// Do not ask for confirmation (needed when stdin is not a terminal).
        #[arg(long, short)]
        yes: bool,
    },
    /// Show the effective configuration and the file each value came from.
    #[command(after_help = "Examples:\n  pod config\n  pod config --json")]
    Config {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// MCP servers: `pod mcp list` (configured here, started briefly) or `pod mcp list NAME` (a live Pod's).
    Mcp {
        #[command(subcommand)]
        command: McpCmd,
    },
    /// Trust a project's .pods/config.toml as it is now; list or revoke trust.
    #[command(
        after_help = "Examples:\n  pod trust                 trust ./.pods/config.toml as it is now\n  pod trust ~/src/app\n  pod trust --list\n  pod trust --revoke ~/src/app\n\nA project's .pods/config.toml applies only once trusted, and only the content that\nwas trusted: after any change it is untrusted again. Even trusted, it cannot change\na provider's base_url, api_key_env, kind or headers, set an api_key, allow an\nunconfined shell, or name write/read paths outside the project."
    )]
    Trust {
        /// The project directory (default: the current directory).
        #[arg(conflicts_with_all = ["list", "revoke"])]
        path: Option<PathBuf>,
        /// List trusted projects and whether their file is still the trusted one.
        #[arg(long)]
        list: bool,
        /// Forget the trust for this project directory.
        #[arg(long, value_name = "PATH", conflicts_with = "list")]
        revoke: Option<PathBuf>,
        /// JSON output (with --list).
        #[arg(long, requires = "list")]
        json: bool,
    },
    /// Show live allocations.
    Registry {
        /// JSON array output.
        #[arg(long)]
        json: bool,
    },
    /// Check directories, records, logs, live processes and providers.
    #[command(after_help = "Examples:\n  pod doctor\n  pod doctor --online --json")]
    Doctor {
        /// Repair what can be repaired safely (stale sockets and launch files).
        #[arg(long)]
        fix: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Also send a cheap request to each configured provider whose key is set.
        #[arg(long)]
        online: bool,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  pod completions bash > ~/.local/share/bash-completion/completions/pod\n  pod completions zsh > ~/.zfunc/_pod"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Work items: tickets in the repository, worked on by Pods (docs/work-items.md).
    Work(work::WorkArgs),
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

#[derive(Debug, Subcommand)]
enum McpCmd {
    /// Servers with their state and tools.
    #[command(
        after_help = "Without NAME the servers configured for this directory are started (read-only), listed and stopped.\n\nExamples:\n  pod mcp list\n  pod mcp list lead --json"
    )]
    List {
        /// A live Pod to ask (its running servers, pids, restarts, offered tools).
        name: Option<String>,
        /// JSON output (schema: docs/json.md).
        #[arg(long)]
        json: bool,
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
        // The reader went away (`pod logs X | head -1`): that is how pipes end.
        Err(e) if exit::is_closed_stdout(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::code_of(&e).into()
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
    let command = match cli.command {
        Some(Cmd::Work(args)) => return work::work(args, &roots, &cli.dirs.as_args()),
        other => other,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let command = command.unwrap_or(Cmd::Tui);
    let result = rt.block_on(async move {
        match command {
            Cmd::Tui => dashboard(roots, None).await,
            Cmd::Attach { name, plain } if !plain && std::io::stdout().is_terminal() => {
                dashboard(roots, Some(pod_name(&name)?)).await
            }
            Cmd::Run(args) => start::run(&roots, *args).await,
            Cmd::Resume {
                name,
                message,
                mode,
            } => start::resume(&roots, &pod_name(&name)?, message, mode).await,
            Cmd::Ls { json } => inspect::ls(&roots, json).await,
            Cmd::Fork {
                name,
                new,
                at,
                write,
            } => agent::fork(&roots, &pod_name(&name)?, &pod_name(&new)?, at, &write).await,
            Cmd::Rewind { name, to } => agent::rewind(&roots, &pod_name(&name)?, to).await,
            Cmd::Compact { name, json } => agent::compact(&roots, &pod_name(&name)?, json).await,
            Cmd::Show { name, json } => inspect::show(&roots, &pod_name(&name)?, json).await,
            Cmd::Attach { name, .. } => interact::attach(&roots, &pod_name(&name)?).await,
            Cmd::Send {
                name,
                message,
                wait,
                json,
                interrupt,
                attach,
            } => {
                let how = match (json, wait) {
                    (true, _) => Some(Follow::Json),
                    (false, true) => Some(Follow::Print),
                    (false, false) => None,
                };
                let attachments = attach.to_protocol()?;
                interact::send(
                    &roots,
                    &pod_name(&name)?,
                    message,
                    how,
                    interrupt,
                    &attachments,
                )
                .await
            }
            Cmd::Stop { names } => {
                for n in names {
                    interact::stop(&roots, &pod_name(&n)?).await?;
                }
                Ok(ExitCode::SUCCESS)
            }
            Cmd::Logs {
                name,
                follow,
                json,
                full,
            } => inspect::logs(&roots, &pod_name(&name)?, follow, json, full).await,
            Cmd::Rm { names, yes } => housekeeping::rm(&roots, &names, yes),
            Cmd::Config { json } => housekeeping::config(&roots, json),
            Cmd::Trust {
                path,
                list,
                revoke,
                json,
            } => match (list, revoke) {
                (true, _) => trust::list(&roots, json),
                (false, Some(p)) => trust::revoke(&roots, &p),
                (false, None) => trust::trust(&roots, path.as_deref()),
            },
            Cmd::Registry { json } => inspect::registry(&roots, json).await,
            Cmd::Mcp {
                command: McpCmd::List { name, json },
            } => {
                let name = name.as_deref().map(pod_name).transpose()?;
                mcp::list(&roots, name.as_ref(), json).await
            }
            Cmd::Doctor { fix, json, online } => doctor::doctor(&roots, fix, json, online).await,
            Cmd::Completions { shell } => housekeeping::completions(shell),
            Cmd::Demo | Cmd::Work(_) | Cmd::Serve { .. } => Ok(ExitCode::SUCCESS),
        }
    });
    // A line-mode client may leave a read of stdin pending on a blocking thread;
    // waiting for it would keep the process alive after the command is done.
    rt.shutdown_background();
    result
}

/// The full-screen dashboard (the `tui` crate is a protocol client; this only wires it).
async fn dashboard(roots: Roots, focus: Option<PodName>) -> anyhow::Result<ExitCode> {
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "the dashboard needs a terminal; use `pod ls`, `pod logs NAME` or `pod attach NAME --plain`"
        );
    }
    // The dashboard shows prices and notifies as configured; a broken config is
    // said once and the dashboard still opens (it is how a user looks around).
    // Only a trusted project config counts (`pod trust`); an untrusted one is said
    // once, and `pod run` from the dashboard's form refuses it naming `pod trust`.
    let project = std::env::current_dir()
        .ok()
        .and_then(|h| scope::canonicalize(h).ok())
        .and_then(|h| {
            crate::trust::TrustStore::new(&roots.config)
                .check(h.as_path())
                .ok()
        });
    if let Some(n) = project.as_ref().and_then(|t| t.notice()) {
        eprintln!("pod: {n}");
    }
    let config = crate::config::Config::load(
        &roots.config,
        project.as_ref().and_then(|t| t.trusted()),
        &crate::config::FlagOverrides::default(),
    );
    let mut opts = tui::TuiOptions::new(roots.clone());
    // The configured backend, so the tree shows live Pods with PostgreSQL too. Opened
    // by the dashboard's discovery (not here: a database that is down must neither
    // hold the screen back nor stay an error once it is up); a failure is a problem
    // line, never a refusal.
    opts.registry = Some(tui::LiveRegistry::new(move || {
        crate::allocation::registry(&roots).map_err(|e| e.to_string())
    }));
    match config {
        Ok(c) => {
            opts.prices = c.prices;
            opts.notify = c.notify;
        }
        Err(e) => eprintln!("pod: {e} (the dashboard opens without prices)"),
    }
    // `pod attach NAME`: that Pod full width; Ctrl-T shows the tree.
    opts.tree_hidden = focus.is_some();
    opts.focus = focus;
    tui::run(opts).await?;
    Ok(ExitCode::SUCCESS)
}
