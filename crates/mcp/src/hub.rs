//! [`Hub`]: every MCP server of one Pod, dispatched by tool name.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tools::ToolContext;
use transcript::ToolSpec;

use crate::config::ServerConfig;
use crate::content::CallOutput;
use crate::error::McpError;
use crate::naming::{PREFIX, server_prefix};
use crate::server::{Server, ServerStatus, State};

/// The servers of one Pod. Cheap to clone.
#[derive(Clone, Default)]
pub struct Hub {
    servers: Arc<BTreeMap<String, Arc<Server>>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.servers.keys()).finish()
    }
}

/// How one server's start went.
#[derive(Debug)]
pub struct Started {
    /// Server name.
    pub server: String,
    /// Its offered tool count, or why it did not start.
    pub outcome: Result<usize, McpError>,
}

impl Hub {
    /// The configured servers (none started yet), each confined by `ctx` when it
    /// runs. Entries are expected to be validated already.
    pub fn new(configs: &BTreeMap<String, ServerConfig>, ctx: &ToolContext) -> Hub {
        Hub {
            servers: Arc::new(
                configs
                    .iter()
                    .map(|(name, c)| {
                        (
                            name.clone(),
                            Arc::new(Server::new(name, c.clone(), ctx.clone())),
                        )
                    })
                    .collect(),
            ),
        }
    }

    /// Whether any server is configured.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Whether `tool` names an MCP tool (and so belongs to this hub).
    pub fn owns(tool: &str) -> bool {
        tool.starts_with(PREFIX)
    }

    /// Starts every enabled server at once, each within its `startup_timeout`.
    pub async fn start_all(&self) -> Vec<Started> {
        let starts = self
            .servers
            .values()
            .filter(|s| s.config().enabled)
            .map(|s| async move {
                Started {
                    server: s.name().to_owned(),
                    outcome: s.ensure_started().await.map(|t| t.len()),
                }
            });
        futures::future::join_all(starts).await
    }

    /// The tools offered now (servers that listed theirs), sorted by name.
    pub fn specs(&self) -> Vec<ToolSpec> {
        let mut specs: Vec<ToolSpec> = self
            .servers
            .values()
            .flat_map(|s| s.status().tools)
            .map(|t| t.spec())
            .collect();
        specs.sort_by(|a, b| a.name.cmp(&b.name));
        specs
    }

    /// Every server's state and tools, by name.
    pub fn statuses(&self) -> Vec<ServerStatus> {
        self.servers.values().map(|s| s.status()).collect()
    }

    fn server_of(&self, tool: &str) -> Result<&Arc<Server>, McpError> {
        self.servers
            .values()
            .find(|s| tool.starts_with(&server_prefix(s.name())))
            .ok_or_else(|| {
                McpError::Call(format!(
                    "no configured MCP server offers `{tool}` (configured: {})",
                    self.servers.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })
    }

    /// Calls the MCP tool `tool` (`mcp__SERVER__TOOL`) with `arguments` as the
    /// model sent them. Returns what the model gets: text, the server's error flag
    /// and the images the result holds.
    pub async fn call(&self, tool: &str, arguments: &str) -> Result<CallOutput, McpError> {
        let server = self.server_of(tool)?;
        let args = parse_arguments(arguments)?;
        let mut offered = server.status().tools;
        if server.status().state != State::Running {
            offered = server.ensure_started().await?;
        }
        let Some(t) = offered.iter().find(|t| t.name == tool) else {
            return Err(McpError::Call(format!(
                "MCP server `{}` does not offer `{tool}` now; it offers: {}",
                server.name(),
                offered
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        server.call(&t.server_name, args).await
    }

    /// Stops every stdio server (they start again, under the then-current scope,
    /// on their next use). Called when the Pod's effective scope changes: Landlock
    /// cannot be changed on a running process, so a server started before a
    /// delegation could still write into the delegated region.
    pub async fn restart_confined(&self, why: &str) {
        let stops = self
            .servers
            .values()
            .filter(|s| s.config().is_stdio())
            .map(|s| s.stop(why));
        futures::future::join_all(stops).await;
    }

    /// Stops every server.
    pub async fn shutdown(&self) {
        let stops = self.servers.values().map(|s| s.stop("the Pod stopped"));
        futures::future::join_all(stops).await;
    }

    /// What differs between the MCP tools a session recorded (`recorded`, the
    /// specs in its log) and what the servers offer now, one line per server that
    /// changed; empty when nothing did.
    pub fn changes_since(&self, recorded: &[ToolSpec]) -> Vec<String> {
        let mut lines = Vec::new();
        for s in self.servers.values() {
            let prefix = server_prefix(s.name());
            let before: BTreeSet<&str> = recorded
                .iter()
                .map(|t| t.name.as_str())
                .filter(|n| n.starts_with(&prefix))
                .collect();
            let status = s.status();
            if status.state != State::Running {
                if !before.is_empty() {
                    lines.push(format!(
                        "MCP server `{}` is not available now ({}); its tools will fail until it starts",
                        s.name(),
                        status.last_error.as_deref().unwrap_or("not started")
                    ));
                }
                continue;
            }
            let now: BTreeSet<&str> = status.tools.iter().map(|t| t.name.as_str()).collect();
            let gone: Vec<&str> = before.difference(&now).copied().collect();
            let new: Vec<&str> = now.difference(&before).copied().collect();
            let mut parts = Vec::new();
            if !gone.is_empty() {
                parts.push(format!("no longer offers {}", gone.join(", ")));
            }
            if !new.is_empty() {
                parts.push(format!(
                    "now also offers {} (not available in this session)",
                    new.join(", ")
                ));
            }
            if !parts.is_empty() {
                lines.push(format!("MCP server `{}` {}", s.name(), parts.join("; ")));
            }
        }
        // Servers the session knew that the configuration no longer has.
        let known: BTreeSet<String> = recorded
            .iter()
            .filter_map(|t| t.name.strip_prefix(PREFIX))
            .filter_map(|rest| rest.split_once("__").map(|(s, _)| s.to_owned()))
            .collect();
        for gone in known.iter().filter(|s| !self.servers.contains_key(*s)) {
            lines.push(format!(
                "MCP server `{gone}` is no longer configured; its tools will fail"
            ));
        }
        lines
    }
}

fn parse_arguments(arguments: &str) -> Result<rmcp::model::JsonObject, McpError> {
    if arguments.trim().is_empty() {
        return Ok(Default::default());
    }
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(McpError::Call("arguments must be a JSON object".into())),
        Err(e) => Err(McpError::Call(format!(
            "arguments are not valid JSON ({e}); send a JSON object"
        ))),
    }
}
