//! The model's plan: the `update_plan` tool and where the plan lives.
//!
//! The model sends the whole plan each time (`steps: [{text, status}]`, optional
//! `note`); the runtime checks it and appends it to the session log as
//! `extension{pod.plan, plan}` before answering the call, so the log is the plan's
//! only authority: restore, `pod show` and the TUI read the last such entry of the
//! active segment, and compaction copies it into the new segment (and into the
//! summary input), so a plan survives both.
//!
//! Whole-plan replacement (as Codex's `update_plan` and Claude Code's TodoWrite do)
//! keeps the tool idempotent: a retried or repeated call cannot corrupt the plan.
//! Unlike them, an invalid plan (two steps in progress, empty text) is refused with a
//! message the model can act on, rather than stored.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use session_store::EntryKind;
use transcript::{ToolCall, ToolResult, ToolSpec};

use crate::journal::Journal;
use crate::toolbox::{ToolRun, ToolRunner};

/// `extension` domain of plan entries.
pub const DOMAIN: &str = "pod.plan";
/// The tool's name.
pub const TOOL: &str = "update_plan";
/// Most steps a plan may have.
pub const MAX_STEPS: usize = 50;
/// Longest step text, in characters.
pub const MAX_STEP_CHARS: usize = 400;

/// A step's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not started.
    Pending,
    /// Being worked on (at most one step).
    InProgress,
    /// Finished.
    Done,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// What the step is.
    pub text: String,
    /// Its state.
    pub status: Status,
}

/// The whole plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Steps in order.
    pub steps: Vec<Step>,
    /// A short explanation of the latest change (`null` when none).
    #[serde(default)]
    pub note: Option<String>,
}

impl Plan {
    /// Parses and checks the tool's arguments.
    pub fn from_arguments(args: &str) -> Result<Plan, String> {
        let plan: Plan = serde_json::from_str(args).map_err(|e| {
            format!("invalid arguments: {e}; expected {{\"steps\": [{{\"text\": ..., \"status\": \"pending\"|\"in_progress\"|\"done\"}}], \"note\"?: ...}}")
        })?;
        if plan.steps.len() > MAX_STEPS {
            return Err(format!(
                "a plan has at most {MAX_STEPS} steps (got {}): merge small steps",
                plan.steps.len()
            ));
        }
        if let Some(i) = plan.steps.iter().position(|s| s.text.trim().is_empty()) {
            return Err(format!("step {} has no text", i + 1));
        }
        if let Some(i) = plan
            .steps
            .iter()
            .position(|s| s.text.chars().count() > MAX_STEP_CHARS)
        {
            return Err(format!(
                "step {} is longer than {MAX_STEP_CHARS} characters: keep steps short",
                i + 1
            ));
        }
        let active = plan
            .steps
            .iter()
            .filter(|s| s.status == Status::InProgress)
            .count();
        if active > 1 {
            return Err(format!(
                "{active} steps are in_progress: keep exactly one step in progress at a time"
            ));
        }
        Ok(plan)
    }

    /// Plain text (for `pod show`, the compaction input and the tool's answer).
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (i, step) in self.steps.iter().enumerate() {
            let mark = match step.status {
                Status::Pending => "[ ]",
                Status::InProgress => "[>]",
                Status::Done => "[x]",
            };
            s.push_str(&format!("{mark} {}. {}\n", i + 1, step.text));
        }
        if let Some(n) = &self.note {
            s.push_str(&format!("note: {n}\n"));
        }
        s
    }

    /// The log entry holding this plan.
    pub fn entry(&self) -> EntryKind {
        EntryKind::Extension {
            domain: DOMAIN.into(),
            payload: serde_json::to_value(self).unwrap_or(Value::Null),
        }
    }

    /// The last plan among a segment's `extension` entries.
    pub fn latest<'a>(
        extensions: impl DoubleEndedIterator<Item = (&'a str, &'a Value)>,
    ) -> Option<Plan> {
        extensions
            .rev()
            .find(|(d, _)| *d == DOMAIN)
            .and_then(|(_, v)| serde_json::from_value(v.clone()).ok())
    }
}

