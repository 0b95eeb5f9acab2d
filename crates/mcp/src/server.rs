//! One configured server: started on demand, restarted on the next use after it
//! crashed, stopped with the Pod.

use std::collections::BTreeMap;
use std::sync::Mutex;

use rmcp::model::{CallToolRequestParams, JsonObject};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde::Serialize;
use tools::ToolContext;
use transcript::ToolSpec;

use crate::config::ServerConfig;
use crate::content::{CallOutput, call_output};
use crate::error::McpError;
use crate::naming::{exposed_names, model_schema};
use crate::process::Process;

/// Where a server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Configured, not started yet.
    NotStarted,
    /// Running and answering.
    Running,
    /// Exited or lost its connection; restarted on its next use.
    Crashed,
    /// Could not start (see `last_error`); tried again on its next use.
    Failed,
    /// Stopped by the Pod (shutdown, or its scope changed); started again on its
    /// next use.
    Stopped,
    /// `enabled = false` in the configuration.
    Disabled,
}

/// One tool a server offers, as the model sees it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct OfferedTool {
    /// `mcp__SERVER__TOOL`.
    pub name: String,
    /// The server's own name for it.
    pub server_name: String,
    /// Its description.
    pub description: String,
    /// Its argument schema, made acceptable to every provider.
    pub parameters: serde_json::Value,
}

impl OfferedTool {
    /// The spec offered to the model.
    pub fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: self.parameters.clone(),
        }
    }
}

/// What `pod mcp list` shows of a server.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ServerStatus {
    /// Configured name.
    pub name: String,
    /// `stdio` or `http`.
    pub transport: String,
    /// Its state.
    pub state: State,
    /// Process id of a running stdio server.
    pub pid: Option<u32>,
    /// Starts after the first.
    pub restarts: u32,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// Offered tools, from the last time it listed them.
    pub tools: Vec<OfferedTool>,
}

struct Connection {
    service: RunningService<RoleClient, ()>,
    process: Option<Process>,
    // The effective scope a stdio server's Landlock was built from.
    scope: Option<scope::Scope>,
}

/// A configured server and, while it runs, its connection.
pub struct Server {
    name: String,
    config: ServerConfig,
    ctx: ToolContext,
    // Held across start-up so concurrent calls start it once.
    conn: tokio::sync::Mutex<Option<Connection>>,
    status: Mutex<ServerStatus>,
    starts: Mutex<u32>,
}

