//! Read-only listings: `pod ls`, `pod logs`, `pod registry`.

use std::process::ExitCode;
use std::time::Duration;

use pod_ids::{PodName, Roots};
use pod_registry::Registry;
use serde::Serialize;
use serde_json::Value;
use session_store::{Entry, EntryKind, SessionStore};
use transcript::Item;

use crate::client::PodClient;
use crate::layout::PodPaths;
use crate::liveness;
use crate::record::{PodRecord, RecordStore};

/// One row of `pod ls --json`.
#[derive(Debug, Serialize)]
pub struct PodRow {
    name: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    parent: Option<String>,
    write: Vec<String>,
    read: Vec<String>,
    session_id: Option<String>,
    segment_id: Option<String>,
    model: String,
}

fn paths_of(rec: &PodRecord, access: scope::Access) -> Vec<String> {
    rec.manifest
        .scope
        .allow
        .iter()
        .filter(|r| r.access == access)
        .map(|r| r.path.as_path().display().to_string())
        .collect()
}

/// Status of a Pod that is not live: `stopped` when its log ends with a clean stop,
/// else `lost`.
fn dead_status(sessions: &SessionStore, rec: &PodRecord) -> &'static str {
    let Some((_, seg)) = rec.active_segment() else {
        return "lost";
    };
    let Ok(read) = sessions.read_segment(seg) else {
        return "lost";
    };
    let stopped = read.entries.iter().rev().find_map(|e| match &e.kind {
        EntryKind::Extension { domain, payload } if domain == crate::LIFECYCLE_DOMAIN => {
            Some(payload.get("event").and_then(Value::as_str) == Some("stopped"))
        }
        _ => None,
    });
    if stopped == Some(true) {
        "stopped"
    } else {
        "lost"
    }
}

async fn live_state(roots: &Roots, name: &PodName) -> Option<&'static str> {
    let sock = PodPaths::new(roots, name).socket();
    let c = tokio::time::timeout(Duration::from_secs(2), PodClient::connect(&sock, None)).await;
    match c {
        Ok(Ok(c)) => Some(match c.status.state {
            protocol::PodState::Idle => "idle",
            protocol::PodState::Running => "running",
            protocol::PodState::Paused => "paused",
        }),
        _ => None,
    }
}

