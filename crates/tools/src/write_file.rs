//! `write_file`: create or atomically replace a whole file.

use std::path::Path;

use cap_std::fs::Dir;
use schemars::JsonSchema;
use scope::{Access, Scope};
use serde::Deserialize;

use crate::atomic::replace_atomically;
use crate::capability::{Resolved, check_access, resolve};
use crate::error::ToolError;
use crate::fingerprint::{Fingerprint, ReadTracker};
use crate::tool::{Tool, ToolContext, ToolOutput, blocking, parse_args, schema_of};

/// Arguments of `write_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFileParams {
    /// File to write, absolute or relative to the working directory.
    pub path: String,
    /// The complete new content.
    pub content: String,
}

/// Writes a whole file (atomic replace, mode kept, parent directories created).
#[derive(Debug, Default)]
pub struct WriteFile;

#[async_trait::async_trait]
impl Tool for WriteFile {
    fn name(&self) -> &'static str {
        "write_file"
    }
    fn description(&self) -> &'static str {
        "Create a file or replace its whole content. The replacement is atomic and keeps the file's permission bits; missing parent directories are created. Prefer edit_file for changing part of an existing file."
    }
    fn parameters_schema(&self) -> serde_json::Value {
        schema_of::<WriteFileParams>()
    }
    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let p: WriteFileParams = parse_args(self.name(), args)?;
        let scope = ctx.current_scope();
        let cwd = ctx.cwd.clone();
        let reads = ctx.reads.clone();
        blocking(self.name(), move || {
            let r = resolve(&scope, &cwd, &p.path, Access::Write)?;
            let dir = r.open_root()?;
            create_parents(&scope, &r, &dir)?;
            let existed = dir.exists(&r.rel);
            write_and_record(&dir, &r, p.content.as_bytes(), &reads)?;
            let verb = if existed { "Replaced" } else { "Created" };
            Ok(ToolOutput::full(format!(
                "{verb} {} ({} bytes, {} lines)",
                r.canonical.display(),
                p.content.len(),
                p.content.lines().count()
            )))
        })
        .await
    }
}

/// Atomically writes `contents` to the resolved target and records the new version
/// as known to this Pod (its own write needs no re-read before an edit).
pub(crate) fn write_and_record(
    dir: &Dir,
    r: &Resolved,
    contents: &[u8],
    reads: &ReadTracker,
) -> Result<(), ToolError> {
    let meta = replace_atomically(dir, &r.rel, contents).map_err(|e| r.err("write", &e))?;
    let mtime = meta.modified().ok().map(|t| t.into_std());
    reads.record(&r.canonical, Fingerprint::of(contents, mtime));
    Ok(())
}

/// Creates missing directories between the allowed root and the target. Each one
/// created must itself be writable: a non-recursive deny on an ancestor forbids
/// creating its direct children even though the target below is not covered.
fn create_parents(scope: &Scope, r: &Resolved, dir: &Dir) -> Result<(), ToolError> {
    let Some(parent) = r.rel.parent() else {
        return Ok(());
    };
    if parent.as_os_str().is_empty() || dir.is_dir(parent) {
        return Ok(());
    }
    let mut so_far = Path::new("").to_path_buf();
    for c in parent.components() {
        so_far.push(c);
        if !dir.is_dir(&so_far) {
            check_access(scope, &r.root.join(&so_far), Access::Write)?;
            match dir.create_dir(&so_far) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(r.err("create directory for", &e)),
            }
        }
    }
    Ok(())
}
