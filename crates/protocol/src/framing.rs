//! Line framing: one JSON object per line.

use serde::{Serialize, de::DeserializeOwned};

/// Longest line either side accepts; longer lines are a protocol error, so a broken
/// peer cannot make the other side buffer without bound.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// A line that could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Not valid JSON for the expected message; the message says where.
    #[error("malformed message: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Over [`MAX_LINE_BYTES`].
    #[error("message of {0} bytes is over the {MAX_LINE_BYTES}-byte limit")]
    TooLong(usize),
}

/// Serialises `msg` as one line, newline included. JSON escapes newlines inside
/// strings, so the only newline is the terminator.
pub fn encode_line<T: Serialize>(msg: &T) -> Result<String, FrameError> {
    let mut s = serde_json::to_string(msg)?;
    s.push('\n');
    Ok(s)
}

/// Parses one line (with or without its newline).
pub fn decode_line<T: DeserializeOwned>(line: &str) -> Result<T, FrameError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(FrameError::TooLong(line.len()));
    }
    Ok(serde_json::from_str(line.trim_end_matches(['\n', '\r']))?)
}