/// The current plan of a segment (`None`: no plan, or the segment is unreadable).
pub fn of_segment(
    sessions: &session_store::SessionStore,
    segment: pod_ids::SegmentId,
) -> Option<Plan> {
    let read = sessions.read_segment(segment).ok()?;
    let exts: Vec<(&str, &Value)> = read
        .entries
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::Extension { domain, payload } => Some((domain.as_str(), payload)),
            _ => None,
        })
        .collect();
    Plan::latest(exts.into_iter())
}

/// The tool as offered to the model.
pub fn spec() -> ToolSpec {
    ToolSpec {
        name: TOOL.into(),
        description: "Record your plan for a task of several steps. Send the whole plan every time (it replaces the previous one); keep exactly one step in_progress while working and mark steps done as you finish them. The user sees the plan beside the conversation, and it is kept when the conversation is compacted.".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "steps": {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string"},
                        "status": {"type": "string", "enum": ["pending", "in_progress", "done"]}
                    },
                    "required": ["text", "status"]
                }},
                "note": {"type": "string", "description": "why the plan changed (optional)"}
            },
            "required": ["steps"]
        }),
    }
}

/// The Pod's tools plus `update_plan`, which this runner answers itself.
pub struct PlanTools {
    inner: Arc<dyn ToolRunner>,
    journal: Journal,
}

impl PlanTools {
    /// Wraps `inner`; plans are appended through `journal`.
    pub fn new(inner: Arc<dyn ToolRunner>, journal: Journal) -> Self {
        PlanTools { inner, journal }
    }
}

impl ToolRunner for PlanTools {
    fn specs(&self) -> Vec<ToolSpec> {
        let mut s = self.inner.specs();
        s.push(spec());
        s
    }

    fn run(&self, call: ToolCall) -> BoxFuture<'static, ToolRun> {
        if call.name != TOOL {
            return self.inner.run(call);
        }
        let (output, is_error) = match Plan::from_arguments(&call.arguments) {
            // Durable before the model hears "updated" (ARCHITECTURE §2: what the
            // model is told is in the log first).
            Ok(plan) => match self.journal.record(
                &plan.entry(),
                Some(protocol::Event::PlanUpdated {
                    plan: serde_json::to_value(&plan).unwrap_or(Value::Null),
                }),
            ) {
                Ok(()) => (format!("plan updated:\n{}", plan.render()), false),
                Err(e) => (format!("error: the plan could not be recorded: {e}"), true),
            },
            Err(e) => (format!("error: {e}"), true),
        };
        let result = ToolResult {
            call_id: call.call_id,
            name: call.name,
            output,
            is_error,
        };
        Box::pin(async move { result.into() })
    }

    fn attach(
        &self,
        attachment: &protocol::Attachment,
    ) -> BoxFuture<'static, Result<tools::ToolOutput, String>> {
        self.inner.attach(attachment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_checked_and_rendered() {
        let p = Plan::from_arguments(
            r#"{"steps":[{"text":"read","status":"done"},{"text":"fix","status":"in_progress"},{"text":"test","status":"pending"}],"note":"found it"}"#,
        )
        .unwrap();
        assert_eq!(
            p.render(),
            "[x] 1. read\n[>] 2. fix\n[ ] 3. test\nnote: found it\n"
        );
        let two = r#"{"steps":[{"text":"a","status":"in_progress"},{"text":"b","status":"in_progress"}]}"#;
        assert!(Plan::from_arguments(two).unwrap_err().contains("one step"));
        assert!(Plan::from_arguments(r#"{"steps":[{"text":" ","status":"done"}]}"#).is_err());
        assert!(Plan::from_arguments(r#"{"steps":[{"text":"a","status":"started"}]}"#).is_err());
        assert!(
            Plan::from_arguments("not json")
                .unwrap_err()
                .contains("expected")
        );
    }

    #[test]
    fn the_latest_plan_wins() {
        let a = Plan::from_arguments(r#"{"steps":[{"text":"a","status":"pending"}]}"#).unwrap();
        let b = Plan::from_arguments(r#"{"steps":[{"text":"b","status":"done"}]}"#).unwrap();
        let exts = [
            (DOMAIN.to_owned(), serde_json::to_value(&a).unwrap()),
            ("other".to_owned(), json!({})),
            (DOMAIN.to_owned(), serde_json::to_value(&b).unwrap()),
        ];
        let got = Plan::latest(exts.iter().map(|(d, v)| (d.as_str(), v)));
        assert_eq!(got, Some(b));
    }
}
