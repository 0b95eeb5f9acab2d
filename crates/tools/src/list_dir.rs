//! `list_dir`: the entries of one directory.

use std::fmt::Write as _;

use std::os::fd::AsFd;

use rustix::fs::{Mode, OFlags};
use schemars::JsonSchema;
use scope::Access;
use serde::Deserialize;

use crate::beneath::open_beneath;
use crate::capability::resolve;
use crate::error::ToolError;
use crate::tool::{Tool, ToolContext, ToolOutput, blocking, parse_args, schema_of};

/// Entries listed at most.
pub const LIST_MAX_ENTRIES: usize = 1000;

/// Arguments of `list_dir`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDirParams {
    /// Directory to list, absolute or relative to the working directory (default ".").
    #[serde(default)]
    pub path: Option<String>,
}

/// Lists a directory: `name/` for directories, `name -> target` for symlinks,
/// `name  SIZE` for files; sorted by name.
#[derive(Debug, Default)]
pub struct ListDir;

#[async_trait::async_trait]
impl Tool for ListDir {
    fn name(&self) -> &'static str {
        "list_dir"
    }
    fn description(&self) -> &'static str {
        "List one directory: subdirectories end with '/', symlinks show their target, files show their size in bytes. Sorted by name. Use glob to find files recursively."
    }
    fn parameters_schema(&self) -> serde_json::Value {
        schema_of::<ListDirParams>()
    }
    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let p: ListDirParams = parse_args(self.name(), args)?;
        let scope = ctx.current_scope();
        let cwd = ctx.cwd.clone();
        blocking(self.name(), move || {
            let r = resolve(&scope, &cwd, p.path.as_deref().unwrap_or("."), Access::Read)?;
            let root = r.open_root_fd()?;
            // Walked once without following symlinks: a symlink swapped in after
            // the check cannot make us list a denied directory.
            let fd = open_beneath(
                root.as_fd(),
                &r.rel,
                OFlags::RDONLY | OFlags::DIRECTORY,
                Mode::empty(),
            )
            .map_err(|e| r.err("list", &e))?;
            let dir = cap_std::fs::Dir::from_std_file(std::fs::File::from(fd));
            let mut rows = Vec::new();
            for entry in dir.entries().map_err(|e| r.err("list", &e))? {
                let entry = entry.map_err(|e| r.err("list", &e))?;
                let name = entry.file_name();
                // Entries in a denied sub-region are not shown at all.
                if !scope.can_read(&r.canonical.join(&name)) {
                    continue;
                }
                let name = name.to_string_lossy().into_owned();
                let ft = entry.file_type().map_err(|e| r.err("list", &e))?;
                let row = if ft.is_dir() {
                    format!("{name}/")
                } else if ft.is_symlink() {
                    let target = dir
                        .read_link_contents(&name)
                        .map(|t| t.display().to_string())
                        .unwrap_or_else(|_| "?".into());
                    format!("{name} -> {target}")
                } else {
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    format!("{name}  {size}")
                };
                rows.push(row);
            }
            rows.sort();
            let total = rows.len();
            let mut out = format!("{}: {total} entries\n", r.canonical.display());
            for row in rows.iter().take(LIST_MAX_ENTRIES) {
                let _ = writeln!(out, "{row}");
            }
            let truncated = total > LIST_MAX_ENTRIES;
            if truncated {
                let _ = write!(
                    out,
                    "[output truncated: showed {LIST_MAX_ENTRIES} of {total} entries; use glob with a pattern to narrow]"
                );
            }
            Ok(ToolOutput::new(out, truncated))
        })
        .await
    }
}
