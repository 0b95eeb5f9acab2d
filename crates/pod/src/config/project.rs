//! What a project's `.pods/config.toml` may not set, even when trusted.
//!
//! A project file travels with the repository: whoever can commit to it (or a Pod
//! that once had write scope there) wrote it. So it may tune the model and the
//! agent, but these come only from the user's own config or flags:
//!
//! - where the API key goes: a provider's `kind`, `base_url`, `api_key_env` and
//!   `headers` (an `api_key` in a project file is always refused), unless the value
//!   equals what the user's layers already give (then it changes nothing);
//! - confinement: `defaults.allow_unconfined_shell = true`;
//! - scope beyond the project: every `defaults.write` / `defaults.read` path and
//!   `defaults.system_prompt_file` must lie inside the project directory (after
//!   symlinks), or the file could hand a Pod `/`, or read `~/.ssh` into a prompt.
//!
//! A violation is an error naming the file and every offending key: ignoring the
//! key would make the run differ from what the project asked for without the user
//! deciding it (Codex drops such keys silently, and its users cannot tell why a
//! setting does nothing).

use std::path::Path;

use super::{ConfigError, Layer, ProjectConfig};

/// Refuses `project` when it sets a user-only key to anything but what `below`
/// (presets, builtin, the user's file) already says.
pub(super) fn check(below: &Layer, project: &Layer, p: &ProjectConfig) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    let d = &project.defaults;
    if d.allow_unconfined_shell == Some(true) && below.defaults.allow_unconfined_shell != Some(true)
    {
        problems.push(
            "  defaults.allow_unconfined_shell = true: only you can turn off the shell's confinement"
                .to_owned(),
        );
    }
    for (name, theirs) in &project.providers {
        let ours = below.providers.get(name);
        let mut differs = |key: &str, theirs: Option<String>, ours: Option<String>| {
            if let Some(v) = theirs
                && Some(&v) != ours.as_ref()
            {
                problems.push(format!(
                    "  providers.{name}.{key} = {v}: only your own config or a flag may change where your API key goes"
                ));
            }
        };
        let quoted = |s: &Option<String>| s.as_ref().map(|v| format!("{v:?}"));
        differs(
            "kind",
            quoted(&theirs.kind),
            ours.and_then(|o| quoted(&o.kind)),
        );
        differs(
            "base_url",
            quoted(&theirs.base_url),
            ours.and_then(|o| quoted(&o.base_url)),
        );
        differs(
            "api_key_env",
            quoted(&theirs.api_key_env),
            ours.and_then(|o| quoted(&o.api_key_env)),
        );
        differs(
            "headers",
            theirs.headers.as_ref().map(|h| format!("{h:?}")),
            ours.and_then(|o| o.headers.as_ref().map(|h| format!("{h:?}"))),
        );
        if theirs.api_key.is_some() {
            problems.push(format!(
                "  providers.{name}.api_key: a key never belongs in a project file"
            ));
        }
    }
    for (key, paths) in [("write", &d.write), ("read", &d.read)] {
        for path in paths.iter().flatten() {
            if let Some(why) = outside(&p.dir, path) {
                problems.push(format!("  defaults.{key} = {path:?}: {why}"));
            }
        }
    }
    if let Some(f) = &d.system_prompt_file
        && let Some(why) = outside(&p.dir, f)
    {
        problems.push(format!("  defaults.system_prompt_file = {f:?}: {why}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::ProjectOverreach {
            path: p.path.clone(),
            problems,
        })
    }
}

/// Why `path` (relative to `project`) is not inside `project`, after symlinks.
fn outside(project: &Path, path: &Path) -> Option<String> {
    let joined = project.join(path);
    match scope::canonicalize(&joined) {
        Ok(c) if c.as_path().starts_with(project) => None,
        Ok(c) => Some(format!(
            "{} is outside the project {}",
            c.as_path().display(),
            project.display()
        )),
        Err(e) => Some(e.to_string()),
    }
}
