//! The tools a Pod offers its model, behind [`ToolRunner`] so the runtime does not
//! care who implements them.
//!
//! Interim built-ins (`read_file`, `write_file`, `edit_file`, `grep`, `bash`): scope is
//! checked on canonical paths before every file access; `bash` runs in its own
//! process group, which is killed when the call is cancelled. The `tools` crate
//! (cap-std handles, Landlock) replaces these behind the same trait.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use scope::Scope;
use serde::Deserialize;
use serde_json::json;
use transcript::{ToolCall, ToolResult, ToolSpec};

/// Runs tool calls. `run` never fails: errors become results with `is_error`.
pub trait ToolRunner: Send + Sync {
    /// The tools offered to the model.
    fn specs(&self) -> Vec<ToolSpec>;
    /// Executes one call. Dropping the future cancels it (and kills any process).
    fn run(&self, call: ToolCall) -> BoxFuture<'static, ToolResult>;
}

/// Names of the built-in tools, in the order offered.
pub const BUILTIN_TOOLS: &[&str] = &["read_file", "write_file", "edit_file", "grep", "bash"];

/// Output beyond this is cut (the model gets a note saying so).
const MAX_OUTPUT: usize = 64 * 1024;

/// Environment variables never passed to shell commands (PITFALLS: shell inherits keys).
const SCRUBBED_ENV: &[&str] = &[
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "OPENROUTER_API_KEY",
];

/// The built-in tool set for one Pod.
#[derive(Debug, Clone)]
pub struct Builtins {
    inner: Arc<Ctx>,
}

#[derive(Debug)]
struct Ctx {
    cwd: PathBuf,
    scope: Scope,
    enabled: Vec<String>,
    extra_scrub: Vec<String>,
}

impl Builtins {
    /// Tools named in `enabled` (unknown names are ignored), confined to `scope`.
    pub fn new(cwd: PathBuf, scope: Scope, enabled: &[String], key_env: Option<&str>) -> Self {
        Builtins {
            inner: Arc::new(Ctx {
                cwd,
                scope,
                enabled: enabled.to_vec(),
                extra_scrub: key_env.map(str::to_owned).into_iter().collect(),
            }),
        }
    }
}

fn spec(name: &str, description: &str, parameters: serde_json::Value) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: description.into(),
        parameters,
    }
}

fn all_specs() -> Vec<ToolSpec> {
    let path = json!({"type": "string", "description": "path, absolute or relative to the working directory"});
    vec![
        spec(
            "read_file",
            "Read a UTF-8 text file.",
            json!({"type": "object", "properties": {"path": path}, "required": ["path"]}),
        ),
        spec(
            "write_file",
            "Create or replace a file with the given content.",
            json!({"type": "object", "properties": {"path": path, "content": {"type": "string"}}, "required": ["path", "content"]}),
        ),
        spec(
            "edit_file",
            "Replace the single occurrence of `old` with `new` in a file.",
            json!({"type": "object", "properties": {"path": path, "old": {"type": "string"}, "new": {"type": "string"}}, "required": ["path", "old", "new"]}),
        ),
        spec(
            "grep",
            "Find lines containing a literal pattern under a directory (default: the working directory).",
            json!({"type": "object", "properties": {"pattern": {"type": "string"}, "path": path}, "required": ["pattern"]}),
        ),
        spec(
            "bash",
            "Run a shell command in the working directory; returns exit code and output.",
            json!({"type": "object", "properties": {"command": {"type": "string"}, "timeout_secs": {"type": "integer"}}, "required": ["command"]}),
        ),
    ]
}

impl ToolRunner for Builtins {
    fn specs(&self) -> Vec<ToolSpec> {
        all_specs()
            .into_iter()
            .filter(|s| self.inner.enabled.iter().any(|e| e == &s.name))
            .collect()
    }

    fn run(&self, call: ToolCall) -> BoxFuture<'static, ToolResult> {
        let ctx = self.inner.clone();
        Box::pin(async move {
            let outcome = if ctx.enabled.iter().any(|e| e == &call.name) {
                ctx.dispatch(&call).await
            } else {
                Err(format!("unknown tool {:?}", call.name))
            };
            let (mut output, is_error) = match outcome {
                Ok(o) => (o, false),
                Err(e) => (format!("error: {e}"), true),
            };
            if output.len() > MAX_OUTPUT {
                let mut cut = MAX_OUTPUT;
                while !output.is_char_boundary(cut) {
                    cut -= 1;
                }
                output.truncate(cut);
                output.push_str("\n[output truncated]");
            }
            ToolResult {
                call_id: call.call_id,
                name: call.name,
                output,
                is_error,
            }
        })
    }
}

fn args<T: for<'de> Deserialize<'de>>(call: &ToolCall) -> Result<T, String> {
    serde_json::from_str(&call.arguments)
        .map_err(|e| format!("invalid arguments for {}: {e}", call.name))
}

