//! `write_file`: create or atomically replace a whole file.

use std::ffi::OsStr;
use std::os::fd::AsFd;

use schemars::JsonSchema;
use scope::Access;
use serde::Deserialize;

use crate::atomic::replace_atomically;
use crate::beneath::mtime_of;
use crate::capability::{Resolved, resolve};
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
            let (parent, name) = r.open_or_create_parent(&scope)?;
            let existed = write_and_record(&parent, &name, &r, p.content.as_bytes(), &reads)?;
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

/// Atomically writes `contents` as `name` in the directory `parent` (the
/// resolved target's parent, walked once) and records the new version as known to
/// this Pod (its own write needs no re-read before an edit). Returns whether a
/// file of that name existed.
pub(crate) fn write_and_record(
    parent: impl AsFd,
    name: &OsStr,
    r: &Resolved,
    contents: &[u8],
    reads: &ReadTracker,
) -> Result<bool, ToolError> {
    let done =
        replace_atomically(parent.as_fd(), name, contents).map_err(|e| r.err("write", &e))?;
    reads.record(
        &r.canonical,
        Fingerprint::of(contents, mtime_of(&done.stat)),
    );
    Ok(done.existed)
}
