//! The built-in system prompt: who the Pod is and where it sits in the tree of Pods,
//! how it should work, when to split work into child Pods, how to answer, and the
//! facts of its environment (scope, tools, cwd, git state), followed by the project
//! instructions ([`crate::instructions`]) and any text the user appended.
//!
//! Everything variable is an input ([`PromptInputs`]), so the prompt is a pure
//! function and snapshot-tested; [`Environment::detect`] gathers the live facts. The
//! result is recorded in the segment's `segment_start`, so a restored Pod sends the
//! same text (including the date it was created on).

use std::fmt::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pod_ids::PodName;
use transcript::ToolSpec;

use crate::instructions::Instructions;
use crate::launch::Manifest;

/// The facts of the machine and working tree the Pod starts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Operating system, e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub os: String,
    /// Today's date (UTC, `YYYY-MM-DD`).
    pub date: String,
    /// The shell `bash` tool commands run in.
    pub shell: String,
    /// Git state of the cwd, when it is in a repository and git answered in time.
    pub git: Option<GitState>,
}

/// Branch and a short status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    /// Branch (or `HEAD (detached)`).
    pub branch: String,
    /// Up to [`GIT_STATUS_LINES`] `git status --short` lines.
    pub changes: Vec<String>,
    /// How many more changed paths there are.
    pub more: usize,
}

/// Status lines shown in the prompt.
pub const GIT_STATUS_LINES: usize = 20;

/// How long `git status` may take before the prompt goes without it.
const GIT_DEADLINE: Duration = Duration::from_secs(2);

impl Environment {
    /// Looks at the machine and `cwd`. Never fails: what cannot be found is left out.
    pub fn detect(cwd: &Path) -> Environment {
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
            .unwrap_or_else(|| std::env::consts::OS.to_owned());
        let date = time::OffsetDateTime::now_utc().date().to_string();
        Environment {
            os,
            date,
            shell: "bash".into(),
            git: git_state(cwd),
        }
    }
}

/// `git status --porcelain --branch` with a deadline. `GIT_OPTIONAL_LOCKS=0` keeps it
/// from taking `index.lock`, so a Pod starting never races the user's own git.
fn git_state(cwd: &Path) -> Option<GitState> {
    if !cwd.ancestors().any(|d| d.join(".git").exists()) {
        return None;
    }
    let mut child = Command::new("git")
        .args([
            "status",
            "--porcelain=v1",
            "--branch",
            "--untracked-files=normal",
        ])
        .current_dir(cwd)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + GIT_DEADLINE;
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            // Polling a child process we own, not synchronising with another actor.
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut out).ok()?;
    parse_git_status(&out)
}

fn parse_git_status(out: &str) -> Option<GitState> {
    let mut lines = out.lines();
    let head = lines.next()?.strip_prefix("## ")?;
    let branch = match head.split("...").next() {
        Some(b) if b.starts_with("HEAD") => "HEAD (detached)".to_owned(),
        Some(b) => b.trim_start_matches("No commits yet on ").to_owned(),
        None => head.to_owned(),
    };
    let all: Vec<String> = lines.map(str::to_owned).collect();
    let more = all.len().saturating_sub(GIT_STATUS_LINES);
    Some(GitState {
        branch,
        changes: all.into_iter().take(GIT_STATUS_LINES).collect(),
        more,
    })
}

/// Everything the prompt is built from.
pub struct PromptInputs<'a> {
    /// The Pod's name.
    pub name: &'a PodName,
    /// Its manifest (cwd, scope, model).
    pub manifest: &'a Manifest,
    /// Every tool offered, child tools included.
    pub tools: &'a [ToolSpec],
    /// The machine and working tree.
    pub env: &'a Environment,
    /// Project instructions for the cwd.
    pub instructions: &'a Instructions,
    /// The parent Pod, for a child.
    pub parent: Option<&'a PodName>,
    /// Replaces the built-in "how to work" part (`system_prompt_file`).
    pub custom_base: Option<&'a str>,
}

