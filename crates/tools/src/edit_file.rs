//! `edit_file`: exact string replacement in a file this Pod has read.

use std::fmt::Write as _;

use schemars::JsonSchema;
use scope::Access;
use serde::Deserialize;

use std::path::Path;

use crate::beneath::{Regular, mtime_of};
use crate::capability::resolve;
use crate::error::ToolError;
use crate::fingerprint::Fingerprint;
use crate::read_file::READ_MAX_FILE_BYTES;
use crate::tool::{Tool, ToolContext, ToolOutput, blocking, parse_args, schema_of};
use crate::write_file::write_and_record;

/// Lines of context shown around the edit in the summary.
const SUMMARY_CONTEXT_LINES: usize = 3;
/// Lines of the edited region shown at most in the summary.
const SUMMARY_MAX_LINES: usize = 30;

/// Arguments of `edit_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditFileParams {
    /// File to edit, absolute or relative to the working directory.
    pub path: String,
    /// Exact text to replace (whitespace matters). Must occur exactly once unless
    /// `replace_all` is set.
    pub old_string: String,
    /// Replacement text.
    pub new_string: String,
    /// Replace every occurrence (default false).
    #[serde(default)]
    pub replace_all: bool,
}

/// Replaces an exact string in a file.
#[derive(Debug, Default)]
pub struct EditFile;

#[async_trait::async_trait]
impl Tool for EditFile {
    fn name(&self) -> &'static str {
        "edit_file"
    }
    fn description(&self) -> &'static str {
        "Replace an exact string in a file. The file must have been read with read_file since it last changed. old_string must occur exactly once (add surrounding lines to make it unique) unless replace_all is true. Returns the edited lines."
    }
    fn parameters_schema(&self) -> serde_json::Value {
        schema_of::<EditFileParams>()
    }
    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let p: EditFileParams = parse_args(self.name(), args)?;
        if p.old_string.is_empty() || p.old_string == p.new_string {
            return Err(ToolError::InvalidArguments {
                tool: self.name().into(),
                message: "old_string must be non-empty and differ from new_string (use write_file to create a file)".into(),
            });
        }
        let scope = ctx.current_scope();
        let cwd = ctx.cwd.clone();
        let reads = ctx.reads.clone();
        blocking(self.name(), move || {
            let r = resolve(&scope, &cwd, &p.path, Access::Write)?;
            let (parent, name) = r.open_parent()?;
            let Regular { bytes, stat } = r.read_bounded(
                &parent,
                Path::new(&name),
                READ_MAX_FILE_BYTES,
                "edit_file",
                "use write_file to replace the whole file, or bash (e.g. sed -i) to edit it",
            )?;
            let now = Fingerprint::of(&bytes, mtime_of(&stat));
            match reads.get(&r.canonical) {
                None => return Err(ToolError::NotRead { path: r.canonical }),
                Some(seen) if seen != now => return Err(ToolError::Stale { path: r.canonical }),
                Some(_) => {}
            }
            let text = String::from_utf8(bytes).map_err(|e| ToolError::Binary {
                path: r.canonical.clone(),
                why: format!("not valid UTF-8 at byte {}", e.utf8_error().valid_up_to()),
            })?;
            let count = text.matches(&p.old_string).count();
            if count == 0 {
                return Err(ToolError::NoMatch { path: r.canonical });
            }
            if count > 1 && !p.replace_all {
                return Err(ToolError::AmbiguousMatch {
                    path: r.canonical,
                    count,
                });
            }
            let first = text.find(&p.old_string).unwrap_or(0);
            let new_text = if p.replace_all {
                text.replace(&p.old_string, &p.new_string)
            } else {
                text.replacen(&p.old_string, &p.new_string, 1)
            };
            write_and_record(&parent, &name, &r, new_text.as_bytes(), &reads)?;
            Ok(ToolOutput::full(summary(
                &r.canonical.display().to_string(),
                &new_text,
                first,
                &p.new_string,
                count,
            )))
        })
        .await
    }
}

/// "Edited PATH: N replacement(s)" plus the first edited region with a little context.
fn summary(path: &str, new_text: &str, first: usize, new_string: &str, count: usize) -> String {
    let start_line = new_text[..first].matches('\n').count(); // 0-based
    let new_lines = new_string.matches('\n').count() + 1;
    let from = start_line.saturating_sub(SUMMARY_CONTEXT_LINES);
    let to = (start_line + new_lines + SUMMARY_CONTEXT_LINES)
        .min(from + SUMMARY_MAX_LINES)
        .min(new_text.lines().count());
    let mut out = format!(
        "Edited {path}: replaced {count} occurrence{}. Lines {}-{} now read:\n",
        if count == 1 { "" } else { "s" },
        from + 1,
        to
    );
    for (i, line) in new_text
        .lines()
        .enumerate()
        .skip(from)
        .take(to.saturating_sub(from))
    {
        let _ = writeln!(out, "{:>6}\t{}", i + 1, line);
    }
    out
}
