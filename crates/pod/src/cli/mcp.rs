//! `pod mcp list [NAME] [--json]`: MCP servers, their state and their tools.
//!
//! With NAME the live Pod answers (`mcp_servers` request): the servers it runs,
//! their pids, restarts and last errors, and the tools its session offers. Without
//! NAME nothing is running to ask, so the servers configured for this directory
//! are started briefly, listed and stopped, confined like a Pod's with no write
//! scope at all (read: this directory), so listing can change nothing.

use std::process::ExitCode;

use anyhow::Context;
use pod_ids::{PodName, Roots};
use scope::{Access, Scope, ScopeRule};
use serde_json::json;

use crate::config::{Config, FlagOverrides};
use crate::outln;

/// `pod mcp list`.
pub async fn list(roots: &Roots, name: Option<&PodName>, json: bool) -> anyhow::Result<ExitCode> {
    let (pod, servers) = match name {
        Some(n) => {
            let mut c = super::interact::connect(roots, n, None).await?;
            let answer = c.request(protocol::Request::McpServers).await?;
            let servers: Vec<mcp::ServerStatus> = serde_json::from_value(answer["servers"].clone())
                .context("the Pod's answer to mcp_servers is not a server list")?;
            (Some(n.as_str().to_owned()), servers)
        }
        None => (None, probe(roots).await?),
    };
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({"pod": pod, "servers": servers}))?
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if servers.is_empty() {
        outln!("no MCP servers configured (add [mcp_servers.NAME] to config.toml)")?;
    }
    for s in &servers {
        let pid = s.pid.map_or(String::new(), |p| format!(" pid {p}"));
        let restarts = match s.restarts {
            0 => String::new(),
            n => format!(" ({n} restarts)"),
        };
        let state = serde_json::to_value(s.state)?;
        outln!(
            "{:<16} {:<6} {}{pid}{restarts}  {} tools",
            s.name,
            s.transport,
            state.as_str().unwrap_or("?"),
            s.tools.len()
        )?;
        if let Some(e) = &s.last_error {
            outln!("  last error: {e}")?;
        }
        for t in &s.tools {
            let first = t.description.lines().next().unwrap_or_default();
            outln!("  {:<40} {}", t.name, super::one_line(first, 70))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts this directory's configured servers, read-only, lists them, stops them.
async fn probe(roots: &Roots) -> anyhow::Result<Vec<mcp::ServerStatus>> {
    let here = std::env::current_dir()?;
    let here = scope::canonicalize(&here)?.as_path().to_path_buf();
    // A project's servers start only when its config is trusted (`pod trust`).
    let project = crate::trust::TrustStore::new(&roots.config).check(&here)?;
    if let Some(n) = project.notice() {
        eprintln!("note: {n}");
    }
    let config = Config::load(&roots.config, project.trusted(), &FlagOverrides::default())?;
    let rule = ScopeRule::new(&here, Access::Read, true)?;
    let private: Vec<ScopeRule> = [&roots.data, &roots.runtime, &roots.config]
        .into_iter()
        .filter_map(|p| ScopeRule::new(p, Access::Read, true).ok())
        .collect();
    let (_tx, rx) = tokio::sync::watch::channel(Scope {
        allow: vec![rule],
        deny: private,
    });
    let mut ctx = tools::ToolContext::new(rx, &here);
    ctx.shell.hidden_paths = vec![
        roots.data.clone(),
        roots.runtime.clone(),
        roots.config.clone(),
    ];
    let hub = mcp::Hub::new(&config.mcp_servers, &ctx);
    hub.start_all().await;
    let statuses = hub.statuses();
    hub.shutdown().await;
    Ok(statuses)
}
