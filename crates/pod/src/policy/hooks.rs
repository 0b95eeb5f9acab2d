//! Hooks: the user's commands run at points of a Pod's life, with the event as JSON
//! on stdin, in Claude Code's convention so existing hook scripts work:
//!
//! - exit 0: go on; stdout may hold a JSON answer (below), else it is ignored
//!   (`session_start`/`user_prompt_submit`: plain stdout is context for the model);
//! - exit 2: block; stderr is the reason (a denied tool call's result, a blocked
//!   prompt's message, a `stop` hook's instruction to continue, a `post_tool_use`
//!   note for the model);
//! - any other exit, a timeout, a hook that cannot start: reported, and the call
//!   goes on (unless the hook says `fail_closed = true`).
//!
//! JSON answers: `{"decision": "block"|"approve", "reason": …}`,
//! `{"continue": false, "stopReason": …}`, and `hookSpecificOutput` with
//! `permissionDecision` (`allow`/`deny`/`ask`), `permissionDecisionReason`,
//! `updatedInput` (new tool arguments) and `additionalContext` (a note for the
//! model). Unknown keys are ignored.
//!
//! Every hook runs under the Pod's sandbox (`tools::run_confined`: Landlock from the
//! current effective scope, the mount layer, the Pod's scrubbed environment), with a
//! timeout after which its process group is killed; every decision is recorded in
//! the session log (`extension{pod.hook}`).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use session_store::EntryKind;

use super::rules::Rule;
use crate::journal::Journal;

/// Session-log domain of hook decisions.
pub const HOOK_DOMAIN: &str = "pod.hook";

/// Default timeout of one hook.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// One configured hook (`[[hooks.EVENT]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookSpec {
    /// Which tool calls (tool events) it runs for: rule syntax (`bash`,
    /// `bash(git *)`, `mcp__github__*`), alternatives separated by `|`
    /// (`write_file|edit_file`); absent or `*`: every call. Ignored by other events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matcher: Option<String>,
    /// Run with `bash -c` in the Pod's working directory.
    pub command: String,
    /// Seconds before it is killed (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// A hook that fails (crash, timeout, bad exit) blocks instead of letting the
    /// call go on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fail_closed: bool,
}

/// The hooks of every event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// A Pod starts or is restored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session_start: Vec<HookSpec>,
    /// User input is about to be given to the model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_prompt_submit: Vec<HookSpec>,
    /// A tool call is about to run (after the permission rules).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_tool_use: Vec<HookSpec>,
    /// A tool call returned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_tool_use: Vec<HookSpec>,
    /// The model finished a run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<HookSpec>,
    /// A child Pod reported the end of a run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub child_finished: Vec<HookSpec>,
}

/// Hook events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookEvent {
    /// See [`Hooks::session_start`].
    SessionStart,
    /// See [`Hooks::user_prompt_submit`].
    UserPromptSubmit,
    /// See [`Hooks::pre_tool_use`].
    PreToolUse,
    /// See [`Hooks::post_tool_use`].
    PostToolUse,
    /// See [`Hooks::stop`].
    Stop,
    /// See [`Hooks::child_finished`].
    ChildFinished,
}

impl HookEvent {
    /// The config key (`pre_tool_use`).
    pub fn key(self) -> &'static str {
        match self {
            HookEvent::SessionStart => "session_start",
            HookEvent::UserPromptSubmit => "user_prompt_submit",
            HookEvent::PreToolUse => "pre_tool_use",
            HookEvent::PostToolUse => "post_tool_use",
            HookEvent::Stop => "stop",
            HookEvent::ChildFinished => "child_finished",
        }
    }

    /// Claude Code's name (`PreToolUse`), sent as `hook_event_name`.
    pub fn claude_name(self) -> &'static str {
        match self {
            HookEvent::SessionStart => "SessionStart",
            HookEvent::UserPromptSubmit => "UserPromptSubmit",
            HookEvent::PreToolUse => "PreToolUse",
            HookEvent::PostToolUse => "PostToolUse",
            HookEvent::Stop => "Stop",
            HookEvent::ChildFinished => "SubagentStop",
        }
    }
}

impl Hooks {
    /// The hooks of `event`.
    pub fn of(&self, event: HookEvent) -> &[HookSpec] {
        match event {
            HookEvent::SessionStart => &self.session_start,
            HookEvent::UserPromptSubmit => &self.user_prompt_submit,
            HookEvent::PreToolUse => &self.pre_tool_use,
            HookEvent::PostToolUse => &self.post_tool_use,
            HookEvent::Stop => &self.stop,
            HookEvent::ChildFinished => &self.child_finished,
        }
    }

