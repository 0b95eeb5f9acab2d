//! [`McpError`]: what went wrong with a server, worded for the model (it becomes
//! the text of a tool error) and for `pod mcp list`.

/// A server or call failure. Never fatal to the Pod: the runtime turns it into a
/// tool error or a notice.
#[derive(Debug, Clone, thiserror::Error)]
pub enum McpError {
    /// The server could not be started or did not answer `initialize`/`tools/list`.
    #[error("MCP server `{server}` did not start: {message}")]
    Start {
        /// Server name.
        server: String,
        /// Why, with the end of its stderr when there is one.
        message: String,
    },
    /// Start-up took longer than `startup_timeout`.
    #[error(
        "MCP server `{server}` did not start within {secs} s (raise `startup_timeout` in [mcp_servers.{server}])"
    )]
    StartTimeout {
        /// Server name.
        server: String,
        /// The limit.
        secs: f64,
    },
    /// The call took longer than `tool_timeout`.
    #[error(
        "MCP tool `{tool}` of server `{server}` did not answer within {secs} s (`tool_timeout` in [mcp_servers.{server}])"
    )]
    CallTimeout {
        /// Server name.
        server: String,
        /// The server's tool name.
        tool: String,
        /// The limit.
        secs: f64,
    },
    /// The server went away during the call.
    #[error(
        "MCP server `{server}` stopped during the call ({report}); it will be restarted on its next use"
    )]
    Crashed {
        /// Server name.
        server: String,
        /// Exit status and stderr tail.
        report: String,
    },
    /// The server answered with a protocol error.
    #[error("MCP server `{server}` refused the call: {message}")]
    Refused {
        /// Server name.
        server: String,
        /// The server's message.
        message: String,
    },
    /// The call itself is wrong: no such server or tool, arguments not an object.
    #[error("{0}")]
    Call(String),
    /// The server is disabled in the configuration.
    #[error("MCP server `{0}` is disabled in the configuration")]
    Disabled(String),
}