/// The system prompt of a Pod.
pub fn system_prompt(p: &PromptInputs<'_>) -> String {
    let m = p.manifest;
    let mut s = String::new();
    let name = p.name.as_str();
    match p.parent {
        Some(parent) => {
            let _ = writeln!(
                s,
                "You are \"{name}\", a coding agent running as a Pod: one process with its own scope, log and tools. You are a child of the Pod \"{}\", which gave you your task and part of its write scope; when you finish a run, your final answer is delivered to it as a report.",
                parent.as_str()
            );
        }
        None => {
            let _ = writeln!(
                s,
                "You are \"{name}\", a coding agent running as a Pod: one process with its own scope, log and tools. You work for the user directly; you can start child Pods, each an agent like you with its own part of your scope."
            );
        }
    }
    s.push('\n');
    match p.custom_base {
        Some(base) => {
            s.push_str(base.trim_end());
            s.push('\n');
        }
        None => s.push_str(HOW_TO_WORK),
    }
    s.push('\n');
    environment(&mut s, p);
    if !p.instructions.text.is_empty() {
        s.push('\n');
        s.push_str(p.instructions.text.trim_end());
        s.push('\n');
    }
    if let Some(extra) = m
        .agent
        .instructions
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        let _ = write!(
            s,
            "\n# Instructions from the user's configuration\n\n{}\n",
            extra.trim_end()
        );
    }
    if let Some(extra) = m
        .agent
        .append_system_prompt
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        let _ = write!(
            s,
            "\n# From the user, for this Pod\n\n{}\n",
            extra.trim_end()
        );
    }
    s
}

/// Builds the prompt of a new segment for a Pod with manifest `m`: discovers the
/// project instructions for its cwd (`config_dir` holds the global file), reads the
/// `system_prompt_file` if any (unreadable: the built-in guidance, with a warning;
/// `pod run` checked it), and looks at the environment. Returns the prompt and what
/// the instructions were built from.
pub fn build_for(
    name: &PodName,
    m: &Manifest,
    tools: &[ToolSpec],
    config_dir: &Path,
    parent: Option<&PodName>,
) -> (String, Instructions) {
    let instructions =
        crate::instructions::discover(config_dir, &m.cwd, crate::instructions::DEFAULT_CAP_BYTES);
    for p in &instructions.problems {
        tracing::warn!(problem = %p, "instruction file skipped");
    }
    let custom = m.agent.system_prompt_file.as_ref().and_then(|p| {
        match crate::instructions::read_small_regular(p) {
            Ok(Some(t)) => Some(t),
            Ok(None) => {
                tracing::warn!(path = %p.display(), "system_prompt_file is missing; using the built-in prompt");
                None
            }
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "system_prompt_file unreadable; using the built-in prompt");
                None
            }
        }
    });
    let env = Environment::detect(&m.cwd);
    let prompt = system_prompt(&PromptInputs {
        name,
        manifest: m,
        tools,
        env: &env,
        instructions: &instructions,
        parent,
        custom_base: custom.as_deref(),
    });
    (prompt, instructions)
}

/// The built-in guidance (written for pods; the facts follow it).
const HOW_TO_WORK: &str = "\
# How to work

- Look before you change anything: read the files involved, search for callers and tests, and check how the project builds. Do not guess at code you have not read.
- Keep each change small and aimed at the task. Match the surrounding style. Do not rename, reformat or \"clean up\" what the task does not need.
- Verify what you change: build it and run the project's relevant tests (or the narrowest command that exercises the change). If something fails, read the error and fix the cause; say so plainly if you cannot.
- The working tree is shared with the user and possibly other agents. Never revert, delete or overwrite changes you did not make, and never run destructive commands (`git reset --hard`, `git checkout -- .`, `rm -rf`, force pushes) unless the user asked for exactly that.
- Stay inside your scope (below). A write outside it is refused by the runtime, not by a policy you can argue with: a refused write means the path belongs to someone else (the user, your parent or a child Pod). Do not try another way around it; work within your scope or say in your answer what needs changing and where.
- For work with several steps, keep a plan with `update_plan` (when offered): one step `in_progress` at a time, mark steps `done` as you finish them.
- When you are unsure what the user wants and a wrong guess would be costly, ask; otherwise make a reasonable choice and say which.