    /// Whether no hook is configured.
    pub fn is_empty(&self) -> bool {
        *self == Hooks::default()
    }

    /// Appends `later`'s hooks (config layers add hooks, never remove them).
    pub fn extend(&mut self, later: Hooks) {
        self.session_start.extend(later.session_start);
        self.user_prompt_submit.extend(later.user_prompt_submit);
        self.pre_tool_use.extend(later.pre_tool_use);
        self.post_tool_use.extend(later.post_tool_use);
        self.stop.extend(later.stop);
        self.child_finished.extend(later.child_finished);
    }

    /// Checks matchers and commands; the error names the event and the hook.
    pub fn validate(&self) -> Result<(), String> {
        for ev in ALL_EVENTS {
            for (i, h) in self.of(ev).iter().enumerate() {
                let at = format!("hooks.{}[{i}]", ev.key());
                if h.command.trim().is_empty() {
                    return Err(format!("{at}: `command` is empty"));
                }
                if let Some(m) = &h.matcher {
                    for alt in alternatives(m) {
                        if alt != "*" && !alt.is_empty() {
                            Rule::parse(alt).map_err(|e| format!("{at}: matcher {m:?}: {e}"))?;
                        }
                    }
                }
                if h.timeout_secs == Some(0) {
                    return Err(format!("{at}: timeout_secs must be at least 1"));
                }
            }
        }
        Ok(())
    }
}

const ALL_EVENTS: [HookEvent; 6] = [
    HookEvent::SessionStart,
    HookEvent::UserPromptSubmit,
    HookEvent::PreToolUse,
    HookEvent::PostToolUse,
    HookEvent::Stop,
    HookEvent::ChildFinished,
];