/// Rows for every Pod with a record.
pub async fn rows(roots: &Roots) -> (Vec<PodRow>, Vec<String>) {
    let records = RecordStore::new(roots.pods.clone());
    let sessions = SessionStore::new(roots.sessions.clone());
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for r in records.list() {
        let rec = match r {
            Ok(r) => r,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        let live = liveness::probe(&PodPaths::new(roots, &rec.name).lock());
        let status = match live {
            // Alive but not answering (starting or wedged): report it as running.
            Some(_) => live_state(roots, &rec.name).await.unwrap_or("running"),
            None => dead_status(&sessions, &rec),
        };
        let seg = rec.active_segment();
        rows.push(PodRow {
            name: rec.name.as_str().into(),
            status,
            pid: live.flatten(),
            parent: rec.parent.as_ref().map(|p| p.as_str().to_owned()),
            write: paths_of(&rec, scope::Access::Write),
            read: paths_of(&rec, scope::Access::Read),
            session_id: seg.map(|s| s.0.to_string()),
            segment_id: seg.map(|s| s.1.to_string()),
            model: rec.manifest.model.clone(),
        });
    }
    (rows, problems)
}

/// `pod ls`.
pub async fn ls(roots: &Roots, json: bool) -> anyhow::Result<ExitCode> {
    let (rows, problems) = rows(roots).await;
    for p in &problems {
        eprintln!("warning: {p}");
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no Pods");
    }
    for line in tree_lines(&rows) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The rows as a tree: each child indented under its parent (a child whose parent
/// has no record is shown at the top level).
pub fn tree_lines(rows: &[PodRow]) -> Vec<String> {
    fn walk(rows: &[PodRow], r: &PodRow, depth: usize, out: &mut Vec<String>) {
        let indent = if depth == 0 {
            String::new()
        } else {
            format!("{}└ ", "  ".repeat(depth - 1))
        };
        let name = format!("{indent}{}", r.name);
        out.push(format!(
            "{:<24} {:<8} {:>7}  {:<20} write: {}",
            name,
            r.status,
            r.pid.map_or("-".into(), |p| p.to_string()),
            r.model,
            r.write.join(", ")
        ));
        // Depth cap: a corrupt record naming itself as its ancestor cannot loop.
        if depth < 16 {
            for c in rows
                .iter()
                .filter(|c| c.parent.as_deref() == Some(r.name.as_str()))
            {
                walk(rows, c, depth + 1, out);
            }
        }
    }
    let mut out = Vec::new();
    for r in rows.iter().filter(|r| {
        r.parent
            .as_deref()
            .is_none_or(|p| !rows.iter().any(|x| x.name == p))
    }) {
        walk(rows, r, 0, &mut out);
    }
    out
}

/// `pod registry`: the live allocations of the registry (dead rows are reaped by
/// the read itself).
pub async fn registry(roots: &Roots, json: bool) -> anyhow::Result<ExitCode> {
    let allocations = crate::allocation::registry(roots)?.list()?;
    if json {
        // The allocation's own fields, plus `pid` at the top for scripts.
        let rows: Vec<Value> = allocations
            .iter()
            .map(|a| {
                let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
                if let Value::Object(o) = &mut v {
                    o.insert("pid".into(), a.process.map(|p| p.pid).into());
                }
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if allocations.is_empty() {
        println!("no live allocations");
    } else {
        for a in &allocations {
            let writes: Vec<String> = a
                .allow
                .iter()
                .filter(|r| r.access == scope::Access::Write)
                .map(|r| r.path.as_path().display().to_string())
                .collect();
            println!(
                "{:<20} pid {:>7}  write: {}",
                a.name.as_str(),
                a.process.map_or("-".into(), |p| p.pid.to_string()),
                writes.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn one_line(s: &str, max: usize) -> String {
    let flat = s.replace('\n', "⏎");
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

/// Human form of one log entry.
pub fn describe(e: &Entry) -> String {
    let body = match &e.kind {
        EntryKind::SegmentStart(s) => format!(
            "segment_start  session {} model {}",
            s.session_id, s.config.model
        ),
        EntryKind::UserInput { text } => format!("user           {}", one_line(text, 100)),
        EntryKind::AssistantItem { item } => match item {
            Item::AssistantMessage { text } => format!("assistant      {}", one_line(text, 100)),
            Item::ToolCall(c) => format!(
                "tool_call      {} {} {}",
                c.call_id,
                c.name,
                one_line(&c.arguments, 80)
            ),
            Item::Reasoning(r) => format!("reasoning      {}", one_line(&r.text, 100)),
            other => format!(
                "assistant_item {}",
                one_line(&serde_json::to_string(other).unwrap_or_default(), 100)
            ),
        },
        EntryKind::ToolResult { result } => format!(
            "tool_result    {} {}{} {}",
            result.call_id,
            result.name,
            if result.is_error { " (error)" } else { "" },
            one_line(&result.output, 80)
        ),
        EntryKind::SystemItem { text } => format!("notice         {}", one_line(text, 100)),
        EntryKind::TurnEnd { turn } => format!("turn_end       {turn}"),
        EntryKind::RunCompleted => "run_completed".into(),
        EntryKind::RunErrored { error } => format!("run_errored    {}", one_line(error, 100)),
        EntryKind::ConfigChanged { config } => format!("config_changed model {}", config.model),
        EntryKind::Usage { usage } => format!(
            "usage          in {} out {}",
            usage.input_tokens, usage.output_tokens
        ),
        EntryKind::Extension { domain, payload } => {
            format!("{domain:<14} {}", one_line(&payload.to_string(), 100))
        }
        EntryKind::Unknown(v) => format!("unknown        {}", one_line(&v.to_string(), 100)),
    };
    format!("{:>5}  {body}", e.seq)
}

/// `pod logs`.
pub async fn logs(
    roots: &Roots,
    name: &PodName,
    follow: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let rec = RecordStore::new(roots.pods.clone())
        .load(name)?
        .ok_or_else(|| anyhow::anyhow!("no Pod named {}", name.as_str()))?;
    let Some((_, seg)) = rec.active_segment() else {
        anyhow::bail!(
            "Pod {} has no session log yet (it never finished starting)",
            name.as_str()
        );
    };
    let sessions = SessionStore::new(roots.sessions.clone());
    let lock = PodPaths::new(roots, name).lock();
    let mut after: Option<u64> = None;
    loop {
        let read = match after {
            None => sessions.read_segment(seg)?,
            Some(a) => sessions.read_from(seg, a)?,
        };
        for e in &read.entries {
            if json {
                println!("{}", serde_json::to_string(e)?);
            } else {
                println!("{}", describe(e));
            }
            after = Some(e.seq);
        }
        if !follow || liveness::probe(&lock).is_none() {
            if follow {
                // One last read: entries appended just before the process exited.
                let read = sessions.read_from(seg, after.unwrap_or(0))?;
                for e in &read.entries {
                    println!(
                        "{}",
                        if json {
                            serde_json::to_string(e)?
                        } else {
                            describe(e)
                        }
                    );
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        // Following a file: a short poll is the simple, portable way to tail it.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
