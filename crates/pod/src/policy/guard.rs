//! The guard in front of every tool call (built-in, child, plan, MCP): permission
//! rules, then `pre_tool_use` hooks, then an approval where one is needed, then the
//! call, then `post_tool_use` hooks. It wraps the whole [`ToolRunner`] stack, so a
//! tool added below it (an MCP server's `mcp__NAME__TOOL`) is guarded by name
//! without knowing about it.
//!
//! Order and what wins: a deny rule ends it (hooks are not run); a hook's block
//! ends it; a hook's rewritten arguments are checked against the rules again; an
//! `ask` (rule or hook) waits for an approval unless a hook allowed the call
//! explicitly — but no hook and no approval ever overrides a deny rule.

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use protocol::{ApprovalDecision, ApprovalRequest};
use serde_json::{Value, json};
use transcript::{ToolCall, ToolResult, ToolSpec};

use super::approvals::Approvals;
use super::hooks::{HookEvent, HookRunner};
use super::rules::{Decision, Policy, Subject};
use crate::children::Children;
use crate::toolbox::{ToolRun, ToolRunner};

/// The tool a parent answers its children's approval requests with.
pub const ANSWER_APPROVAL: &str = "answer_approval";

/// Everything a guarded call needs.
pub struct Guard {
    /// The tools below.
    pub inner: Arc<dyn ToolRunner>,
    /// The Pod's rules.
    pub policy: Policy,
    /// Its hooks.
    pub hooks: HookRunner,
    /// Its approvals.
    pub approvals: Arc<Approvals>,
    /// Its working directory (canonical).
    pub cwd: PathBuf,
    /// Its children (their approval requests).
    pub children: Arc<Children>,
}

/// The `answer_approval` spec.
pub fn answer_approval_spec() -> ToolSpec {
    ToolSpec {
        name: ANSWER_APPROVAL.into(),
        description: "Answer a child Pod's approval request (an `approval_requested` notice): `once` runs that call, `always` also every later call with the same command or path in that child, `deny` refuses it with your `reason` as the child's tool result. You can approve only what your own permission rules allow; if they would ask, your user is asked first.".into(),
        parameters: json!({"type": "object", "properties": {
            "pod": {"type": "string", "description": "the child's name"},
            "approval": {"type": "integer", "description": "the id from the notice (default: the child's oldest waiting request)"},
            "decision": {"type": "string", "enum": ["once", "always", "deny"]},
            "reason": {"type": "string"}
        }, "required": ["pod", "decision"]}),
    }
}

fn result(call: &ToolCall, output: String, is_error: bool) -> ToolResult {
    ToolResult {
        call_id: call.call_id.clone(),
        name: call.name.clone(),
        output,
        is_error,
    }
}

impl Guard {
    async fn run_guarded(self: Arc<Self>, mut call: ToolCall) -> ToolRun {
        let mut args: Value = if call.arguments.trim().is_empty() {
            json!({})
        } else {
            match serde_json::from_str(&call.arguments) {
                Ok(v) => v,
                // The tool reports malformed arguments itself; rules see `{}`.
                Err(_) => json!({}),
            }
        };
        let mut subject = Subject::of(&call.name, &args, &self.cwd);
        let (mut decision, mut rule) = self.policy.decide(&subject);
        if decision == Decision::Deny {
            return self.deny_by_rule(&call, &subject, rule).into();
        }
        let mut remarks: Vec<String> = Vec::new();
        let mut hook_allowed = false;
        let mut hook_ask = None;
        if self.hooks.has(HookEvent::PreToolUse) {
            let v = self
                .hooks
                .run(
                    HookEvent::PreToolUse,
                    Some(&subject),
                    json!({"tool_name": call.name, "tool_input": args, "tool_use_id": call.call_id}),
                )
                .await;
            remarks.extend(v.problems.iter().map(|p| format!("[hook problem: {p}]")));
            if let Some(reason) = v.block {
                return result(&call, reason, true).into();
            }
            if let Some(new) = v.updated_input {
                args = new;
                call.arguments = args.to_string();
                subject = Subject::of(&call.name, &args, &self.cwd);
                (decision, rule) = self.policy.decide(&subject);
                if decision == Decision::Deny {
                    return self.deny_by_rule(&call, &subject, rule).into();
                }
                remarks.push(format!(
                    "[a pre_tool_use hook rewrote the arguments to: {}]",
                    crate::children::cap(&call.arguments, 2000)
                ));
            }
            hook_allowed = v.allow;
            hook_ask = v.ask;
        }
        let why = match (hook_ask, decision) {
            (Some(h), _) => Some(format!("pre_tool_use hook: {h}")),
            (None, Decision::Ask) if !hook_allowed => Some(match &rule {
                Some(r) => format!("rule ask: {r}"),
                None => "default: ask".into(),
            }),
            _ => None,
        };
        if let Some(why) = why {
            let request = ApprovalRequest {
                id: 0,
                tool: call.name.clone(),
                arguments: args.clone(),
                subject: subject.text.clone(),
                why,
                cwd: self.cwd.clone(),
            };
            if let Err(denied) = self.approvals.ask(request, &subject.always_key()).await {
                return result(&call, denied, true).into();
            }
        }
        let mut ran: ToolRun = if call.name == ANSWER_APPROVAL {
            self.answer_child(&call, &args).await.into()
        } else {
            self.inner.run(call.clone()).await
        };
        let out = &mut ran.result;
        if self.hooks.has(HookEvent::PostToolUse) {
            let v = self
                .hooks
                .run(
                    HookEvent::PostToolUse,
                    Some(&subject),
                    json!({
                        "tool_name": call.name,
                        "tool_input": args,
                        "tool_use_id": call.call_id,
                        "tool_response": {"output": out.output, "is_error": out.is_error},
                    }),
                )
                .await;
            remarks.extend(v.problems.iter().map(|p| format!("[hook problem: {p}]")));
            remarks.extend(v.notes.iter().map(|n| format!("[post_tool_use hook] {n}")));
        }
        for r in remarks {
            if !out.output.ends_with('\n') && !out.output.is_empty() {
                out.output.push('\n');
            }
            out.output.push_str(&r);
        }
        ran
    }

