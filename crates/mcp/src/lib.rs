//! The MCP client of a Pod: starts the servers configured in `[mcp_servers.NAME]`,
//! offers their tools to the model as `mcp__NAME__TOOL`, and turns calls and results
//! into tool calls and tool results (ARCHITECTURE §17).
//!
//! Owns: server configuration entries ([`ServerConfig`]), server lifecycle (start on
//! demand within `startup_timeout`, restart after a crash, stop), the confinement
//! of stdio servers (the `tools` crate's sandbox, built from the Pod's effective
//! scope exactly as for `bash`), tool naming and schema clean-up, and the
//! conversion of results to text. The protocol itself is the `rmcp` crate's.
//!
//! Must never own: the Pod's scope (it reads the current one from the
//! [`tools::ToolContext`] the runtime hands in), the session log, or the decision
//! whether a call may run (hooks and permission rules apply to MCP tools in the
//! runtime, like to every other tool).
//!
//! Invariants:
//! - A stdio server runs under the same [`tools::sandbox::Confinement`] as the
//!   Pod's shell (Landlock from the effective scope at its start, the mount layer,
//!   dropped capabilities, inherited fds closed), in its own process group, with
//!   the parent-death signal: it can write only where the Pod can, and it dies with
//!   the Pod even when the Pod is SIGKILLed.
//! - Server failures never reach the Pod as anything but [`McpError`] values: a
//!   crash, a timeout or a protocol error is one tool call's error, and a crashed
//!   server starts again on its next use.
//! - Exposed names are a pure function of the server name and its tool list, so
//!   a restored Pod maps the names in its log to the same tools.
//!
//! ```no_run
//! # async fn demo(ctx: tools::ToolContext) {
//! let mut servers = std::collections::BTreeMap::new();
//! servers.insert("fs".to_owned(), mcp::ServerConfig {
//!     command: Some("mcp-server-filesystem".into()),
//!     args: vec!["/work/repo".into()],
//!     enabled: true,
//!     ..Default::default()
//! });
//! let hub = mcp::Hub::new(&servers, &ctx);
//! hub.start_all().await;
//! let specs = hub.specs(); // mcp__fs__read_text_file, ...
//! let out = hub.call("mcp__fs__list_directory", r#"{"path": "/work/repo"}"#).await;
//! # let _ = (specs, out); }
//! ```
#![deny(missing_docs)]

mod config;
mod content;
mod error;
mod hub;
pub mod naming;
mod process;
mod server;

pub use config::{
    ConfigError, DEFAULT_STARTUP_TIMEOUT_SECS, DEFAULT_TOOL_TIMEOUT_SECS, MAX_SERVER_NAME,
    ServerConfig, check_server_name,
};
pub use content::{CallOutput, MAX_RESULT_BYTES, MAX_RESULT_IMAGES, call_output};
pub use error::McpError;
pub use hub::{Hub, Started};
pub use server::{OfferedTool, Server, ServerStatus, State};
