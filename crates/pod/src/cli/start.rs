//! `pod run` and `pod resume`: resolve the manifest, launch the Pod process, then
//! follow it in the chosen output mode.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use pod_ids::{PodName, Roots};
use scope::{Access, Scope, ScopeRule};

use super::OutputMode;
use super::exit::{Exit, fail};
use super::interact::{self, Follow};
use crate::config::{Config, FlagOverrides};
use crate::launch::{LaunchConfig, Manifest, Owner, StartMode};
use crate::layout::PodPaths;
use crate::liveness;
use crate::record::RecordStore;
use crate::settings::{AgentSettings, Sampling};
use crate::toolbox::available_tools;

/// How long a Pod process may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// Examples and the headless contract, shown by `pod run --help`.
const RUN_AFTER_HELP: &str = "\
Examples:
  pod run \"fix the failing test\" --print             one-shot: answer on stdout, Pod stopped after
  echo \"summarise src/\" | pod run --print            the task from stdin
  git diff | pod run \"review this\" --json           stdin appended to the task as context
  pod run \"refactor\" --write src --name refac --keep  keep the Pod idle afterwards
  pod run --provider openrouter --model anthropic/claude-sonnet-4.5 \"hi\" --print
  pod run --read-only \"explain the build\" --print   no write scope at all

--print/--json runs stop the Pod when the run ends (success, failure or Ctrl-C) and
when this process dies; `pod resume NAME` continues it. Exit codes: 0 success, 1 run
failed, 2 usage, 3 configuration or authentication, 4 the directory is held by a live
Pod, 130 interrupted.";

/// `pod run` arguments.
#[derive(Debug, Args)]
#[command(after_help = RUN_AFTER_HELP)]
pub struct RunArgs {
    /// The task (first user message); `-` reads it from stdin. With --print/--json/--detach
    /// and piped stdin, stdin is the task (or, with a TASK, appended to it as context).
    task: Option<String>,
    /// Pod name (default: generated).
    #[arg(long)]
    name: Option<String>,
    /// Provider: a preset (openai, anthropic, responses, gemini, openrouter, deepseek, groq,
    /// mistral, xai, together, fireworks, moonshot, ollama, llamacpp, vllm, lmstudio) or a
    /// name from [providers.NAME] in config.toml.
    #[arg(long)]
    provider: Option<String>,
    /// Provider base URL (default: the provider's public API).
    #[arg(long)]
    base_url: Option<String>,
    /// Model id.
    #[arg(long)]
    model: Option<String>,
    /// Environment variable holding the API key (default: the provider's usual one).
    #[arg(long)]
    api_key_env: Option<String>,
    /// Writable directory (repeatable; default: the working directory). Must exist.
    #[arg(long, conflicts_with = "read_only")]
    write: Vec<PathBuf>,
    /// No write scope at all: file tools cannot write and the shell runs read-only.
    #[arg(long)]
    read_only: bool,
    /// Allow write scope on `/`, your home directory or system directories.
    #[arg(long)]
    allow_broad_write: bool,
    /// Read-only path (repeatable).
    #[arg(long)]
    read: Vec<PathBuf>,
    /// Working directory (default: the current directory).
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Built-in tools offered to the model (comma-separated): the file, search and
    /// shell tools. The child-Pod tools, update_plan and answer_approval are always
    /// offered; refuse them with --deny (e.g. --deny spawn_pod).
    #[arg(long, value_delimiter = ',')]
    tools: Option<Vec<String>>,
    /// Text appended to the system prompt (after the project's AGENTS.md files).
    #[arg(long, value_name = "TEXT")]
    append_system_prompt: Option<String>,
    /// Reasoning effort: minimal, low, medium or high (OpenAI-style providers).
    #[arg(long, value_name = "LEVEL")]
    reasoning_effort: Option<String>,
    /// Thinking budget in tokens (Anthropic and Gemini thinking).
    #[arg(long, value_name = "TOKENS")]
    thinking_budget: Option<u32>,
    /// Sampling temperature (0 to 2).
    #[arg(long)]
    temperature: Option<f32>,
    /// Output token limit per model call.
    #[arg(long, value_name = "TOKENS")]
    max_output_tokens: Option<u32>,
    /// Give the Pod the work_* tools, with write on this work item (id or slug) of the
    /// repository around its working directory only (docs/work-items.md).
    #[arg(long, value_name = "ITEM")]
    work_item: Option<String>,
    /// What it may do to that item: comment, review, status (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "comment,status",
        requires = "work_item"
    )]
    work_rights: Vec<String>,
    /// (Set by `pod work run`.) This Pod is the lead of the workflow on --work-item:
    /// its driver is the workflow code, with at most N reviews.
    #[arg(long, hide = true, value_name = "N", requires = "work_item")]
    work_lead_rounds: Option<usize>,
    /// Permission rule: run without asking (repeatable), e.g. `bash(cargo test*)`.
    #[arg(long, value_name = "RULE")]
    allow: Vec<String>,
    /// Permission rule: ask before running (repeatable), e.g. `bash(git push*)`.
    #[arg(long, value_name = "RULE")]
    ask: Vec<String>,
    /// Permission rule: never run (repeatable), e.g. `write_file(*.lock)`, `mcp__github__*`.
    #[arg(long, value_name = "RULE")]
    deny: Vec<String>,
    /// Ignore the project's .pods/config.toml (trusted or not).
    #[arg(long)]
    no_project_config: bool,
    #[command(flatten)]
    mode: OutputMode,
    #[command(flatten)]
    attach: super::AttachArgs,
}

