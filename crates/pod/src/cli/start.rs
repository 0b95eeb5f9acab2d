//! `pod run` and `pod resume`: resolve the manifest, launch the Pod process, then
//! follow it in the chosen output mode.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use pod_ids::{PodName, Roots};
use scope::{Access, Scope, ScopeRule};

use super::OutputMode;
use super::interact::{self, Follow};
use crate::config::{Config, FlagOverrides};
use crate::launch::{LaunchConfig, Manifest, StartMode};
use crate::layout::PodPaths;
use crate::liveness;
use crate::toolbox::available_tools;

/// How long a Pod process may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// `pod run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The task (first user message).
    task: Option<String>,
    /// Pod name (default: generated).
    #[arg(long)]
    name: Option<String>,
    /// Provider: a configured provider name or a kind (openai, anthropic, responses, gemini).
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
    /// Writable path (repeatable; default: the working directory).
    #[arg(long)]
    write: Vec<PathBuf>,
    /// Read-only path (repeatable).
    #[arg(long)]
    read: Vec<PathBuf>,
    /// Working directory (default: the current directory).
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Tools offered to the model (comma-separated).
    #[arg(long, value_delimiter = ',')]
    tools: Option<Vec<String>>,
    #[command(flatten)]
    mode: OutputMode,
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
    let config = Config::load(
        &roots.config,
        Some(&cwd),
        &FlagOverrides {
            provider: args.provider.clone(),
            base_url: args.base_url.clone(),
            model: args.model.clone(),
        },
    )?;
    let resolved = config.resolve_model(None)?;
    let mut allow = Vec::new();
    let writes = if args.write.is_empty() {
        &config.write
    } else {
        &args.write
    };
    for p in writes {
        allow.push(ScopeRule::new(absolute(&cwd, p), Access::Write, true)?);
    }
    let reads = if args.read.is_empty() {
        &config.read
    } else {
        &args.read
    };
    for p in reads {
        allow.push(ScopeRule::new(absolute(&cwd, p), Access::Read, true)?);
    }
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
    let s = resolved.settings;
    Ok(Manifest {
        provider: s.kind.name().into(),
        base_url: s.base_url,
        api_key_env: args.api_key_env.clone().or(s.api_key_env),
        model: resolved.model,
        max_output_tokens: resolved.max_output_tokens,
        headers: s.headers,
        idle_timeout_secs: s.idle_timeout_secs,
        max_attempts: s.max_attempts,
        system_prompt_source: "default".into(),
        allow_unconfined_shell: config.allow_unconfined_shell,
        tools,
        scope: Scope {
            allow,
            deny: Vec::new(),
        },
        cwd,
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
        bail!(
            "Pod {0} is already running{1}; attach with `pod attach {0}`, stop it with `pod stop {0}`, or choose another --name",
            name.as_str(),
            pid.map_or(String::new(), |p| format!(" (pid {p})"))
        );
    }
    Ok(())
}

/// `pod run`.
pub async fn run(roots: &Roots, args: RunArgs) -> anyhow::Result<ExitCode> {
    let name = match &args.name {
        Some(n) => super::pod_name(n)?,
        None => generated_name()?,
    };
    refuse_if_live(roots, &name)?;
    let manifest = manifest_from(roots, &args)?;
    let cfg = LaunchConfig {
        name: name.clone(),
        roots: roots.into(),
        mode: StartMode::Fresh,
        manifest: Some(manifest),
        child: None,
    };
    let pid = crate::launcher::launch(roots, &cfg, READY_TIMEOUT)?;
    follow(roots, &name, pid, args.task, args.mode).await
}

/// `pod resume`.
pub async fn resume(
    roots: &Roots,
    name: &PodName,
    message: Option<String>,
    mode: OutputMode,
) -> anyhow::Result<ExitCode> {
    refuse_if_live(roots, name)?;
    // A child whose parent is alive is restored by the parent, under the parent's
    // allocation (its callbacks reach the parent again); otherwise it restores on
    // its own from its record (its stored manifest and scope).
    let parent = crate::record::RecordStore::new(roots.pods.clone())
        .load(name)?
        .and_then(|r| r.parent);
    if let Some(p) = parent
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
        return follow(roots, name, pid, message, mode).await;
    }
    let cfg = LaunchConfig {
        name: name.clone(),
        roots: roots.into(),
        mode: StartMode::Resume,
        manifest: None,
        child: None,
    };
    let pid = crate::launcher::launch(roots, &cfg, READY_TIMEOUT)?;
    follow(roots, name, pid, message, mode).await
}

async fn follow(
    roots: &Roots,
    name: &PodName,
    pid: u32,
    task: Option<String>,
    mode: OutputMode,
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
            interact::send_input(roots, name, t, false).await?;
        }
        println!("{} ready (pid {pid})", name.as_str());
        return Ok(ExitCode::SUCCESS);
    }
    interact::follow(roots, name, task, how).await
}