/// `a|b(x|y)|c` → `a`, `b(x|y)`, `c`: splits at `|` outside parentheses.
fn alternatives(m: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in m.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '|' if depth == 0 => {
                out.push(m[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(m[start..].trim());
    out
}

impl HookSpec {
    /// Whether the hook runs for `subject` (tool events; other events: always).
    pub fn matches(&self, subject: Option<&super::rules::Subject>) -> bool {
        let (Some(m), Some(s)) = (&self.matcher, subject) else {
            return true;
        };
        alternatives(m).into_iter().any(|alt| {
            alt.is_empty() || alt == "*" || Rule::parse(alt).is_ok_and(|r| r.matches(s, false))
        })
    }
}

/// What hooks of one event said, folded together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// Some hook blocked (exit 2, `decision: block`, `permissionDecision: deny`,
    /// `continue: false`, or a failing `fail_closed` hook); the reason.
    pub block: Option<String>,
    /// A hook asked for an approval (`permissionDecision: ask`).
    pub ask: Option<String>,
    /// A hook allowed explicitly (`permissionDecision: allow`, `decision: approve`):
    /// no approval is asked, but deny rules still apply.
    pub allow: bool,
    /// New tool arguments (`updatedInput`), the last hook's.
    pub updated_input: Option<Value>,
    /// Notes for the model (`additionalContext`, plain stdout where that counts).
    pub notes: Vec<String>,
    /// Problems to report (failed, timed out, unreadable answers).
    pub problems: Vec<String>,
}

/// Runs hooks for a Pod: where, under which sandbox, and where decisions are logged.
#[derive(Clone)]
pub struct HookRunner {
    hooks: std::sync::Arc<Hooks>,
    ctx: tools::ToolContext,
    journal: Journal,
    base: Value,
}

impl HookRunner {
    /// Hooks of a Pod; `ctx` is the Pod's tool context (its live effective scope,
    /// cwd, scrubbed environment and shell settings), `base` the fields every event
    /// carries (`session_id`, `pod`, `cwd`).
    pub fn new(hooks: Hooks, ctx: tools::ToolContext, journal: Journal, base: Value) -> Self {
        HookRunner {
            hooks: std::sync::Arc::new(hooks),
            ctx,
            journal,
            base,
        }
    }

    /// Whether any hook is configured for `event`.
    pub fn has(&self, event: HookEvent) -> bool {
        !self.hooks.of(event).is_empty()
    }

    /// Runs the hooks of `event` that match `subject`, one after another (a later
    /// hook sees the arguments an earlier one rewrote), and folds their answers.
    /// `fields` are the event's own fields (`tool_name`, `tool_input`, `prompt`, …).
    pub async fn run(
        &self,
        event: HookEvent,
        subject: Option<&super::rules::Subject>,
        mut fields: Value,
    ) -> Verdict {
        let mut verdict = Verdict::default();
        for spec in self.hooks.of(event) {
            if !spec.matches(subject) {
                continue;
            }
            if let Some(input) = &verdict.updated_input
                && let Some(obj) = fields.as_object_mut()
            {
                obj.insert("tool_input".into(), input.clone());
            }
            let mut payload = self.base.clone();
            if let (Some(p), Some(f)) = (payload.as_object_mut(), fields.as_object()) {
                p.insert("hook_event_name".into(), event.claude_name().into());
                p.insert("pod_event".into(), event.key().into());
                p.extend(f.clone());
            }
            let started = Instant::now();
            let outcome = self.run_one(spec, event, &payload).await;
            let ms = started.elapsed().as_millis() as u64;
            let record = self.fold(spec, event, outcome, &mut verdict);
            self.record(event, spec, subject, ms, record);
            if verdict.block.is_some() {
                break;
            }
        }
        verdict
    }

    async fn run_one(
        &self,
        spec: &HookSpec,
        event: HookEvent,
        payload: &Value,
    ) -> Result<tools::ConfinedRun, String> {
        let timeout = spec
            .timeout_secs
            .map_or(DEFAULT_HOOK_TIMEOUT, Duration::from_secs);
        let input = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
        let cwd = self.ctx.cwd.display().to_string();
        let env = [
            ("POD_HOOK_EVENT", event.key().to_string()),
            ("POD_PROJECT_DIR", cwd.clone()),
            // Scripts written for Claude Code find the project here.
            ("CLAUDE_PROJECT_DIR", cwd),
        ];
        tools::run_confined(&self.ctx, &spec.command, &input, &env, timeout)
            .await
            .map_err(|e| e.to_string())
    }

    /// Folds one hook's outcome into `v`; returns what is recorded about it.
    fn fold(
        &self,
        spec: &HookSpec,
        event: HookEvent,
        outcome: Result<tools::ConfinedRun, String>,
        v: &mut Verdict,
    ) -> Value {
        let failed = |v: &mut Verdict, why: String| {
            let msg = format!("{} hook `{}` {why}", event.key(), short(&spec.command));
            if spec.fail_closed {
                v.block = Some(format!(
                    "{msg} (the hook is fail_closed, so this is blocked)"
                ));
            }
            v.problems.push(msg.clone());
            json!({"outcome": "failed", "why": why, "blocked": spec.fail_closed})
        };
        let run = match outcome {
            Ok(r) => r,
            Err(e) => return failed(v, format!("could not run: {e}")),
        };
        if run.timed_out {
            let secs = spec
                .timeout_secs
                .map_or(DEFAULT_HOOK_TIMEOUT.as_secs(), |s| s);
            return failed(v, format!("timed out after {secs} s and was killed"));
        }
        match run.code {
            Some(2) => {
                let reason = run.stderr.trim();
                let reason = if reason.is_empty() {
                    format!("blocked by {} hook `{}`", event.key(), short(&spec.command))
                } else {
                    reason.to_string()
                };
                if event == HookEvent::PostToolUse {
                    // The call already ran: exit 2 is feedback for the model.
                    v.notes.push(reason.clone());
                    json!({"outcome": "note", "exit": 2, "note": reason})
                } else {
                    v.block = Some(reason.clone());
                    json!({"outcome": "block", "exit": 2, "reason": reason})
                }
            }
            Some(0) => self.fold_answer(event, &run.stdout, v),
            Some(c) => failed(v, format!("exited with {c}: {}", short(run.stderr.trim()))),
            None => failed(v, "was killed by a signal".into()),
        }
    }

    fn fold_answer(&self, event: HookEvent, stdout: &str, v: &mut Verdict) -> Value {
        let text = stdout.trim();
        let parsed: Option<Value> = text
            .starts_with('{')
            .then(|| serde_json::from_str(text).ok())
            .flatten();
        let Some(answer) = parsed else {
            let context_events = [HookEvent::SessionStart, HookEvent::UserPromptSubmit];
            if !text.is_empty() && context_events.contains(&event) {
                v.notes.push(text.to_string());
                return json!({"outcome": "note", "exit": 0, "note": text});
            }
            return json!({"outcome": "ok", "exit": 0});
        };
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let specific = answer
            .get("hookSpecificOutput")
            .cloned()
            .unwrap_or(Value::Null);
        let reason = s(&specific, "permissionDecisionReason")
            .or_else(|| s(&answer, "reason"))
            .or_else(|| s(&answer, "stopReason"));
        let blocked_by = |what: &str| {
            reason
                .clone()
                .unwrap_or_else(|| format!("{what} by a {} hook", event.key()))
        };
        match s(&specific, "permissionDecision").as_deref() {
            Some("deny") => v.block = Some(blocked_by("denied")),
            Some("ask") => v.ask = Some(blocked_by("approval asked")),
            Some("allow") => v.allow = true,
            _ => {}
        }
        match s(&answer, "decision").as_deref() {
            Some("block") if event == HookEvent::PostToolUse => {
                v.notes.push(blocked_by("flagged"));
            }
            Some("block") => v.block = Some(blocked_by("blocked")),
            Some("approve") => v.allow = true,
            _ => {}
        }
        if answer.get("continue") == Some(&Value::Bool(false)) && v.block.is_none() {
            v.block = Some(blocked_by("stopped"));
        }
        if let Some(input) = specific.get("updatedInput").filter(|i| i.is_object()) {
            v.updated_input = Some(input.clone());
        }
        if let Some(c) = s(&specific, "additionalContext").filter(|c| !c.trim().is_empty()) {
            v.notes.push(c);
        }
        json!({"outcome": "answer", "exit": 0, "answer": answer})
    }

    fn record(
        &self,
        event: HookEvent,
        spec: &HookSpec,
        subject: Option<&super::rules::Subject>,
        ms: u64,
        mut what: Value,
    ) {
        if let Some(o) = what.as_object_mut() {
            o.insert("event".into(), event.key().into());
            o.insert("command".into(), spec.command.clone().into());
            o.insert("ms".into(), ms.into());
            if let Some(s) = subject {
                o.insert("tool".into(), s.tool.clone().into());
            }
        }
        let entry = EntryKind::Extension {
            domain: HOOK_DOMAIN.into(),
            payload: what,
        };
        if let Err(e) = self.journal.record(&entry, None) {
            tracing::warn!(error = %e, "cannot record a hook decision");
        }
    }
}

/// Records a hook's note as a notice the model sees (in the log first, then in the
/// conversation).
pub fn give_note(
    journal: &Journal,
    history: &mut Vec<transcript::Item>,
    event: HookEvent,
    note: &str,
) -> Result<(), session_store::StoreError> {
    let text = format!("[{} hook] {note}", event.key());
    journal.record(
        &EntryKind::SystemItem { text: text.clone() },
        Some(protocol::Event::Notice { text: text.clone() }),
    )?;
    history.push(transcript::Item::Notice { text });
    Ok(())
}

/// Runs the `session_start` hooks of a starting (or restored) Pod before its
/// controller exists; their notes become notices of the conversation, their
/// problems are returned for the lifecycle entry.
pub async fn session_start(
    hooks: &HookRunner,
    resumed: bool,
    journal: &Journal,
    conv: &mut crate::turn::Conversation,
) -> Result<Vec<String>, session_store::StoreError> {
    if !hooks.has(HookEvent::SessionStart) {
        return Ok(Vec::new());
    }
    let source = if resumed { "resume" } else { "startup" };
    let v = hooks
        .run(HookEvent::SessionStart, None, json!({"source": source}))
        .await;
    for n in &v.notes {
        give_note(journal, &mut conv.history, HookEvent::SessionStart, n)?;
    }
    Ok(v.problems.into_iter().chain(v.block).collect())
}

fn short(s: &str) -> String {
    crate::children::cap(s, 200)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn matcher_alternatives_split_outside_parentheses() {
        assert_eq!(alternatives("a|b(x|y)|c"), ["a", "b(x|y)", "c"]);
        let h = HookSpec {
            matcher: Some("write_file|bash(git *)".into()),
            command: "true".into(),
            timeout_secs: None,
            fail_closed: false,
        };
        let cwd = std::path::Path::new("/");
        let s = |t: &str, a: Value| super::super::rules::Subject::of(t, &a, cwd);
        assert!(h.matches(Some(&s("bash", json!({"command": "git push"})))));
        assert!(!h.matches(Some(&s("bash", json!({"command": "ls"})))));
        assert!(h.matches(Some(&s("write_file", json!({"path": "x"})))));
        assert!(h.matches(None));
    }

    #[test]
    fn validation_names_the_hook() {
        let mut h = Hooks::default();
        h.pre_tool_use.push(HookSpec {
            matcher: Some("bash(".into()),
            command: "x".into(),
            timeout_secs: None,
            fail_closed: false,
        });
        let e = h.validate().unwrap_err();
        assert!(e.starts_with("hooks.pre_tool_use[0]: matcher"), "{e}");
    }
}
