//! Errors a tool call can end in, worded for the model: each names the path (or the
//! tool) and what to do next.

use std::path::PathBuf;

use scope::Access;

/// Why a tool call failed. `Display` is what the model reads.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// No tool of that name is registered.
    #[error("unknown tool {name:?}: available tools are {available}")]
    UnknownTool {
        /// The requested name.
        name: String,
        /// Comma-separated names of registered tools.
        available: String,
    },
    /// The arguments were not valid JSON or did not match the schema.
    #[error("invalid arguments for {tool}: {message}")]
    InvalidArguments {
        /// The tool.
        tool: String,
        /// What was wrong.
        message: String,
    },
    /// The Pod's scope does not grant the access needed at this path.
    #[error("{access} access to {path} refused: {reason}")]
    OutOfScope {
        /// The canonical target (symlinks resolved).
        path: PathBuf,
        /// The access that was needed.
        access: Access,
        /// Why the scope refuses it.
        reason: String,
    },
    /// The capability handle refused to follow the path out of the allowed root
    /// (a `..` or a symlink leading outside, possibly swapped in after the check).
    #[error("{path} escapes the allowed root {root}: {message}")]
    Escape {
        /// The target.
        path: PathBuf,
        /// The allowed root the handle was opened on.
        root: PathBuf,
        /// The OS error.
        message: String,
    },
    /// The path could not be resolved (e.g. a symlink loop).
    #[error("cannot resolve {path}: {message}")]
    BadPath {
        /// The input.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// An I/O operation failed.
    #[error("{op} {path} failed: {message}")]
    Io {
        /// What was attempted ("read", "write", ...).
        op: &'static str,
        /// The target.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// `read_file` refuses binary content.
    #[error(
        "{path} looks like a binary file ({why}); read_file only shows text: use bash (e.g. `xxd | head`) to inspect it"
    )]
    Binary {
        /// The file.
        path: PathBuf,
        /// The evidence (NUL byte, invalid UTF-8).
        why: String,
    },
    /// The file exceeds the size a tool will load.
    #[error("{path} is {size} bytes, over the {limit}-byte limit of {tool}: {hint}")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
        /// The tool.
        tool: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// `edit_file` on a file this Pod has not read since its last change.
    #[error(
        "{path} has not been read by this Pod: call read_file on it first, then retry the edit"
    )]
    NotRead {
        /// The file.
        path: PathBuf,
    },
    /// `edit_file` on a file that changed on disk after this Pod read it.
    #[error(
        "{path} changed on disk since this Pod last read it: call read_file again and redo the edit against the current content"
    )]
    Stale {
        /// The file.
        path: PathBuf,
    },
    /// `edit_file`'s old string is not in the file.
    #[error(
        "old_string was not found in {path}: read the file again and copy the exact text, including whitespace and indentation"
    )]
    NoMatch {
        /// The file.
        path: PathBuf,
    },
    /// `edit_file`'s old string occurs several times and `replace_all` is off.
    #[error(
        "old_string occurs {count} times in {path}: include more surrounding lines so it matches exactly once, or set replace_all to true"
    )]
    AmbiguousMatch {
        /// The file.
        path: PathBuf,
        /// How many times it occurs.
        count: usize,
    },
    /// A search pattern (regex or glob) did not compile.
    #[error("invalid {kind} pattern {pattern:?}: {message}")]
    BadPattern {
        /// "regex" or "glob".
        kind: &'static str,
        /// The pattern.
        pattern: String,
        /// The compiler's message.
        message: String,
    },
    /// The shell tool is refused for this Pod.
    #[error("bash refused: {reason}")]
    ShellRefused {
        /// Why, and what would allow it.
        reason: String,
    },
    /// The call was cancelled by the runtime (e.g. the user interrupted the turn).
    #[error("{tool} was cancelled")]
    Cancelled {
        /// The tool.
        tool: String,
    },
    /// A blocking task panicked or was aborted.
    #[error("{tool} failed internally: {message}")]
    Internal {
        /// The tool.
        tool: String,
        /// What happened.
        message: String,
    },
}

impl ToolError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, e: &std::io::Error) -> ToolError {
        ToolError::Io {
            op,
            path: path.into(),
            message: e.to_string(),
        }
    }
}