# Child Pods

Start a child Pod (`spawn_pod`) when a part of the task is large and independent enough to be done in parallel or to keep out of your own context: a separate directory, a separate component, a long investigation. Give each child a write scope that covers only its part (sibling children can never overlap) and a self-contained task: what to do, where, how to verify it, and what to report. While a child holds a directory you cannot write there; you get a notice when it finishes, and `stop_pod` returns its scope to you. Do small or tightly coupled work yourself: a child costs a process and a context of its own.

# Your final answer

When the task is done (or you are stuck), answer with a short summary: what you changed (files), how you verified it (commands and their outcome), and anything left open or that the user must decide. No long restatement of the task, no code the user did not ask to see.
";

fn environment(s: &mut String, p: &PromptInputs<'_>) {
    let m = p.manifest;
    let e = p.env;
    let _ = writeln!(s, "# Environment\n");
    let _ = writeln!(s, "- Operating system: {}", e.os);
    let _ = writeln!(s, "- Date (UTC) when this session started: {}", e.date);
    let _ = writeln!(s, "- Shell used by `bash`: {}", e.shell);
    let _ = writeln!(s, "- Working directory: {}", m.cwd.display());
    let _ = writeln!(s, "- Model: {} (provider {})", m.model, m.provider);
    match &e.git {
        Some(g) if g.changes.is_empty() => {
            let _ = writeln!(s, "- Git: branch {}, no uncommitted changes", g.branch);
        }
        Some(g) => {
            let _ = writeln!(
                s,
                "- Git: branch {}, uncommitted changes when the session started:",
                g.branch
            );
            for c in &g.changes {
                let _ = writeln!(s, "    {c}");
            }
            if g.more > 0 {
                let _ = writeln!(s, "    ... and {} more", g.more);
            }
        }
        None => {
            let _ = writeln!(s, "- Git: not a repository (or git unavailable)");
        }
    }
    let paths = |access: scope::Access| -> Vec<String> {
        m.scope
            .allow
            .iter()
            .filter(|r| r.access == access)
            .map(|r| r.path.as_path().display().to_string())
            .collect()
    };
    let (write, read) = (paths(scope::Access::Write), paths(scope::Access::Read));
    let _ = writeln!(s, "\n# Scope\n");
    if write.is_empty() {
        let _ = writeln!(
            s,
            "- You may not write anywhere: this Pod is read-only (the shell runs read-only too)."
        );
    } else {
        let _ = writeln!(
            s,
            "- You may read and write (recursively): {}",
            write.join(", ")
        );
    }
    if !read.is_empty() {
        let _ = writeln!(s, "- You may also read: {}", read.join(", "));
    }
    // A deny(write) leaves read access; a deny(read) removes both (ARCHITECTURE §4).
    let denied = |access: scope::Access| -> Vec<String> {
        m.scope
            .deny
            .iter()
            .filter(|r| r.access == access)
            .map(|r| r.path.as_path().display().to_string())
            .collect()
    };
    let (read_only, hidden) = (denied(scope::Access::Write), denied(scope::Access::Read));
    if !read_only.is_empty() {
        let _ = writeln!(s, "- Read-only for you: {}", read_only.join(", "));
    }
    if !hidden.is_empty() {
        let _ = writeln!(s, "- Not accessible: {}", hidden.join(", "));
    }
    let _ = writeln!(
        s,
        "- Scope changes while you run (a child takes part of it, or gives it back); notices tell you when."
    );
    let _ = writeln!(s, "\n# Tools\n");
    let mut tools: Vec<&ToolSpec> = p.tools.iter().collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    for t in tools {
        let first = t.description.split(". ").next().unwrap_or_default();
        let first = first.trim_end_matches('.');
        let _ = writeln!(s, "- `{}`: {first}.", t.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolbox::ToolRunner;

    #[test]
    fn git_status_is_parsed_and_capped() {
        let mut out = String::from("## main...origin/main [ahead 1]\n");
        for i in 0..25 {
            out.push_str(&format!(" M f{i}.rs\n"));
        }
        let g = parse_git_status(&out).unwrap();
        assert_eq!(g.branch, "main");
        assert_eq!(g.changes.len(), GIT_STATUS_LINES);
        assert_eq!(g.more, 5);
        let g = parse_git_status("## HEAD (no branch)\n").unwrap();
        assert_eq!(g.branch, "HEAD (detached)");
        let g = parse_git_status("## No commits yet on trunk\n").unwrap();
        assert_eq!(g.branch, "trunk");
    }

    fn manifest() -> Manifest {
        let rule = |p: &str, a| scope::ScopeRule::new(p, a, true).unwrap();
        Manifest {
            pins: Default::default(),
            provider: "anthropic".into(),
            dialect: None,
            reasoning_echo: Default::default(),
            base_url: "http://127.0.0.1:1".into(),
            api_key_env: None,
            model: "claude-sonnet-4-5".into(),
            max_output_tokens: None,
            headers: Default::default(),
            idle_timeout_secs: None,
            call_limits: Default::default(),
            max_attempts: None,
            system_prompt_source: "default".into(),
            allow_unconfined_shell: false,
            tools: crate::toolbox::available_tools()
                .iter()
                .map(|s| s.to_string())
                .collect(),
            scope: scope::Scope {
                allow: vec![
                    rule("/work/repo", scope::Access::Write),
                    rule("/opt/docs", scope::Access::Read),
                ],
                deny: vec![rule("/work/repo/vendor", scope::Access::Write)],
            },
            cwd: "/work/repo".into(),
            agent: crate::settings::AgentSettings {
                append_system_prompt: Some("Prefer small commits.".into()),
                ..Default::default()
            },
            work: None,
            workflow: None,
            mcp_servers: Default::default(),
            permissions: Default::default(),
            hooks: Default::default(),
        }
    }

    /// The whole prompt, as a reviewer reads it: a change to the wording, the
    /// sections or the tool list shows up as a snapshot diff.
    #[test]
    fn the_prompt_of_a_child_pod() {
        let m = manifest();
        let mut tools = crate::process::tools_of(
            &m,
            &pod_ids::Roots::under(std::path::Path::new("/nonexistent")),
        )
        .specs();
        tools.extend(crate::children::tools::child_specs());
        tools.push(crate::plan::spec());
        let env = Environment {
            os: "Debian GNU/Linux 12 (bookworm)".into(),
            date: "2026-12-02".into(),
            shell: "bash".into(),
            git: Some(GitState {
                branch: "main".into(),
                changes: vec![" M src/lib.rs".into(), "?? notes.txt".into()],
                more: 0,
            }),
        };
        let instructions = Instructions {
            sources: vec![],
            problems: vec![],
            text: "# Project instructions\n\n## /work/repo/AGENTS.md (project)\n\nRun `make test` before answering.".into(),
        };
        let parent = PodName::new("lead").unwrap();
        let prompt = system_prompt(&PromptInputs {
            name: &PodName::new("docs-writer").unwrap(),
            manifest: &m,
            tools: &tools,
            env: &env,
            instructions: &instructions,
            parent: Some(&parent),
            custom_base: None,
        });
        insta::assert_snapshot!(prompt);
    }
}
