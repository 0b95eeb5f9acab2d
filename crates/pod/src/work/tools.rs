//! The model-facing work-item tools: `work_list`, `work_show` (read any item),
//! `work_comment`, `work_review`, `work_status` (write the one item the Pod's
//! [`WorkGrant`] names, with the rights it lists). [`WorkTools`] answers them and
//! hands every other call to the tools it wraps, like the child and plan tools.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::json;
use transcript::{ToolCall, ToolSpec};
use work_items::{Status, Store, Verdict};

use super::{WorkGrant, WorkRight};
use crate::toolbox::{ToolRun, ToolRunner};

/// Names of the work tools.
pub const WORK_TOOLS: &[&str] = &[
    "work_list",
    "work_show",
    "work_comment",
    "work_review",
    "work_status",
];

/// Most characters of `work_show` output (the artifacts are listed, not inlined).
const SHOW_MAX_CHARS: usize = 60_000;

/// The work tools in front of `inner`.
pub struct WorkTools {
    inner: Arc<dyn ToolRunner>,
    grant: Arc<WorkGrant>,
    author: String,
}

impl WorkTools {
    /// Wraps `inner` for a Pod named `author` holding `grant`.
    pub fn new(inner: Arc<dyn ToolRunner>, grant: WorkGrant, author: &str) -> Self {
        WorkTools {
            inner,
            grant: Arc::new(grant),
            author: author.to_owned(),
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

/// The work tools' specs.
pub fn specs() -> Vec<ToolSpec> {
    let item =
        json!({"type": "string", "description": "item id or slug (default: the item you work on)"});
    vec![
        spec(
            "work_list",
            "List the repository's work items (id, status, title, assignee, last review verdict).",
            json!({"type": "object", "properties": {
                "status": {"type": "string", "enum": ["open", "pending", "closed"]}
            }}),
        ),
        spec(
            "work_show",
            "Show a work item: its description, its thread of events (comments, reviews, status changes) and its artifacts.",
            json!({"type": "object", "properties": {"item": item}}),
        ),
        spec(
            "work_comment",
            "Add a comment to the thread of the item you work on. `role`: comment, plan, decision or implementation_report.",
            json!({"type": "object", "properties": {
                "item": item,
                "role": {"type": "string", "enum": ["comment", "plan", "decision", "implementation_report"]},
                "body": {"type": "string"}
            }, "required": ["body"]}),
        ),
        spec(
            "work_review",
            "Record your review of the item you review: writes the report to artifacts/review.md (review-r2.md, ... for later rounds) opening with the verdict, and a review event in the thread. `request_changes` blocks the merge until a later review approves.",
            json!({"type": "object", "properties": {
                "item": item,
                "verdict": {"type": "string", "enum": ["approve", "request_changes"]},
                "report": {"type": "string", "description": "the review report (Markdown)"}
            }, "required": ["verdict", "report"]}),
        ),
        spec(
            "work_status",
            "Move the item you work on to open or pending (closing is done by the merge).",
            json!({"type": "object", "properties": {
                "item": item,
                "status": {"type": "string", "enum": ["open", "pending"]}
            }, "required": ["status"]}),
        ),
    ]
}

impl ToolRunner for WorkTools {
    fn specs(&self) -> Vec<ToolSpec> {
        let mut s = self.inner.specs();
        s.extend(specs());
        s
    }

    fn run(&self, call: ToolCall) -> BoxFuture<'static, ToolRun> {
        if !WORK_TOOLS.contains(&call.name.as_str()) {
            return self.inner.run(call);
        }
        let grant = self.grant.clone();
        let author = self.author.clone();
        Box::pin(async move {
            let (name, args) = (call.name.clone(), call.arguments.clone());
            // Store operations fsync and may wait for an item's lock.
            let out = tokio::task::spawn_blocking(move || work_call(&grant, &author, &name, &args))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r);
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
struct Args {
    #[serde(default)]
    item: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    verdict: Option<String>,
    #[serde(default)]
    report: Option<String>,
}

/// Runs one work tool call (blocking).
pub fn work_call(
    grant: &WorkGrant,
    author: &str,
    tool: &str,
    args: &str,
) -> Result<String, String> {
    let args = if args.trim().is_empty() { "{}" } else { args };
    let a: Args = serde_json::from_str(args).map_err(|e| format!("bad arguments: {e}"))?;
    let store = Store::open(&grant.store).map_err(|e| e.to_string())?;
    let item_name = a
        .item
        .clone()
        .or_else(|| grant.item.clone())
        .ok_or("name the item (`item`: an id or slug)")?;
    // Every write names the granted item; the check is on the resolved id, so a
    // slug cannot smuggle in another item.
    let writable = |right: WorkRight| -> Result<String, String> {
        let id = store.resolve(&item_name).map_err(|e| e.to_string())?;
        if grant.allows(id.as_str(), right) {
            Ok(id.to_string())
        } else {
            Err(format!(
                "not allowed: this Pod may {} only {} (item {id} is not granted to it)",
                format!("{right:?}").to_lowercase(),
                grant
                    .item
                    .as_deref()
                    .map_or("no item".to_owned(), |i| format!("item {i}"))
            ))
        }
    };
    match tool {
        "work_list" => {
            let statuses = match a.status.as_deref() {
                Some(s) => vec![s.parse::<Status>().map_err(|e| e.to_string())?],
                None => Vec::new(),
            };
            let (items, errors) = store.list(&statuses).map_err(|e| e.to_string())?;
            let mut lines: Vec<String> = items
                .iter()
                .map(|i| {
                    format!(
                        "{} [{}] {}{}{}",
                        i.meta.id,
                        i.meta.status,
                        i.meta.title,
                        i.meta
                            .assignee
                            .as_deref()
                            .map(|a| format!(" (assignee {a})"))
                            .unwrap_or_default(),
                        i.last_verdict()
                            .map(|v| format!(" last review: {v}"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            lines.extend(errors.iter().map(|e| format!("unreadable: {e}")));
            Ok(if lines.is_empty() {
                "no work items".into()
            } else {
                lines.join("\n")
            })
        }
        "work_show" => {
            let it = store.load(&item_name).map_err(|e| e.to_string())?;
            Ok(show(&it))
        }
        "work_comment" => {
            let id = writable(WorkRight::Comment)?;
            let body = a.body.as_deref().ok_or("`body` is required")?;
            let ev = store
                .comment(&id, author, a.role.as_deref().unwrap_or("comment"), body)
                .map_err(|e| e.to_string())?;
            Ok(format!("comment added to {id} at {}", ev.at))
        }
        "work_review" => {
            let id = writable(WorkRight::Review)?;
            let verdict = match a.verdict.as_deref() {
                Some("approve") => Verdict::Approve,
                Some("request_changes" | "request-changes") => Verdict::RequestChanges,
                other => {
                    return Err(format!(
                        "verdict {other:?} is invalid: use approve or request_changes"
                    ));
                }
            };
            let report = a.report.as_deref().ok_or("`report` is required")?;
            let ev = store
                .review_round(&id, author, verdict, report, grant.round)
                .map_err(|e| e.to_string())?;
            Ok(format!(
                "review recorded on {id}: {verdict}, report in {}",
                ev.field("artifact").unwrap_or_default()
            ))
        }
        "work_status" => {
            let id = writable(WorkRight::Status)?;
            let to = match a.status.as_deref() {
                Some("open") => Status::Open,
                Some("pending") => Status::Pending,
                other => {
                    return Err(format!(
                        "status {other:?} is invalid here: use open or pending"
                    ));
                }
            };
            let ev = store
                .set_status(&id, author, to)
                .map_err(|e| e.to_string())?;
            Ok(match ev {
                Some(_) => format!("{id} is now {to}"),
                None => format!("{id} already is {to}"),
            })
        }
        other => Err(format!("unknown tool {other}")),
    }
}

/// An item as the model reads it.
pub fn show(it: &work_items::Item) -> String {
    let m = &it.meta;
    let mut s = format!(
        "{} — {}\nstatus: {}  kind: {}  priority: {}  labels: {}  assignee: {}\n\n{}\n\n## Thread\n",
        m.id,
        m.title,
        m.status,
        m.kind,
        m.priority,
        if m.labels.is_empty() {
            "-".into()
        } else {
            m.labels.join(",")
        },
        m.assignee.as_deref().unwrap_or("-"),
        if it.body.trim().is_empty() {
            "(no description)"
        } else {
            it.body.trim()
        }
    );
    for e in &it.events {
        s.push_str(&e.render());
    }
    s.push_str("## Artifacts\n");
    if it.artifacts.is_empty() {
        s.push_str("(none)\n");
    }
    // Inlined: a coder reads its reviews here, without read scope on the store.
    for a in &it.artifacts {
        let text = std::fs::read_to_string(it.dir.join("artifacts").join(a)).unwrap_or_default();
        s.push_str(&format!("### artifacts/{a}\n{}\n\n", text.trim_end()));
    }
    if s.len() > SHOW_MAX_CHARS {
        let cut = (0..=SHOW_MAX_CHARS)
            .rev()
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        let tail = s.len() - cut;
        s.truncate(cut);
        s.push_str(&format!("\n[... {tail} more bytes cut]\n"));
    }
    s
}