    fn deny_by_rule(&self, call: &ToolCall, subject: &Subject, rule: Option<String>) -> ToolResult {
        let why = rule.map_or("the default is deny".to_string(), |r| {
            format!("deny rule `{r}`")
        });
        self.approvals.note(&call.name, &subject.text, "deny", &why);
        result(
            call,
            format!(
                "denied by this Pod's permission rules ({why}); this call will not run. Do something else or tell the user."
            ),
            true,
        )
    }

    /// `answer_approval`: only what this Pod's own rules would let it run itself
    /// (an `ask` of ours asks our user first, which the caller did above for
    /// the tool itself — here for the child's call).
    async fn answer_child(&self, call: &ToolCall, args: &Value) -> ToolResult {
        let s = |k: &str| args.get(k).and_then(Value::as_str);
        let (Some(pod), Some(decision)) = (s("pod"), s("decision")) else {
            return result(call, "error: pass pod and decision".into(), true);
        };
        let id = args.get("approval").and_then(Value::as_u64);
        let decision = match decision {
            "once" => ApprovalDecision::Once,
            "always" => ApprovalDecision::Always,
            "deny" => ApprovalDecision::Deny,
            d => {
                return result(
                    call,
                    format!("error: decision {d:?}: use once, always or deny"),
                    true,
                );
            }
        };
        let Ok(child) = pod_ids::PodName::new(pod) else {
            return result(call, format!("error: {pod:?} is not a Pod name"), true);
        };
        let Some(req) = self.children.approval_request(&child, id).await else {
            let which = id.map_or("an approval".into(), |i| format!("approval {i}"));
            return result(
                call,
                format!(
                    "error: child {child} has no {which} waiting (answered, withdrawn, or never asked)"
                ),
                true,
            );
        };
        let id = req.id;
        if decision != ApprovalDecision::Deny {
            // A parent cannot approve for a child what it may not do itself.
            let subject = Subject::of(&req.tool, &req.arguments, &req.cwd);
            match self.policy.decide(&subject) {
                (Decision::Deny, rule) => {
                    return result(
                        call,
                        format!(
                            "error: your own permission rules deny this call ({}); you cannot approve it for {child}. Deny it with a reason instead.",
                            rule.unwrap_or_else(|| "default deny".into())
                        ),
                        true,
                    );
                }
                (Decision::Ask, rule) => {
                    let mine = ApprovalRequest {
                        id: 0,
                        tool: req.tool.clone(),
                        arguments: req.arguments.clone(),
                        subject: subject.text.clone(),
                        why: format!(
                            "child {child} asks; your rules ask too ({})",
                            rule.unwrap_or_else(|| "default ask".into())
                        ),
                        cwd: req.cwd.clone(),
                    };
                    if let Err(denied) = self.approvals.ask(mine, &subject.always_key()).await {
                        return result(call, format!("not approved for {child}: {denied}"), true);
                    }
                }
                (Decision::Allow, _) => {}
            }
        }
        let reason = s("reason").map(str::to_string);
        match self
            .children
            .answer_approval(&child, id, decision, reason)
            .await
        {
            Ok(t) => result(call, t, false),
            Err(e) => result(call, format!("error: {e}"), true),
        }
    }
}

/// The guard as the Pod's tool runner.
#[derive(Clone)]
pub struct GuardedTools(pub Arc<Guard>);

impl ToolRunner for GuardedTools {
    fn specs(&self) -> Vec<ToolSpec> {
        let mut s = self.0.inner.specs();
        s.push(answer_approval_spec());
        s
    }

    fn run(&self, call: ToolCall) -> BoxFuture<'static, ToolRun> {
        Box::pin(self.0.clone().run_guarded(call))
    }

    fn attach(
        &self,
        attachment: &protocol::Attachment,
    ) -> BoxFuture<'static, Result<tools::ToolOutput, String>> {
        // The user's own attachment is not a model's tool call: no rules or hooks.
        self.0.inner.attach(attachment)
    }
}
