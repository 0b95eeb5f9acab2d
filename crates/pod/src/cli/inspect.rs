//! Read-only listings: `pod ls`, `pod logs`, `pod registry`.

use std::process::ExitCode;
use std::time::Duration;

use pod_ids::{PodName, Roots};
use pod_registry::Registry;
use serde::Serialize;
use serde_json::{Value, json};
use session_store::{Entry, EntryKind, SessionStore};
use transcript::Item;

use super::exit::{Exit, fail};
use super::interact::JSON_SCHEMA_VERSION;
use crate::client::PodClient;
use crate::layout::PodPaths;
use crate::liveness;
use crate::outln;
use crate::record::{PodRecord, RecordStore};

/// One row of `pod ls --json` (docs/json.md: every key is always present).
#[derive(Debug, Serialize)]
pub struct PodRow {
    name: String,
    status: &'static str,
    pid: Option<u32>,
    parent: Option<String>,
    cwd: String,
    provider: String,
    model: String,
    write: Vec<String>,
    read: Vec<String>,
    session_id: Option<String>,
    segment_id: Option<String>,
    created_at: Option<String>,
    last_active: Option<String>,
    last_error: Option<String>,
    usage: transcript::Usage,
    turns: u64,
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

/// What a Pod's active segment says about it.
#[derive(Debug, Default)]
struct LogSummary {
    /// The log ends with a clean stop.
    stopped: bool,
    /// Time of the last entry (Unix ms).
    last_active_ms: Option<u64>,
    /// The error of the last run, when the last run failed.
    last_error: Option<String>,
    usage: transcript::Usage,
    turns: u64,
}

fn summarize(sessions: &SessionStore, rec: &PodRecord) -> LogSummary {
    let mut s = LogSummary::default();
    let Some((_, seg)) = rec.active_segment() else {
        return s;
    };
    let Ok(read) = sessions.read_segment(seg) else {
        return s;
    };
    for e in &read.entries {
        match &e.kind {
            EntryKind::Extension { domain, payload } if domain == crate::LIFECYCLE_DOMAIN => {
                s.stopped = payload.get("event").and_then(Value::as_str) == Some("stopped");
            }
            // Numbering and totals continue across compaction and fork.
            EntryKind::SegmentStart(start) => s.turns = start.base_turn(),
            EntryKind::Extension { domain, payload }
                if domain == crate::compaction::DOMAIN && payload["event"] == "compacted" =>
            {
                if let Ok(u) = serde_json::from_value(payload["usage_before"].clone()) {
                    s.usage.add(&u);
                }
            }
            EntryKind::RunCompleted => s.last_error = None,
            EntryKind::RunErrored { error } => s.last_error = Some(error.clone()),
            EntryKind::Usage { usage } => s.usage.add(usage),
            EntryKind::TurnEnd { turn } => s.turns = *turn,
            _ => {}
        }
    }
    s.last_active_ms = read.entries.last().map(|e| e.ts_ms);
    s
}

/// RFC 3339 (UTC) of a Unix-millisecond time.
pub fn rfc3339_ms(ms: u64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
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

/// Status and pid of a Pod: `idle|running|paused` when live, else `stopped` when its
/// log ends with a clean stop and `lost` otherwise.
async fn status_of(
    roots: &Roots,
    rec: &PodRecord,
    summary: &LogSummary,
) -> (&'static str, Option<u32>) {
    let live = liveness::probe(&PodPaths::new(roots, &rec.name).lock());
    let status = match live {
        // Alive but not answering (starting or wedged): report it as running.
        Some(_) => live_state(roots, &rec.name).await.unwrap_or("running"),
        None if summary.stopped => "stopped",
        None => "lost",
    };
    (status, live.flatten())
}

async fn row(roots: &Roots, sessions: &SessionStore, rec: &PodRecord) -> PodRow {
    let summary = summarize(sessions, rec);
    let (status, pid) = status_of(roots, rec, &summary).await;
    let seg = rec.active_segment();
    PodRow {
        name: rec.name.as_str().into(),
        status,
        pid,
        parent: rec.parent.as_ref().map(|p| p.as_str().to_owned()),
        cwd: rec.manifest.cwd.display().to_string(),
        provider: rec.manifest.provider.clone(),
        model: rec.manifest.model.clone(),
        write: paths_of(rec, scope::Access::Write),
        read: paths_of(rec, scope::Access::Read),
        session_id: seg.map(|s| s.0.to_string()),
        segment_id: seg.map(|s| s.1.to_string()),
        created_at: rec
            .created_at
            .format(&time::format_description::well_known::Rfc3339)
            .ok(),
        last_active: summary.last_active_ms.and_then(rfc3339_ms),
        last_error: summary.last_error,
        usage: summary.usage,
        turns: summary.turns,
    }
}

/// Rows for every Pod with a record.
pub async fn rows(roots: &Roots) -> (Vec<PodRow>, Vec<String>) {
    let records = RecordStore::new(roots.pods.clone());
    let sessions = SessionStore::new(roots.sessions.clone());
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for r in records.list() {
        match r {
            Ok(rec) => rows.push(row(roots, &sessions, &rec).await),
            Err(e) => problems.push(e.to_string()),
        }
    }
    (rows, problems)
}

/// `pod show`: one Pod in full.
pub async fn show(roots: &Roots, name: &PodName, json_out: bool) -> anyhow::Result<ExitCode> {
    let rec = RecordStore::new(roots.pods.clone())
        .load(name)?
        .ok_or_else(|| fail(Exit::Usage, format!("no Pod named {}", name.as_str())))?;
    let sessions = SessionStore::new(roots.sessions.clone());
    let r = row(roots, &sessions, &rec).await;
    let children: Vec<Value> = pod_store::PodStore::new(roots.pods.clone())
        .read(name)
        .map(|s| {
            s.children
                .iter()
                .map(|c| {
                    json!({
                        "name": c.name.as_str(),
                        "status": serde_json::to_value(c.status).unwrap_or(Value::Null),
                        "write": c.write.iter().map(|w| w.path.as_path().display().to_string()).collect::<Vec<_>>(),
                        "reason": c.reason,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let m = &rec.manifest;
    let deny: Vec<String> = m
        .scope
        .deny
        .iter()
        .map(|r| r.path.as_path().display().to_string())
        .collect();
    let mut v = serde_json::to_value(&r)?;
    if let Value::Object(o) = &mut v {
        o.insert("schema_version".into(), JSON_SCHEMA_VERSION.into());
        o.insert("base_url".into(), m.base_url.clone().into());
        o.insert("api_key_env".into(), m.api_key_env.clone().into());
        o.insert(
            "dialect".into(),
            m.dialect
                .clone()
                .unwrap_or_else(|| m.provider.clone())
                .into(),
        );
        o.insert("deny".into(), json!(deny));
        o.insert("tools".into(), json!(m.tools));
        o.insert("children".into(), Value::Array(children));
        // Same machine, same kernel: what the Pod's shell gets.
        o.insert(
            "sandbox".into(),
            super::doctor::sandbox_report().summary().into(),
        );
        let plan = rec
            .active_segment()
            .and_then(|(_, seg)| crate::plan::of_segment(&sessions, seg));
        o.insert("plan".into(), json!(plan));
    }
    if json_out {
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let field = |k: &str| match &v[k] {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "-".to_owned(),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    for k in [
        "name",
        "status",
        "pid",
        "parent",
        "provider",
        "base_url",
        "api_key_env",
        "model",
        "cwd",
        "write",
        "read",
        "deny",
        "tools",
        "created_at",
        "last_active",
        "turns",
        "last_error",
        "session_id",
        "segment_id",
        "sandbox",
    ] {
        outln!("{k:<12} {}", field(k))?;
    }
    let u = &r.usage;
    outln!(
        "{:<12} in {} out {} (cache read {}, cache write {})",
        "usage",
        u.input_tokens,
        u.output_tokens,
        u.cache_read_tokens,
        u.cache_write_tokens
    )?;
    if let Ok(plan) = serde_json::from_value::<crate::plan::Plan>(v["plan"].clone()) {
        for line in plan.render().lines() {
            outln!("{:<12} {line}", "plan")?;
        }
    }
    for c in v["children"].as_array().into_iter().flatten() {
        outln!(
            "{:<12} {} {} write: {}",
            "child",
            c["name"].as_str().unwrap_or("?"),
            c["status"].as_str().unwrap_or("?"),
            c["write"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `pod ls`.
pub async fn ls(roots: &Roots, json: bool) -> anyhow::Result<ExitCode> {
    let (rows, problems) = rows(roots).await;
    for p in &problems {
        eprintln!("warning: {p}");
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        outln!("no Pods")?;
    }
    for line in tree_lines(&rows) {
        outln!("{line}")?;
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
        let scope = if r.write.is_empty() {
            "read-only".to_owned()
        } else {
            format!("write: {}", r.write.join(", "))
        };
        out.push(format!(
            "{:<24} {:<8} {:>7}  {:<20} {scope}",
            name,
            r.status,
            r.pid.map_or("-".into(), |p| p.to_string()),
            r.model,
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
                    // Keys are never missing (docs/json.md), even where the
                    // registry's own format leaves defaults out.
                    for key in [
                        "delegated_from",
                        "origin",
                        "reservation",
                        "segment_id",
                        "socket",
                    ] {
                        o.entry(key).or_insert(Value::Null);
                    }
                    for key in ["deny", "delegations", "allow"] {
                        o.entry(key).or_insert(json!([]));
                    }
                }
                v
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
    } else if allocations.is_empty() {
        outln!("no live allocations")?;
    } else {
        for a in &allocations {
            let writes: Vec<String> = a
                .allow
                .iter()
                .filter(|r| r.access == scope::Access::Write)
                .map(|r| r.path.as_path().display().to_string())
                .collect();
            outln!(
                "{:<20} pid {:>7}  write: {}",
                a.name.as_str(),
                a.process.map_or("-".into(), |p| p.pid.to_string()),
                writes.join(", ")
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Human form of one log entry, shortened to one line.
pub fn describe(e: &Entry) -> String {
    describe_with(e, false)
}

/// Human form of one log entry; `full` keeps every character and line break.
pub fn describe_with(e: &Entry, full: bool) -> String {
    let one_line = |s: &str, max: usize| {
        if full {
            s.replace('\n', "\n                     ")
        } else {
            super::interact::one_line(s, max)
        }
    };
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
        EntryKind::Images { images } => {
            let shown: Vec<String> = images
                .iter()
                .map(|i| format!("{} ({}, {} bytes)", i.source, i.media_type, i.bytes))
                .collect();
            format!("images         {}", shown.join(", "))
        }
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

/// `HH:MM:SS` (UTC) of an entry, for the human log.
fn clock(ts_ms: u64) -> String {
    rfc3339_ms(ts_ms)
        .and_then(|t| t.get(11..19).map(str::to_owned))
        .unwrap_or_else(|| "--:--:--".into())
}

/// The journal of queued input and notices (`pod.input`, `pod.notice`): what the
/// model saw of them is already shown as `user` and `notice` lines, so the default
/// `pod logs` leaves them out; `--full` and `--json` keep them.
fn is_bookkeeping(e: &Entry) -> bool {
    matches!(&e.kind, EntryKind::Extension { domain, .. }
        if domain == crate::input_log::DOMAIN || domain == crate::notice_log::DOMAIN)
}

/// `pod logs`.
pub async fn logs(
    roots: &Roots,
    name: &PodName,
    follow: bool,
    json_out: bool,
    full: bool,
) -> anyhow::Result<ExitCode> {
    let rec = RecordStore::new(roots.pods.clone())
        .load(name)?
        .ok_or_else(|| fail(Exit::Usage, format!("no Pod named {}", name.as_str())))?;
    let Some((_, seg)) = rec.active_segment() else {
        anyhow::bail!(
            "Pod {} has no session log yet (it never finished starting)",
            name.as_str()
        );
    };
    let sessions = SessionStore::new(roots.sessions.clone());
    let paths = PodPaths::new(roots, name);
    // Following a live Pod: its socket streams the text as the model writes it; the
    // log file stays the source of every entry (the socket only adds the deltas).
    let mut live = if follow && !json_out {
        PodClient::connect(&paths.socket(), None).await.ok()
    } else {
        None
    };
    let mut streamed = String::new();
    let mut after: Option<u64> = None;
    loop {
        let read = match after {
            None => sessions.read_segment(seg)?,
            Some(a) => sessions.read_from(seg, a)?,
        };
        for e in &read.entries {
            after = Some(e.seq);
            if json_out {
                outln!("{}", entry_json(e)?)?;
                continue;
            }
            // The message was already shown as it streamed: end its line instead.
            if let EntryKind::AssistantItem {
                item: Item::AssistantMessage { text },
            } = &e.kind
                && !streamed.is_empty()
                && *text == streamed
            {
                streamed.clear();
                outln!()?;
                continue;
            }
            if full || !is_bookkeeping(e) {
                outln!("{}  {}", clock(e.ts_ms), describe_with(e, full))?;
            }
        }
        if !follow || liveness::probe(&paths.lock()).is_none() {
            if follow {
                // One last read: entries appended just before the process exited.
                let read = sessions.read_from(seg, after.unwrap_or(0))?;
                for e in &read.entries {
                    if json_out {
                        outln!("{}", entry_json(e)?)?;
                    } else if full || !is_bookkeeping(e) {
                        outln!("{}  {}", clock(e.ts_ms), describe_with(e, full))?;
                    }
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        // A file has no change notification that is both portable and simple; a short
        // poll tails it, and the socket (when we have one) shows text at once.
        let tick = tokio::time::sleep(Duration::from_millis(100));
        match live.as_mut() {
            Some(c) => {
                tokio::select! {
                    () = tick => {}
                    msg = c.next_message() => match msg {
                        Ok(protocol::ServerMessage::Event { event: protocol::Event::TextDelta { delta }, .. }) => {
                            if streamed.is_empty() {
                                crate::out!("{}  {:>5}  assistant      ", clock(now_ms()), "…")?;
                            }
                            crate::out!("{delta}")?;
                            streamed.push_str(&delta);
                        }
                        Ok(_) => {}
                        Err(_) => live = None,
                    },
                }
            }
            None => tick.await,
        }
    }
}

/// A log entry as `pod logs --json` prints it: the stored line, with `data: null`
/// for kinds that carry none (keys are never missing, docs/json.md).
fn entry_json(e: &Entry) -> anyhow::Result<String> {
    let mut v = serde_json::to_value(e)?;
    if let Value::Object(o) = &mut v {
        o.entry("data").or_insert(Value::Null);
    }
    Ok(v.to_string())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, parent: Option<&str>, write: &[&str]) -> PodRow {
        PodRow {
            name: name.into(),
            status: "stopped",
            pid: None,
            parent: parent.map(str::to_owned),
            cwd: "/p".into(),
            provider: "openai".into(),
            model: "m".into(),
            write: write.iter().map(|w| w.to_string()).collect(),
            read: vec![],
            session_id: None,
            segment_id: None,
            created_at: None,
            last_active: None,
            last_error: None,
            usage: Default::default(),
            turns: 0,
        }
    }

    #[test]
    fn a_pod_without_write_scope_reads_as_read_only_under_its_parent() {
        let lines = tree_lines(&[
            row("lead", None, &["/p/a", "/p/b"]),
            row("reviewer", Some("lead"), &[]),
        ]);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with("write: /p/a, /p/b"), "{}", lines[0]);
        assert!(lines[1].starts_with("└ reviewer"), "{}", lines[1]);
        assert!(lines[1].ends_with(" read-only"), "{}", lines[1]);
    }
}
