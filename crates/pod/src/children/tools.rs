//! The model-facing child tools (`spawn_pod`, `stop_pod`, `list_pods`, ...) next to
//! the file and shell tools: [`PodTools`] answers the child tools itself and hands
//! every other call to the scoped `tools` crate set.

use std::sync::Arc;

use futures::future::BoxFuture;
use pod_ids::PodName;
use serde_json::json;
use transcript::{ToolCall, ToolSpec};

use super::{Children, SpawnArgs, fmt_rules};
use crate::toolbox::{ScopedTools, ToolRun, ToolRunner};

/// Names of the child tools.
pub const CHILD_TOOLS: &[&str] = &[
    "spawn_pod",
    "stop_pod",
    "list_pods",
    "send_to_pod",
    "read_pod_output",
    "wait_pod",
];

/// File/shell tools plus the child tools.
#[derive(Clone)]
pub struct PodTools {
    inner: ScopedTools,
    children: Arc<Children>,
}

impl PodTools {
    /// Tools of a Pod with children support.
    pub fn new(inner: ScopedTools, children: Arc<Children>) -> Self {
        PodTools { inner, children }
    }
}

fn spec(name: &str, description: &str, parameters: serde_json::Value) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: description.into(),
        parameters,
    }
}

/// The child tools' specs.
pub fn child_specs() -> Vec<ToolSpec> {
    vec![
        spec(
            "spawn_pod",
            "Start a child Pod (another agent) on a sub-task. It gets write access to `write` paths (which must be inside your own writable scope and not held by another child); you lose write access there until you stop it. You get a notice when it finishes.",
            json!({"type": "object", "properties": {
                "name": {"type": "string", "description": "lowercase name, [a-z0-9._-]"},
                "task": {"type": "string"},
                "write": {"type": "array", "items": {"type": "string"}},
                "read": {"type": "array", "items": {"type": "string"}},
                "cwd": {"type": "string"},
                "model": {"type": "string"},
                "permissions": {"type": "object", "description": "extra permission rules for the child on top of yours (they can only narrow): {allow, ask, deny: [\"bash(git push*)\", ...], default: allow|ask|deny}", "properties": {
                    "allow": {"type": "array", "items": {"type": "string"}},
                    "ask": {"type": "array", "items": {"type": "string"}},
                    "deny": {"type": "array", "items": {"type": "string"}},
                    "default": {"type": "string", "enum": ["allow", "ask", "deny"]}
                }},
                "work": {"type": "object", "description": "part of your work-item grant: same item, rights among yours", "properties": {
                    "item": {"type": "string"},
                    "rights": {"type": "array", "items": {"type": "string"}},
                    "round": {"type": "integer", "description": "the only review round it may write"}
                }}
            }, "required": ["name", "task"]}),
        ),
        spec(
            "stop_pod",
            "Stop a child Pod; its write scope comes back to you once its process is gone.",
            json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
        ),
        spec(
            "list_pods",
            "List your child Pods with status and scope (stopped and lost children included).",
            json!({"type": "object", "properties": {}}),
        ),
        spec(
            "send_to_pod",
            "Send a message to a child Pod: `queue` (after its current run) or `interrupt` (cancel its current run).",
            json!({"type": "object", "properties": {
                "name": {"type": "string"},
                "message": {"type": "string"},
                "mode": {"type": "string", "enum": ["queue", "interrupt"]}
            }, "required": ["name", "message"]}),
        ),
        spec(
            "read_pod_output",
            "A child Pod's status and its assistant output after `since` (the cursor an earlier call returned).",
            json!({"type": "object", "properties": {
                "name": {"type": "string"},
                "since": {"type": "string"}
            }, "required": ["name"]}),
        ),
        spec(
            "wait_pod",
            "Wait until a child (`name`, or any when omitted) finishes a run or exits, at most `timeout_s` seconds.",
            json!({"type": "object", "properties": {
                "name": {"type": "string"},
                "timeout_s": {"type": "integer"}
            }}),
        ),
    ]
}

impl ToolRunner for PodTools {
    fn specs(&self) -> Vec<ToolSpec> {
        let mut s = self.inner.specs();
        s.extend(child_specs());
        s
    }