impl Ctx {
    async fn dispatch(&self, call: &ToolCall) -> Result<String, String> {
        match call.name.as_str() {
            "read_file" => {
                #[derive(Deserialize)]
                struct A {
                    path: String,
                }
                let a: A = args(call)?;
                let p = self.checked(&a.path, false)?;
                tokio::fs::read_to_string(&p)
                    .await
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))
            }
            "write_file" => {
                #[derive(Deserialize)]
                struct A {
                    path: String,
                    content: String,
                }
                let a: A = args(call)?;
                let p = self.checked(&a.path, true)?;
                tokio::fs::write(&p, a.content.as_bytes())
                    .await
                    .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
                Ok(format!(
                    "wrote {} bytes to {}",
                    a.content.len(),
                    p.display()
                ))
            }
            "edit_file" => {
                #[derive(Deserialize)]
                struct A {
                    path: String,
                    old: String,
                    new: String,
                }
                let a: A = args(call)?;
                let p = self.checked(&a.path, true)?;
                let text = tokio::fs::read_to_string(&p)
                    .await
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                match text.matches(&a.old).count() {
                    1 => {}
                    0 => return Err(format!("`old` not found in {}", p.display())),
                    n => {
                        return Err(format!(
                            "`old` occurs {n} times in {}; make it unique",
                            p.display()
                        ));
                    }
                }
                let edited = text.replacen(&a.old, &a.new, 1);
                tokio::fs::write(&p, edited.as_bytes())
                    .await
                    .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
                Ok(format!("edited {}", p.display()))
            }
            "grep" => {
                #[derive(Deserialize)]
                struct A {
                    pattern: String,
                    path: Option<String>,
                }
                let a: A = args(call)?;
                let root = self.checked(a.path.as_deref().unwrap_or("."), false)?;
                let scope = self.scope.clone();
                tokio::task::spawn_blocking(move || grep(&root, &a.pattern, &scope))
                    .await
                    .map_err(|e| format!("grep failed: {e}"))
            }
            "bash" => {
                #[derive(Deserialize)]
                struct A {
                    command: String,
                    timeout_secs: Option<u64>,
                }
                let a: A = args(call)?;
                self.bash(
                    &a.command,
                    Duration::from_secs(a.timeout_secs.unwrap_or(120)),
                )
                .await
            }
            other => Err(format!("unknown tool {other:?}")),
        }
    }

    /// Resolves `path` against the cwd, canonicalises it and checks the scope.
    fn checked(&self, path: &str, write: bool) -> Result<PathBuf, String> {
        let joined = self.cwd.join(path);
        let canon = scope::canonicalize(&joined).map_err(|e| e.to_string())?;
        let p = canon.as_path();
        let ok = if write {
            self.scope.can_write(p)
        } else {
            self.scope.can_read(p)
        };
        if ok {
            Ok(p.to_path_buf())
        } else {
            Err(format!(
                "{} is outside this Pod's {} scope",
                p.display(),
                if write { "write" } else { "read" }
            ))
        }
    }

    async fn bash(&self, command: &str, timeout: Duration) -> Result<String, String> {
        let mut cmd = tokio::process::Command::new("bash");
        cmd.arg("-c")
            .arg(command)
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: the closure runs in the forked child before exec and only makes one
        // raw prctl syscall (async-signal-safe; no allocation, no locks). It makes the
        // kernel SIGKILL the shell if the Pod process dies (even by SIGKILL), so a
        // crashed Pod does not leave its tool commands running.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::KILL,
                ))
                .map_err(std::io::Error::from)
            });
        }
        for k in SCRUBBED_ENV
            .iter()
            .copied()
            .chain(self.extra_scrub.iter().map(String::as_str))
        {
            cmd.env_remove(k);
        }
        let child = cmd.spawn().map_err(|e| format!("cannot start bash: {e}"))?;
        // Killing only the shell would leave its children running (PITFALLS); the
        // guard kills the whole group when the call ends, times out or is cancelled.
        let _group = child.id().map(GroupGuard);
        let out = tokio::time::timeout(timeout, child.wait_with_output())
            .await
            .map_err(|_| format!("command timed out after {}s", timeout.as_secs()))?
            .map_err(|e| format!("bash failed: {e}"))?;
        Ok(format!(
            "exit code: {}\nstdout:\n{}\nstderr:\n{}",
            out.status.code().map_or("signal".into(), |c| c.to_string()),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Kills a process group on drop.
struct GroupGuard(u32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.0 as i32) {
            // ESRCH (already gone) is the normal case after a clean exit.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

/// Literal-substring search; skips `.git`, `target`, `node_modules` and files out of scope.
fn grep(root: &Path, pattern: &str, scope: &Scope) -> String {
    let mut hits = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        if !scope.can_read(&p) {
            continue;
        }
        if p.is_dir() {
            let Ok(rd) = std::fs::read_dir(&p) else {
                continue;
            };
            let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            entries.sort();
            for e in entries.into_iter().rev() {
                let skip = e.file_name().is_some_and(|n| {
                    matches!(n.to_str(), Some(".git" | "target" | "node_modules"))
                });
                if !skip {
                    stack.push(e);
                }
            }
        } else if let Ok(text) = std::fs::read_to_string(&p) {
            for (i, line) in text.lines().enumerate() {
                if line.contains(pattern) {
                    hits.push(format!("{}:{}:{}", p.display(), i + 1, line));
                }
            }
        }
    }
    if hits.is_empty() {
        "no matches".into()
    } else {
        hits.join("\n")
    }
}
