//! The library's error type.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong loading a script or starting the server.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// The script text is not valid YAML/JSON or does not follow the script format.
    #[error(
        "mock-llm script {source_name} is invalid: {message} (see crates/mock-llm/README.md for the format)"
    )]
    Parse {
        /// Where the script came from (a path, or "<yaml string>").
        source_name: String,
        /// The parser's message, with line/column where it has one.
        message: String,
    },
    /// The script file could not be read.
    #[error("cannot read mock-llm script {path}: {source}")]
    Read {
        /// The script path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The listening socket could not be bound.
    #[error("mock-llm cannot listen on {addr}: {source} (pick another --addr or port 0)")]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}
