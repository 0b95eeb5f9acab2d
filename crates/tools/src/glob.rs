//! `glob`: files matching a glob pattern under a directory.

use std::fmt::Write as _;

use globset::GlobBuilder;
use schemars::JsonSchema;
use scope::Access;
use serde::Deserialize;

use crate::capability::resolve;
use crate::error::ToolError;
use crate::tool::{Tool, ToolContext, ToolOutput, blocking, parse_args, schema_of};
use crate::walk::walker;

/// Paths returned when the call names no limit.
pub const GLOB_DEFAULT_MAX: usize = 1000;
/// Upper bound on `max_results`.
pub const GLOB_HARD_MAX: usize = 10_000;

/// Arguments of `glob`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GlobParams {
    /// Glob matched against paths relative to `path`, e.g. `**/*.rs` or `src/*.toml`
    /// (`*` does not cross `/`; `**` does).
    pub pattern: String,
    /// Directory to search (default: the working directory).
    #[serde(default)]
    pub path: Option<String>,
    /// Maximum number of paths returned (default 1000).
    #[serde(default)]
    pub max_results: Option<usize>,
}

/// Finds files by glob, respecting `.gitignore` and skipping `.git`, `target`,
/// `node_modules`.
#[derive(Debug, Default)]
pub struct Glob;

#[async_trait::async_trait]
impl Tool for Glob {
    fn name(&self) -> &'static str {
        "glob"
    }
    fn description(&self) -> &'static str {
        "Find files whose path (relative to `path`) matches a glob such as `**/*.rs`. Respects .gitignore; skips .git, target and node_modules. Returns sorted absolute paths."
    }
    fn parameters_schema(&self) -> serde_json::Value {
        schema_of::<GlobParams>()
    }
    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let p: GlobParams = parse_args(self.name(), args)?;
        let scope = ctx.current_scope();
        let cwd = ctx.cwd.clone();
        let cancel = ctx.cancel.clone();
        blocking(self.name(), move || {
            let base = resolve(&scope, &cwd, p.path.as_deref().unwrap_or("."), Access::Read)?;
            let matcher = GlobBuilder::new(&p.pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| ToolError::BadPattern {
                    kind: "glob",
                    pattern: p.pattern.clone(),
                    message: e.to_string(),
                })?
                .compile_matcher();
            let max = p.max_results.unwrap_or(GLOB_DEFAULT_MAX).clamp(1, GLOB_HARD_MAX);
            let mut found = Vec::new();
            let (wb, skipped_dirs) = walker(&base.canonical, &scope);
            for entry in wb.build() {
                if cancel.is_cancelled() {
                    return Err(ToolError::Cancelled { tool: "glob".into() });
                }
                // An unreadable directory only loses its own subtree.
                let Ok(entry) = entry else { continue };
                if entry.file_type().is_some_and(|t| t.is_dir()) {
                    continue;
                }
                let Ok(rel) = entry.path().strip_prefix(&base.canonical) else {
                    continue;
                };
                if matcher.is_match(rel) {
                    found.push(entry.into_path());
                }
            }
            found.sort();
            let total = found.len();
            let mut out = String::new();
            if total == 0 {
                out.push_str("no files matched");
            }
            for f in found.iter().take(max) {
                let _ = writeln!(out, "{}", f.display());
            }
            let truncated = total > max;
            if truncated {
                let _ = write!(
                    out,
                    "[output truncated: showed {max} of {total} paths; narrow the pattern or raise max_results]"
                );
            }
            let skipped = skipped_dirs.lock().unwrap_or_else(|p| p.into_inner());
            for (dir, why) in skipped.iter() {
                let _ = write!(out, "\n[directory {} skipped: {why}]", dir.display());
            }
            Ok(ToolOutput::new(out, truncated))
        })
        .await
    }
}