fn absolute(base: &std::path::Path, p: &std::path::Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The manifest of a new Pod: configuration files layered under the flags.
fn manifest_from(roots: &Roots, args: &RunArgs) -> anyhow::Result<Manifest> {
    let here = std::env::current_dir().context("cannot read the current directory")?;
    let cwd = absolute(&here, args.cwd.as_deref().unwrap_or(&here));
    let cwd = scope::canonicalize(&cwd)?.as_path().to_path_buf();
    if !cwd.is_dir() {
        bail!("working directory {} does not exist", cwd.display());
    }
    let project = if args.no_project_config {
        None
    } else {
        let line_mode = !(args.mode.print || args.mode.json || args.mode.detach);
        super::trust::project_config_for_run(roots, &cwd, line_mode)?
    };
    let config = Config::load(
        &roots.config,
        project.as_ref(),
        &FlagOverrides {
            provider: args.provider.clone(),
            base_url: args.base_url.clone(),
            model: args.model.clone(),
        },
    )?;
    let mut allow = Vec::new();
    // Paths on the command line are relative to where the command runs, as with
    // any Unix tool; paths in config files are relative to the Pod's working dir.
    let (writes, flag, base) = if args.write.is_empty() {
        (
            &config.write,
            "the configured default write scope (defaults.write)",
            &cwd,
        )
    } else {
        (&args.write, "--write", &here)
    };
    if args.read_only {
        // The Pod still reads its working tree.
        allow.push(ScopeRule::new(&cwd, Access::Read, true)?);
    } else {
        for p in writes {
            let rule = ScopeRule::new(absolute(base, p), Access::Write, true)?;
            check_write_root(rule.path.as_path(), flag, args.allow_broad_write)?;
            allow.push(rule);
        }
    }
    let (reads, base) = if args.read.is_empty() {
        (&config.read, &cwd)
    } else {
        (&args.read, &here)
    };
    for p in reads {
        allow.push(ScopeRule::new(absolute(base, p), Access::Read, true)?);
    }
    // After the scope: a bad flag is reported before a missing model setting.
    let resolved = config.resolve_model(None)?;
    let tools = args
        .tools
        .clone()
        .or(config.tools.clone())
        .unwrap_or_else(|| available_tools().iter().map(|s| s.to_string()).collect());
    let available = available_tools();
    if let Some(bad) = tools.iter().find(|t| !available.contains(&t.as_str())) {
        bail!(
            "unknown tool {bad:?}: available tools are {}",
            available.join(", ")
        );
    }
    let mut sampling = resolved.sampling.clone();
    sampling.overlay(&Sampling {
        reasoning_effort: args.reasoning_effort.clone(),
        thinking_budget: args.thinking_budget,
        temperature: args.temperature,
        max_output_tokens: args.max_output_tokens,
    });
    sampling
        .validate()
        .map_err(|m| fail(Exit::Usage, format!("--{}", m.replace('_', "-"))))?;
    let max_output_tokens = sampling
        .max_output_tokens
        .take()
        .or(resolved.max_output_tokens);
    if let Some(f) = &config.system_prompt_file {
        // Checked now so a typo fails `pod run`, not the Pod's start.
        match crate::instructions::read_small_regular(f) {
            Ok(Some(_)) => {}
            Ok(None) => bail!("system_prompt_file {} does not exist", f.display()),
            Err(e) => bail!("system_prompt_file {}: {e}", f.display()),
        }
    }
    let agent = AgentSettings {
        sampling,
        instructions: config.instructions.clone(),
        append_system_prompt: args.append_system_prompt.clone(),
        system_prompt_file: config.system_prompt_file.clone(),
        context_window: resolved.context_window,
        compact_at_percent: config.compact_at_percent,
    };
    let system_prompt_source = if agent.system_prompt_file.is_some() {
        "file"
    } else {
        "default"
    };
    let work = match &args.work_item {
        Some(item) => Some(
            crate::work::grant_for(&cwd, item, &args.work_rights)
                .map_err(|e| fail(Exit::Usage, format!("--work-item: {e:#}")))?,
        ),
        None => None,
    };
    let workflow = match (args.work_lead_rounds, &work) {
        (Some(rounds), Some(g)) => Some(crate::work::Workflow {
            item: g.item.clone().unwrap_or_default(),
            rounds: rounds.max(1),
        }),
        _ => None,
    };
    let mut rules = config.permissions.clone();
    rules.allow.extend(args.allow.iter().cloned());
    rules.ask.extend(args.ask.iter().cloned());
    rules.deny.extend(args.deny.iter().cloned());
    rules
        .validate()
        .map_err(|m| fail(Exit::Usage, format!("--{m}")))?;
    let s = resolved.settings;
    Ok(Manifest {
        pins: Default::default(),
        provider: resolved.provider,
        dialect: Some(s.kind.name().into()),
        reasoning_echo: s.reasoning_echo,
        base_url: s.base_url,
        api_key_env: args.api_key_env.clone().or(s.api_key_env),
        model: resolved.model,
        max_output_tokens,
        headers: s.headers,
        idle_timeout_secs: s.idle_timeout_secs,
        call_limits: s.call_limits,
        max_attempts: s.max_attempts,
        system_prompt_source: system_prompt_source.into(),
        allow_unconfined_shell: config.allow_unconfined_shell,
        tools,
        scope: Scope {
            allow,
            deny: Vec::new(),
        },
        mcp_servers: config
            .mcp_servers
            .iter()
            .map(|(name, c)| {
                // Absolute now, so a child started elsewhere runs the same server.
                let mut c = c.clone();
                c.cwd = c.cwd.map(|d| absolute(&cwd, &d));
                c.read = c.read.iter().map(|p| absolute(&cwd, p)).collect();
                (name.clone(), c)
            })
            .collect(),
        cwd,
        agent,
        work,
        workflow,
        permissions: crate::policy::Policy::default().narrowed(rules),
        hooks: config.hooks.clone(),
    })
}

/// Refuses a write root that is missing or too broad; `flag` names where it came from.
pub(super) fn check_write_root(path: &Path, flag: &str, allow_broad: bool) -> anyhow::Result<()> {
    if !path.is_dir() {
        return Err(fail(
            Exit::Usage,
            format!(
                "{flag} {} does not exist (or is not a directory): create it first or pass an existing directory",
                path.display()
            ),
        ));
    }
    if allow_broad {
        return Ok(());
    }
    let what = crate::grant::broad_write_reason(path);
    match what {
        Some(what) => Err(fail(
            Exit::Usage,
            format!(
                "refusing {flag} {} ({what}): a Pod could write anywhere below it; run in a project directory, pass --write DIR or --read-only, or --allow-broad-write if you mean it",
                path.display()
            ),
        )),
        None => Ok(()),
    }
}

/// Fails fast when the provider needs a key and its variable is not set.
fn check_key(m: &Manifest) -> anyhow::Result<()> {
    if let Some(var) = &m.api_key_env
        && llm::ApiKey::from_env(var).is_none()
    {
        return Err(fail(
            Exit::Config,
            format!(
                "{var} is not set: provider {} needs an API key (export {var}=..., or name another variable with --api-key-env)",
                m.provider
            ),
        ));
    }
    Ok(())
}

/// The task as given, or read from stdin (`-`, or piped stdin with --print/--json/
/// --detach); with both, stdin is appended as context, as `codex exec` does.
fn task_from(arg: Option<String>, headless: bool) -> anyhow::Result<Option<String>> {
    use std::io::Read;
    let explicit = arg.as_deref() == Some("-");
    // Only a pipe or a file is read: a terminal is the user, and anything else
    // (/dev/null, a socket) is not input someone meant to give.
    let piped = rustix::fs::fstat(std::io::stdin())
        .map(|st| {
            let t = rustix::fs::FileType::from_raw_mode(st.st_mode);
            t == rustix::fs::FileType::Fifo || t == rustix::fs::FileType::RegularFile
        })
        .unwrap_or(false);
    if !(explicit || headless && piped) {
        return Ok(arg);
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| fail(Exit::Usage, format!("cannot read the task from stdin: {e}")))?;
    let text = text.trim_end().to_owned();
    Ok(match arg {
        _ if explicit && text.is_empty() => {
            return Err(fail(
                Exit::Usage,
                "`-` was given but stdin is empty: pipe the task in",
            ));
        }
        Some(t) if !explicit && !text.is_empty() => {
            Some(format!("{t}\n\n<stdin>\n{text}\n</stdin>"))
        }
        Some(t) if !explicit => Some(t),
        _ if text.is_empty() => None,
        _ => Some(text),
    })
}

fn generated_name() -> anyhow::Result<PodName> {
    let id = pod_ids::SessionId::new().to_string();
    let tail: String = id
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .rev()
        .take(6)
        .collect();
    Ok(PodName::new(format!("pod-{tail}"))?)
}

fn refuse_if_live(roots: &Roots, name: &PodName) -> anyhow::Result<()> {
    if let Some(pid) = liveness::probe(&PodPaths::new(roots, name).lock()) {
        return Err(fail(
            Exit::Conflict,
            format!(
                "Pod {0} is already running{1}; attach with `pod attach {0}`, stop it with `pod stop {0}`, or choose another --name",
                name.as_str(),
                pid.map_or(String::new(), |p| format!(" (pid {p})"))
            ),
        ));
    }
    Ok(())
}

/// The process a one-shot run's Pod lives for: this one, for --print/--json without
/// --keep.
fn owner_for(mode: &OutputMode) -> anyhow::Result<Option<Owner>> {
    if one_shot(mode) {
        Ok(Some(Owner::current()?))
    } else {
        Ok(None)
    }
}

fn one_shot(mode: &OutputMode) -> bool {
    (mode.print || mode.json) && !mode.keep
}

/// `pod run`.
pub async fn run(roots: &Roots, args: RunArgs) -> anyhow::Result<ExitCode> {
    let name = match &args.name {
        Some(n) => super::pod_name(n)?,
        None => generated_name()?,
    };
    refuse_if_live(roots, &name)?;
    if RecordStore::new(roots.pods.clone()).load(&name)?.is_some() {
        return Err(fail(
            Exit::Usage,
            format!(
                "a Pod named {0} already exists (stopped); continue it with `pod resume {0}`, remove it with `pod rm {0}`, or choose another --name",
                name.as_str()
            ),
        ));
    }
    let manifest = manifest_from(roots, &args)?;
    check_key(&manifest)?;
    let lead = manifest.workflow.is_some();
    let headless = args.mode.print || args.mode.json || args.mode.detach;
    let task = if lead {
        None
    } else {
        task_from(args.task.clone(), headless)?
    };
    let cfg = LaunchConfig {
        name: name.clone(),
        roots: roots.into(),
        mode: StartMode::Fresh,
        manifest: Some(manifest),
        child: None,
        owner: owner_for(&args.mode)?,
        ask_mode: args.mode.ask_mode(),
        allow_broad_write: args.allow_broad_write,
    };
    let pid = crate::launcher::launch(roots, &cfg, READY_TIMEOUT)?;
    if lead {
        return crate::work::lead::follow(roots, &name, pid, args.mode.detach).await;
    }
    let attachments = args.attach.to_protocol()?;
    follow(roots, &name, pid, task, args.mode, &attachments).await
}

/// `pod run` of a `pod work run` lead, from `pod work run`'s flags (`argv` as
/// `pod run` takes them), so the lead is resolved and checked like any Pod.
pub(crate) async fn run_lead(roots: &Roots, argv: &[String]) -> anyhow::Result<ExitCode> {
    #[derive(clap::Parser)]
    #[command(no_binary_name = true)]
    struct Lead {
        #[command(flatten)]
        run: RunArgs,
    }
    use clap::Parser as _;
    let args = Lead::try_parse_from(argv).map_err(|e| fail(Exit::Usage, e.to_string()))?;
    run(roots, args.run).await
}

/// Starts the Pod process that restores `name` from its record.
fn launch_resumed(
    roots: &Roots,
    name: &PodName,
    owner: Option<Owner>,
    mode: &OutputMode,
) -> anyhow::Result<u32> {
    let cfg = LaunchConfig {
        name: name.clone(),
        roots: roots.into(),
        mode: StartMode::Resume,
        manifest: None,
        child: None,
        owner,
        ask_mode: mode.ask_mode(),
        allow_broad_write: false,
    };
    crate::launcher::launch(roots, &cfg, READY_TIMEOUT)
}

/// `pod resume`.
pub async fn resume(
    roots: &Roots,
    name: &PodName,
    message: Option<String>,
    mode: OutputMode,
) -> anyhow::Result<ExitCode> {
    refuse_if_live(roots, name)?;
    let record = RecordStore::new(roots.pods.clone())
        .load(name)?
        .ok_or_else(|| fail(Exit::Usage, format!("no Pod named {}", name.as_str())))?;
    check_key(&record.manifest)?;
    if record.manifest.workflow.is_some() {
        // A lead is driven by its workflow, not by messages; it runs in the
        // foreground like `pod work run` (or --detach).
        if message.is_some() {
            return Err(fail(
                Exit::Usage,
                format!(
                    "{} is the lead of a `pod work run`: it takes no message; `pod resume {}` continues the workflow",
                    name.as_str(),
                    name.as_str()
                ),
            ));
        }
        // Owned by this command unless detached: the lead runs as long as it follows.
        let owner = if mode.detach {
            None
        } else {
            Some(Owner::current()?)
        };
        let pid = launch_resumed(roots, name, owner, &mode)?;
        return crate::work::lead::follow(roots, name, pid, mode.detach).await;
    }
    let message = task_from(message, mode.print || mode.json || mode.detach)?;
    // A child whose parent is alive is restored by the parent, under the parent's
    // allocation (its callbacks reach the parent again); otherwise it restores on
    // its own from its record (its stored manifest and scope).
    if let Some(p) = record.parent
        && crate::liveness::probe(&crate::layout::PodPaths::new(roots, &p).lock()).is_some()
    {
        let sock = crate::layout::PodPaths::new(roots, &p).socket();
        let mut c = crate::client::PodClient::connect(&sock, None).await?;
        let r = c
            .request(protocol::Request::ResumeChild {
                child: name.as_str().to_string(),
            })
            .await?;
        let pid = r["pid"].as_u64().unwrap_or(0) as u32;
        return follow(roots, name, pid, message, mode, &[]).await;
    }
    let pid = launch_resumed(roots, name, owner_for(&mode)?, &mode)?;
    follow(roots, name, pid, message, mode, &[]).await
}

async fn follow(
    roots: &Roots,
    name: &PodName,
    pid: u32,
    task: Option<String>,
    mode: OutputMode,
    attachments: &[protocol::Attachment],
) -> anyhow::Result<ExitCode> {
    let how = if mode.detach {
        Follow::Detach
    } else if mode.print {
        Follow::Print
    } else if mode.json {
        Follow::Json
    } else {
        Follow::Interactive
    };
    if how == Follow::Detach {
        if let Some(t) = task {
            interact::send_input(roots, name, t, false, attachments).await?;
        }
        println!("{} ready (pid {pid})", name.as_str());
        return Ok(ExitCode::SUCCESS);
    }
    interact::follow(roots, name, task, how, one_shot(&mode), attachments).await
}
