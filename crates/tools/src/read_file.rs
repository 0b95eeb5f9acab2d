//! `read_file`: numbered lines of a text file, by line range.

use std::fmt::Write as _;

use schemars::JsonSchema;
use scope::Access;
use serde::Deserialize;

use crate::beneath::{Regular, mtime_of};
use crate::capability::resolve;
use crate::error::ToolError;
use crate::fingerprint::Fingerprint;
use crate::tool::{Tool, ToolContext, ToolOutput, blocking, parse_args, schema_of};

/// Files larger than this are refused (use `grep` or `bash` with `sed -n`); at most
/// this + 1 bytes are ever read, so a growing file cannot make a call grow.
pub const READ_MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Lines shown when the call names no limit.
pub const READ_DEFAULT_LINES: usize = 2000;
/// Characters kept of one line; the rest is replaced by a marker.
pub const READ_MAX_LINE_CHARS: usize = 2000;
/// Bytes of output per call.
pub const READ_MAX_OUTPUT_BYTES: usize = 100 * 1024;
/// Bytes sniffed for NUL to detect binary files.
const BINARY_SNIFF_BYTES: usize = 8192;

/// Arguments of `read_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFileParams {
    /// File to read, absolute or relative to the working directory.
    pub path: String,
    /// First line to show, 1-based (default 1).
    #[serde(default)]
    pub offset: Option<usize>,
    /// Number of lines to show (default 2000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Reads a text file as numbered lines.
#[derive(Debug, Default)]
pub struct ReadFile;

#[async_trait::async_trait]
impl Tool for ReadFile {
    fn name(&self) -> &'static str {
        "read_file"
    }
    fn description(&self) -> &'static str {
        "Read a text file. Returns numbered lines (`   12\\tcode`). Use offset (1-based line) and limit to page through long files. Binary files are refused. Reading a file is required before edit_file can change it."
    }
    fn parameters_schema(&self) -> serde_json::Value {
        schema_of::<ReadFileParams>()
    }
    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let p: ReadFileParams = parse_args(self.name(), args)?;
        let scope = ctx.current_scope();
        let cwd = ctx.cwd.clone();
        let reads = ctx.reads.clone();
        blocking(self.name(), move || {
            let r = resolve(&scope, &cwd, &p.path, Access::Read)?;
            let root = r.open_root_fd()?;
            let Regular { bytes, stat } = r.read_bounded(
                &root,
                &r.rel,
                READ_MAX_FILE_BYTES,
                "read_file",
                "use grep to find the lines you need, or bash with sed -n 'A,Bp'",
            )?;
            let sniff = &bytes[..bytes.len().min(BINARY_SNIFF_BYTES)];
            if let Some(pos) = memchr_nul(sniff) {
                return Err(ToolError::Binary {
                    path: r.canonical,
                    why: format!("NUL byte at offset {pos}"),
                });
            }
            let text = std::str::from_utf8(&bytes).map_err(|e| ToolError::Binary {
                path: r.canonical.clone(),
                why: format!("not valid UTF-8 at byte {}", e.valid_up_to()),
            })?;
            reads.record(&r.canonical, Fingerprint::of(&bytes, mtime_of(&stat)));
            Ok(number_lines(
                text,
                p.offset.unwrap_or(1).max(1),
                p.limit.unwrap_or(READ_DEFAULT_LINES),
            ))
        })
        .await
    }
}

fn memchr_nul(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == 0)
}

/// `cat -n`-style lines `offset..offset+limit`, capped, with a trailer telling the
/// model how to continue when not everything was shown.
fn number_lines(text: &str, offset: usize, limit: usize) -> ToolOutput {
    let total = text.lines().count();
    if total == 0 {
        return ToolOutput::full("(empty file)");
    }
    let mut out = String::new();
    let mut last = offset.saturating_sub(1);
    let mut truncated = false;
    for (i, line) in text.lines().enumerate().skip(offset - 1).take(limit) {
        let shown: String = if line.chars().count() > READ_MAX_LINE_CHARS {
            let cut: String = line.chars().take(READ_MAX_LINE_CHARS).collect();
            format!("{cut}[... line cut at {READ_MAX_LINE_CHARS} characters]")
        } else {
            line.to_owned()
        };
        if out.len() + shown.len() > READ_MAX_OUTPUT_BYTES {
            truncated = true;
            break;
        }
        let _ = writeln!(out, "{:>6}\t{}", i + 1, shown);
        last = i + 1;
    }
    if offset > total {
        return ToolOutput::full(format!(
            "(the file has {total} lines; offset {offset} is past the end)"
        ));
    }
    if last < total {
        truncated = true;
        let _ = write!(
            out,
            "[output truncated: showed lines {offset}-{last} of {total}; call read_file with offset={} to continue]",
            last + 1
        );
    }
    ToolOutput::new(out, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_numbered_and_marked_when_partial() {
        let text = "a\nb\nc\nd\n";
        let all = number_lines(text, 1, 100);
        assert!(!all.truncated);
        assert_eq!(all.text, "     1\ta\n     2\tb\n     3\tc\n     4\td\n");
        let part = number_lines(text, 2, 2);
        assert!(part.truncated);
        assert!(part.text.starts_with("     2\tb\n     3\tc\n"));
        assert!(part.text.contains("offset=4"), "{}", part.text);
    }
}
