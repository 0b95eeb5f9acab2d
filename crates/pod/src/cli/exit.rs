//! Exit codes and standard output of the CLI: the headless contract scripts rely on.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (also: stdout was closed by the reader, e.g. `pod logs X \| head -1`) |
//! | 1 | the run failed (model or tool), or any other failure |
//! | 2 | usage: bad flags, names or paths |
//! | 3 | configuration or authentication (missing key, 401/403, unknown model, unreachable provider) |
//! | 4 | scope conflict: the directory (or the name) is held by a live Pod |
//! | 5 | `pod work run`: the rounds ran out and the last review blocks |
//! | 130 | interrupted (Ctrl-C) |
//!
//! Every line a command prints to stdout goes through [`write_out`] (via `outln!`),
//! which turns a closed pipe into [`std::io::ErrorKind::BrokenPipe`]; `main` ends the
//! command quietly with 0 on it instead of panicking like `println!` does.

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0.
    Success = 0,
    /// 1: the run failed, or anything not classified below.
    Failed = 1,
    /// 2: bad flags, names or paths.
    Usage = 2,
    /// 3: configuration or authentication.
    Config = 3,
    /// 4: the directory or name is held by a live Pod.
    Conflict = 4,
    /// 5: `pod work run` ended with a blocking review after its last round.
    Blocking = 5,
    /// 130: interrupted.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// An error with the exit code it maps to; the message is printed as `error: …`.
#[derive(Debug)]
pub struct CliError {
    /// Exit code.
    pub code: Exit,
    /// One clear line.
    pub message: String,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// An `anyhow` error carrying `code`.
pub fn fail(code: Exit, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(CliError {
        code,
        message: message.into(),
    })
}

/// The exit code an error maps to: an explicit [`CliError`] anywhere in the chain
/// wins; then typed errors of the libraries are classified; everything else is 1.
pub fn code_of(e: &anyhow::Error) -> Exit {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<CliError>() {
            return c.code;
        }
    }
    for cause in e.chain() {
        match cause.downcast_ref::<crate::config::ConfigError>() {
            Some(crate::config::ConfigError::UnknownProviderFlag(_)) => return Exit::Usage,
            Some(_) => return Exit::Config,
            None => {}
        }
        if cause.downcast_ref::<pod_ids::NameError>().is_some()
            || cause.downcast_ref::<pod_ids::IdError>().is_some()
            || cause.downcast_ref::<scope::ScopeError>().is_some()
        {
            return Exit::Usage;
        }
        if let Some(r) = cause.downcast_ref::<pod_registry::RegistryError>() {
            use pod_registry::RegistryError as R;
            if matches!(r, R::WriteConflict { .. } | R::NameTaken { .. }) {
                return Exit::Conflict;
            }
            if matches!(r, R::Config(_)) {
                return Exit::Config;
            }
        }
    }
    Exit::Failed
}

/// True when the error is a write to a closed stdout.
pub fn is_closed_stdout(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes to stdout and flushes (so streamed text shows at once); a closed pipe is
/// an error the caller propagates, never a panic.
pub fn write_out(args: fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    out.flush()
}

/// `println!` that returns the error of a closed stdout instead of panicking.
#[macro_export]
macro_rules! outln {
    () => { $crate::cli::exit::write_out(format_args!("\n")) };
    ($($t:tt)*) => { $crate::cli::exit::write_out(format_args!("{}\n", format_args!($($t)*))) };
}

/// `print!` counterpart of [`outln!`].
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::exit::write_out(format_args!($($t)*)) };
}