    fn run(&self, call: ToolCall) -> BoxFuture<'static, ToolRun> {
        if !CHILD_TOOLS.contains(&call.name.as_str()) {
            return self.inner.run(call);
        }
        let children = self.children.clone();
        Box::pin(async move {
            let out = child_call(&children, &call.name, &call.arguments).await;
            ToolRun::text(call, out)
        })
    }

    fn attach(
        &self,
        attachment: &protocol::Attachment,
    ) -> BoxFuture<'static, Result<tools::ToolOutput, String>> {
        self.inner.attach(attachment)
    }
}

#[derive(serde::Deserialize)]
struct SendArgs {
    name: String,
    message: String,
    #[serde(default)]
    mode: protocol::InputMode,
}

#[derive(serde::Deserialize)]
struct ReadArgs {
    name: String,
    #[serde(default)]
    since: Option<String>,
}

#[derive(serde::Deserialize)]
struct WaitArgs {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    timeout_s: Option<u64>,
}

#[derive(serde::Deserialize)]
struct NameArg {
    name: String,
}

async fn child_call(children: &Arc<Children>, tool: &str, args: &str) -> Result<String, String> {
    let args = if args.trim().is_empty() { "{}" } else { args };
    match tool {
        "spawn_pod" => {
            let a: SpawnArgs =
                serde_json::from_str(args).map_err(|e| format!("bad arguments: {e}"))?;
            // Detached: a cancelled tool call (interrupt, pause) must not abandon a
            // spawn halfway (a running child nobody supervises until the next
            // restore); the spawn completes or cleans up, the result is dropped.
            let c = children.clone();
            tokio::spawn(async move { c.spawn(a).await })
                .await
                .map_err(|e| e.to_string())?
        }
        "stop_pod" => {
            let a: NameArg =
                serde_json::from_str(args).map_err(|e| format!("bad arguments: {e}"))?;
            let name = PodName::new(&a.name).map_err(|e| e.to_string())?;
            // Detached for the same reason: a stop runs to the end once begun.
            let c = children.clone();
            tokio::spawn(async move { c.stop(&name).await })
                .await
                .map_err(|e| e.to_string())?
        }
        "list_pods" => Ok(list(children)),
        "send_to_pod" => {
            let a: SendArgs =
                serde_json::from_str(args).map_err(|e| format!("bad arguments: {e}"))?;
            let name = PodName::new(&a.name).map_err(|e| e.to_string())?;
            children.send(&name, &a.message, a.mode).await
        }
        "read_pod_output" => {
            let a: ReadArgs =
                serde_json::from_str(args).map_err(|e| format!("bad arguments: {e}"))?;
            let name = PodName::new(&a.name).map_err(|e| e.to_string())?;
            children.read_output(&name, a.since.as_deref()).await
        }
        "wait_pod" => {
            let a: WaitArgs =
                serde_json::from_str(args).map_err(|e| format!("bad arguments: {e}"))?;
            let name = match a.name.as_deref().filter(|n| *n != "any") {
                Some(n) => Some(PodName::new(n).map_err(|e| e.to_string())?),
                None => None,
            };
            let t = std::time::Duration::from_secs(a.timeout_s.unwrap_or(300).min(3600));
            children.wait(name.as_ref(), t).await
        }
        other => Err(format!("unknown tool {other}")),
    }
}

fn list(children: &Children) -> String {
    let recs = children.records();
    if recs.is_empty() {
        return "no child Pods".into();
    }
    recs.iter()
        .map(|c| {
            let rules: Vec<_> = c.write.iter().chain(c.read.iter()).cloned().collect();
            // A child reclaimed because it was lost stays listed as lost.
            let status = match (c.status, c.reason.as_deref()) {
                (pod_store::ChildStatus::Reclaimed, Some(r)) if r.starts_with("lost") => {
                    "lost".to_string()
                }
                (s, _) => s.to_string(),
            };
            format!(
                "{} [{}] scope: {}{} (last change {})",
                c.name,
                status,
                fmt_rules(&rules),
                c.reason
                    .as_deref()
                    .map(|r| format!("; {r}"))
                    .unwrap_or_default(),
                c.updated_at
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
