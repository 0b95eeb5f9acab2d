//! A Pod's MCP servers in its session: what started, and what the model is told.
//!
//! The tools a session offers are pinned in its `segment_start` (MCP tools
//! included), so a restored Pod offers exactly the tools it had: the model's
//! requests, and the provider's prompt cache, stay the same. Servers are started
//! (concurrently, each within its `startup_timeout`) before the first segment is
//! written, so a new session's list includes them; on restore they are started
//! again and compared with the pinned list, and whatever changed (a tool gone, a
//! new one not offered, a server that no longer starts) becomes a notice in the log
//! before the first model request. Every start is recorded as
//! `extension{pod.mcp, {event: started, servers: [...]}}`.

use serde_json::json;
use session_store::EntryKind;
use transcript::Item;

use crate::journal::Journal;
use crate::turn::Conversation;

/// `extension` domain of MCP entries.
pub const DOMAIN: &str = "pod.mcp";

/// Records how the servers started and tells the model what it must know: servers
/// that failed (their tools are missing) and, on restore, tools that changed.
/// Returns the notices (also appended to the log and `conv`).
pub fn record_start(
    journal: &Journal,
    conv: &mut Conversation,
    hub: &mcp::Hub,
    started: &[mcp::Started],
    restored: bool,
) -> Result<Vec<String>, session_store::StoreError> {
    if hub.is_empty() {
        return Ok(Vec::new());
    }
    let servers: Vec<_> = hub
        .statuses()
        .into_iter()
        .map(|s| {
            json!({
                "name": s.name,
                "state": s.state,
                "pid": s.pid,
                "tools": s.tools.iter().map(|t| &t.name).collect::<Vec<_>>(),
                "error": s.last_error,
            })
        })
        .collect();
    journal.record(
        &EntryKind::Extension {
            domain: DOMAIN.into(),
            payload: json!({"event": "started", "servers": servers}),
        },
        None,
    )?;
    let mut notices: Vec<String> = if restored {
        hub.changes_since(&conv.tools)
    } else {
        started
            .iter()
            .filter_map(|s| s.outcome.as_ref().err())
            .map(|e| format!("{e}; its tools are not available in this session"))
            .collect()
    };
    notices.dedup();
    for text in &notices {
        journal.record(&EntryKind::SystemItem { text: text.clone() }, None)?;
        conv.history.push(Item::Notice { text: text.clone() });
    }
    Ok(notices)
}