impl Server {
    /// A server that will run confined by `ctx` (the Pod's tool context: scope,
    /// working directory, hidden paths, scrubbed environment).
    pub fn new(name: &str, config: ServerConfig, ctx: ToolContext) -> Server {
        let status = ServerStatus {
            name: name.to_owned(),
            transport: if config.is_stdio() { "stdio" } else { "http" }.into(),
            state: if config.enabled {
                State::NotStarted
            } else {
                State::Disabled
            },
            pid: None,
            restarts: 0,
            last_error: None,
            tools: Vec::new(),
        };
        Server {
            name: name.to_owned(),
            config,
            ctx,
            conn: tokio::sync::Mutex::new(None),
            status: Mutex::new(status),
            starts: Mutex::new(0),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// A snapshot of its state and tools.
    pub fn status(&self) -> ServerStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn update(&self, f: impl FnOnce(&mut ServerStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Starts it unless it runs, and returns its offered tools.
    pub async fn ensure_started(&self) -> Result<Vec<OfferedTool>, McpError> {
        let mut conn = self.conn.lock().await;
        self.ensure_locked(&mut conn).await?;
        Ok(self.status().tools)
    }

    async fn ensure_locked(&self, conn: &mut Option<Connection>) -> Result<(), McpError> {
        if !self.config.enabled {
            return Err(McpError::Disabled(self.name.clone()));
        }
        if let Some(c) = conn.as_mut()
            && c.scope
                .as_ref()
                .is_some_and(|s| *s != self.ctx.current_scope())
        {
            // Landlock cannot be narrowed on a running process: a server started
            // before a delegation must not serve a call after it.
            if let Some(p) = c.process.take() {
                p.stop().await;
            }
            *conn = None;
        }
        if let Some(c) = conn.as_mut() {
            match crash_report(c) {
                None => return Ok(()),
                Some(report) => {
                    tracing::warn!(server = %self.name, %report, "mcp server crashed; restarting");
                    self.update(|s| {
                        s.state = State::Crashed;
                        s.pid = None;
                        s.last_error = Some(report);
                    });
                    *conn = None;
                }
            }
        }
        let secs = self.config.startup_timeout().as_secs_f64();
        let started = tokio::time::timeout(self.config.startup_timeout(), self.connect()).await;
        let result = match started {
            Ok(r) => r,
            Err(_) => Err(McpError::StartTimeout {
                server: self.name.clone(),
                secs,
            }),
        };
        let mut n = self.starts.lock().unwrap_or_else(|p| p.into_inner());
        *n += 1;
        let restarts = n.saturating_sub(1);
        drop(n);
        match result {
            Ok((c, tools)) => {
                let pid = c.process.as_ref().and_then(Process::pid);
                tracing::info!(server = %self.name, ?pid, tools = tools.len(), "mcp server running");
                self.update(|s| {
                    s.state = State::Running;
                    s.pid = pid;
                    s.restarts = restarts;
                    s.tools = tools;
                });
                *conn = Some(c);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(server = %self.name, error = %e, "mcp server did not start");
                self.update(|s| {
                    s.state = State::Failed;
                    s.pid = None;
                    s.restarts = restarts;
                    s.last_error = Some(e.to_string());
                });
                Err(e)
            }
        }
    }

    async fn connect(&self) -> Result<(Connection, Vec<OfferedTool>), McpError> {
        let start_err = |message: String| McpError::Start {
            server: self.name.clone(),
            message,
        };
        let scope = self.config.is_stdio().then(|| self.ctx.current_scope());
        let (service, process) = if let Some(scope) = &scope {
            let (process, stdout, stdin) =
                Process::start(&self.name, &self.config, &self.ctx, scope).await?;
            match ().serve((stdout, stdin)).await {
                Ok(s) => (s, Some(process)),
                Err(e) => {
                    let tail = process.stderr_tail();
                    return Err(start_err(if tail.is_empty() {
                        e.to_string()
                    } else {
                        format!("{e}; its stderr ended with: {tail}")
                    }));
                }
            }
        } else {
            (self.connect_http().await?, None)
        };
        let listed = service
            .peer()
            .list_all_tools()
            .await
            .map_err(|e| start_err(format!("tools/list failed: {e}")))?;
        let offered: Vec<&rmcp::model::Tool> = listed
            .iter()
            .filter(|t| self.config.offers(&t.name))
            .collect();
        let names = exposed_names(&self.name, offered.iter().map(|t| t.name.as_ref()));
        let by_original: BTreeMap<&str, &rmcp::model::Tool> =
            offered.iter().map(|t| (t.name.as_ref(), *t)).collect();
        let tools = names
            .into_iter()
            .filter_map(|(exposed, original)| {
                let t = by_original.get(original.as_str())?;
                Some(OfferedTool {
                    name: exposed,
                    description: t.description.as_deref().unwrap_or_default().to_owned(),
                    parameters: model_schema(&t.input_schema),
                    server_name: original,
                })
            })
            .collect();
        let conn = Connection {
            service,
            process,
            scope,
        };
        Ok((conn, tools))
    }

    async fn connect_http(&self) -> Result<RunningService<RoleClient, ()>, McpError> {
        use rmcp::transport::StreamableHttpClientTransport;
        use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
        let url = self.config.url.clone().unwrap_or_default();
        let mut cfg = StreamableHttpClientTransportConfig::with_uri(url);
        if let Some(var) = &self.config.bearer_token_env_var {
            let token = std::env::var(var).map_err(|_| McpError::Start {
                server: self.name.clone(),
                message: format!("its bearer token variable {var} is not set"),
            })?;
            cfg.auth_header = Some(token);
        }
        let transport = StreamableHttpClientTransport::from_config(cfg);
        ().serve(transport).await.map_err(|e| McpError::Start {
            server: self.name.clone(),
            message: e.to_string(),
        })
    }

    /// Calls the server's tool `tool` (its own name). A crashed or stopped server is
    /// started first; a server that dies during the call gives [`McpError::Crashed`]
    /// and is restarted on the next call.
    pub async fn call(&self, tool: &str, args: JsonObject) -> Result<CallOutput, McpError> {
        let peer = {
            let mut conn = self.conn.lock().await;
            self.ensure_locked(&mut conn).await?;
            match conn.as_ref() {
                Some(c) => c.service.peer().clone(),
                None => {
                    return Err(McpError::Call(format!(
                        "MCP server `{}` is not running",
                        self.name
                    )));
                }
            }
        };
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args);
        let timeout = self.config.tool_timeout();
        match tokio::time::timeout(timeout, peer.call_tool(params)).await {
            Ok(Ok(r)) => Ok(call_output(&r, &self.name)),
            Err(_) => Err(McpError::CallTimeout {
                server: self.name.clone(),
                tool: tool.to_owned(),
                secs: timeout.as_secs_f64(),
            }),
            Ok(Err(e)) => Err(self.call_failed(e).await),
        }
    }

    /// A failed call: a crash (the connection is gone) is recorded so the next use
    /// restarts the server; anything else is the server's answer.
    async fn call_failed(&self, e: rmcp::ServiceError) -> McpError {
        use rmcp::ServiceError as S;
        let lost = matches!(
            e,
            S::TransportClosed | S::TransportSend(_) | S::Cancelled { .. }
        );
        if !lost {
            let message = match e {
                S::McpError(d) => d.message.to_string(),
                other => other.to_string(),
            };
            return McpError::Refused {
                server: self.name.clone(),
                message,
            };
        }
        let mut conn = self.conn.lock().await;
        let mut report = e.to_string();
        if let Some(c) = conn.as_mut() {
            // The exit may trail the closed pipe by a moment; wait briefly for it.
            for _ in 0..50 {
                if let Some(r) = c.process.as_mut().and_then(Process::exit_report) {
                    report = r;
                    break;
                }
                if c.process.is_none() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        *conn = None;
        self.update(|s| {
            s.state = State::Crashed;
            s.pid = None;
            s.last_error = Some(report.clone());
        });
        McpError::Crashed {
            server: self.name.clone(),
            report,
        }
    }

    /// Stops it (closes its stdin, then kills its process group) if it runs; it
    /// starts again on its next use. `why` is recorded when it was running.
    pub async fn stop(&self, why: &str) {
        let mut conn = self.conn.lock().await;
        if let Some(mut c) = conn.take() {
            // Closing the connection first lets a well-behaved server exit on EOF.
            let _ = c
                .service
                .close_with_timeout(std::time::Duration::from_millis(500))
                .await;
            if let Some(p) = c.process.take() {
                p.stop().await;
            }
            self.update(|s| {
                s.state = State::Stopped;
                s.pid = None;
                s.last_error = Some(why.to_owned());
            });
        }
    }
}

/// Why a connection is dead, if it is.
fn crash_report(c: &mut Connection) -> Option<String> {
    if let Some(r) = c.process.as_mut().and_then(Process::exit_report) {
        return Some(r);
    }
    (c.service.is_closed() || c.service.peer().is_transport_closed())
        .then(|| "its connection closed".to_owned())
}
