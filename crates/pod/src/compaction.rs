//! Context that never runs out: token accounting, pruning of old tool outputs, and
//! compaction into a new segment (ARCHITECTURE §7: `compacted_from`).
//!
//! **Accounting.** After each model call the provider's usage says how many tokens
//! the request plus its answer took (`input + cache_read + cache_write + output`);
//! items appended since are estimated (4 bytes per token, the usual heuristic for
//! English and code). Before the first usage arrives (a new or restored Pod) the
//! whole request is estimated.
//!
//! **Before each model request** ([`ensure_room`]): when the request would pass the
//! threshold (default 80 % of the context window), old tool outputs are pruned first:
//! each is replaced by a one-line stub naming the call, newest outputs kept. The
//! pruned call ids are appended as `extension{pod.context, {event: pruned}}`, so a
//! restore prunes the same calls and the model sees the same history. If that is
//! not enough, the conversation is compacted.
//!
//! **Compaction** ([`compact`]): the model gets the conversation as a plain-text
//! transcript (tool outputs shortened, the middle cut if even that is too large)
//! with a prompt asking for a hand-over summary. Then, in this order:
//! 1. `SessionStore::compact` creates the new segment (seeded with the most recent
//!    user messages and the summary), written under a temp name and renamed: it
//!    exists whole or not at all;
//! 2. the current plan and a `compacted` marker are appended to it and fsynced;
//! 3. the Pod record is pointed at it: **the commit point**. A crash before it
//!    restores from the old segment (unchanged; the new file is an orphan); after
//!    it, from the finished new one;
//! 4. the journal switches to the new segment (the old writer's lock is dropped).
//!
//! The old segment is never modified. The Pod's scope does not come from the
//! conversation at all (manifest, pod store, registry), so a summary can never
//! widen or lose it; child notices and reconciliation notices are in the transcript
//! the summary is written from.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use llm::{Request, StreamEvent};
use pod_ids::{PodName, SegmentId};
use protocol::Event;
use serde_json::{Value, json};
use session_store::{EntryKind, SessionStore};
use tokio_util::sync::CancellationToken;
use transcript::{Item, ToolSpec};

use crate::plan::Plan;
use crate::record::RecordStore;
use crate::turn::{Conversation, RunCtx};

/// `extension` domain of pruning and compaction entries.
pub const DOMAIN: &str = "pod.context";

/// Marker the compaction request ends with (mock scripts match on it).
pub const COMPACTION_MARKER: &str = "Write the hand-over summary now.";

/// Bytes per token in estimates.
const BYTES_PER_TOKEN: u64 = 4;

/// Fixed per-item overhead in estimates (roles, ids, JSON framing).
const ITEM_OVERHEAD: u64 = 8;

/// Most of the window the summary request's transcript may use.
const TRANSCRIPT_SHARE: f64 = 0.5;

/// Characters of a tool output kept in the transcript.
const TRANSCRIPT_TOOL_CHARS: usize = 1_500;

/// User messages kept verbatim in the new segment, and their share of the limit.
const KEPT_USER_MESSAGES: usize = 3;

/// What the Pod needs to compact: where its record and log live, and its budget.
pub struct Compactor {
    /// The session logs.
    pub sessions: SessionStore,
    /// The Pod records.
    pub records: RecordStore,
    /// This Pod.
    pub name: PodName,
    /// Context window in tokens (`None`: unknown, never compacts on its own).
    pub window: Option<u64>,
    /// Threshold, percent of the window.
    pub percent: u8,
    /// Told the new segment id after a switch (the registry's copy of it).
    pub on_switch: Option<Box<dyn Fn(SegmentId) + Send + Sync>>,
}

impl Compactor {
    /// Tokens a request may reach before pruning/compaction.
    pub fn limit(&self) -> Option<u64> {
        self.window.map(|w| w * u64::from(self.percent) / 100)
    }
}

/// Why a compaction runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The next request would pass the threshold.
    Threshold,
    /// The provider rejected a request as too long.
    ContextTooLong,
    /// `pod compact` / the TUI.
    Requested,
}

impl Why {
    fn as_str(self) -> &'static str {
        match self {
            Why::Threshold => "threshold",
            Why::ContextTooLong => "context_too_long",
            Why::Requested => "requested",
        }
    }
}

/// What a compaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compacted {
    /// The old segment.
    pub from: SegmentId,
    /// The new one.
    pub to: SegmentId,
    /// Estimated tokens before and after.
    pub before_tokens: u64,
    /// After.
    pub after_tokens: u64,
    /// Time spent outside the model call (transcript, segment, record), ms.
    pub local_ms: u64,
}

/// Tokens counted for one image (see `item_bytes`).
const IMAGE_TOKENS: u64 = 1600;

fn item_bytes(item: &Item) -> u64 {
    let n = match item {
        Item::UserMessage { text }
        | Item::AssistantMessage { text }
        | Item::Refusal { text }
        | Item::Notice { text } => text.len(),
        Item::ToolCall(c) => c.name.len() + c.arguments.len() + c.call_id.len(),
        Item::ToolResult(r) => r.output.len() + r.call_id.len(),
        // Providers bill an image by its pixels, about 1,600 tokens for a large one;
        // the byte size says nothing about that.
        Item::Image { .. } => IMAGE_TOKENS as usize * BYTES_PER_TOKEN as usize,
        Item::Reasoning(r) => {
            r.text.len()
                + r.signature.as_ref().map_or(0, String::len)
                + r.encrypted_content.as_ref().map_or(0, String::len)
                + r.redacted_data.as_ref().map_or(0, String::len)
                + r.details.iter().map(|d| d.to_string().len()).sum::<usize>()
        }
    };
    n as u64
}

/// Estimated tokens of some items.
pub fn estimate_items(items: &[Item]) -> u64 {
    items
        .iter()
        .map(|i| item_bytes(i) / BYTES_PER_TOKEN + ITEM_OVERHEAD)
        .sum()
}

/// Estimated tokens of a whole request.
pub fn estimate_request(system: &str, tools: &[ToolSpec], history: &[Item]) -> u64 {
    let tool_bytes: usize = tools
        .iter()
        .map(|t| t.name.len() + t.description.len() + t.parameters.to_string().len())
        .sum();
    (system.len() + tool_bytes) as u64 / BYTES_PER_TOKEN + estimate_items(history)
}

/// Tokens the next request will take: the provider's last count plus estimates of
/// what was appended since, or a whole estimate when there is no count.
pub fn current_tokens(conv: &Conversation) -> u64 {
    match conv.reported {
        Some((tokens, len)) if len <= conv.history.len() => {
            tokens + estimate_items(&conv.history[len..])
        }
        _ => estimate_request(&conv.system, &conv.tools, &conv.history),
    }
}

/// The stub replacing a pruned output.
fn stub(name: &str, call_id: &str, bytes: usize) -> String {
    format!(
        "[output pruned to save context: {name} call {call_id}, {bytes} bytes; run it again if you need it]"
    )
}

/// Replaces old tool outputs by stubs, newest first kept until `keep_tokens` worth of
/// outputs are kept; returns the pruned call ids (oldest first).
pub fn prune(history: &mut [Item], keep_tokens: u64) -> Vec<String> {
    let mut kept = 0u64;
    let mut pruned = Vec::new();
    for item in history.iter_mut().rev() {
        let Item::ToolResult(r) = item else { continue };
        let tokens = r.output.len() as u64 / BYTES_PER_TOKEN;
        let s = stub(&r.name, &r.call_id, r.output.len());
        if kept + tokens <= keep_tokens || r.output.len() <= s.len() {
            kept += tokens;
            continue;
        }
        r.output = s;
        pruned.push(r.call_id.clone());
    }
    pruned.reverse();
    pruned
}

/// True when this segment was made by a compaction in the middle of a run and that
/// run has not ended in it (no `turn_end` after the seed): the process died during
/// the run, so a restore closes it and comes up paused, as for any interrupted run.
pub fn ended_in_compacted_run(
    extensions: &[(String, Value)],
    compacted_from: Option<session_store::Lineage>,
    turn_count: u64,
) -> bool {
    compacted_from.is_some_and(|l| l.at_turn == turn_count)
        && extensions
            .iter()
            .any(|(d, p)| d == DOMAIN && p["event"] == "compacted" && p["mid_run"] == true)
}

/// Usage totals carried into a segment by its compaction marker (zero when none).
pub fn usage_before(extensions: &[(String, Value)]) -> transcript::Usage {
    extensions
        .iter()
        .filter(|(d, p)| d == DOMAIN && p["event"] == "compacted")
        .filter_map(|(_, p)| serde_json::from_value(p["usage_before"].clone()).ok())
        .fold(
            transcript::Usage::default(),
            |mut acc, u: transcript::Usage| {
                acc.add(&u);
                acc
            },
        )
}

/// Applies the prunes recorded in a segment's extensions to its replayed history.
pub fn apply_recorded_prunes(history: &mut [Item], extensions: &[(String, Value)]) {
    let ids: std::collections::HashSet<&str> = extensions
        .iter()
        .filter(|(d, p)| d == DOMAIN && p["event"] == "pruned")
        .flat_map(|(_, p)| p["call_ids"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    if ids.is_empty() {
        return;
    }
    for item in history.iter_mut() {
        if let Item::ToolResult(r) = item
            && ids.contains(r.call_id.as_str())
        {
            r.output = stub(&r.name, &r.call_id, r.output.len());
        }
    }
}

/// Makes room before a model request: prune, then compact, when the request would
/// pass the threshold. Errors are the compaction's (the caller ends the run).
pub async fn ensure_room(
    ctx: &RunCtx,
    conv: &mut Conversation,
    cancel: &CancellationToken,
) -> Result<Option<Compacted>, String> {
    let Some(c) = ctx.compactor.as_ref() else {
        return Ok(None);
    };
    let Some(limit) = c.limit() else {
        return Ok(None);
    };
    if current_tokens(conv) <= limit {
        return Ok(None);
    }
    // System prompt and tools near the limit: no summary can help, and
    // compacting before every request would only burn model calls.
    if estimate_request(&conv.system, &conv.tools, &[]) >= limit / 4 * 3 {
        tracing::warn!(
            limit,
            "the system prompt and tools take three quarters of the context budget; not compacting"
        );
        return Ok(None);
    }
    let pruned = prune(&mut conv.history, limit / 4);
    if !pruned.is_empty() {
        conv.reported = None;
        ctx.journal
            .record(
                &EntryKind::Extension {
                    domain: DOMAIN.into(),
                    payload: json!({"event": "pruned", "call_ids": pruned}),
                },
                None,
            )
            .map_err(|e| e.to_string())?;
        if current_tokens(conv) <= limit {
            return Ok(None);
        }
    }
    compact(ctx, c, conv, Why::Threshold, cancel)
        .await
        .map(Some)
}

/// The conversation as plain text for the summary request, at most `max_bytes`
/// (the middle is cut, keeping the start of the task and the most recent work).
fn transcript(history: &[Item], max_bytes: usize) -> String {
    let mut s = String::new();
    for item in history {
        let _ = match item {
            Item::UserMessage { text } => writeln!(s, "USER: {text}\n"),
            Item::AssistantMessage { text } => writeln!(s, "ASSISTANT: {text}\n"),
            Item::Refusal { text } => writeln!(s, "ASSISTANT (refused): {text}\n"),
            Item::Notice { text } => writeln!(s, "NOTICE (from the runtime): {text}\n"),
            Item::Image { image } => {
                writeln!(s, "IMAGE: {} ({})\n", image.source, image.media_type)
            }
            Item::ToolCall(c) => {
                writeln!(s, "TOOL CALL {} {}: {}\n", c.name, c.call_id, c.arguments)
            }
            Item::ToolResult(r) => {
                let out = shorten(&r.output, TRANSCRIPT_TOOL_CHARS);
                let err = if r.is_error { " (error)" } else { "" };
                writeln!(s, "TOOL RESULT {}{err}: {out}\n", r.call_id)
            }
            // Reasoning is the model's scratch work; the decisions it led to are in
            // the messages and calls.
            Item::Reasoning(_) => Ok(()),
        };
    }
    if s.len() <= max_bytes {
        return s;
    }
    let head = floor_boundary(&s, max_bytes / 4);
    let tail = ceil_boundary(&s, s.len() - (max_bytes - head));
    format!(
        "{}\n\n[... {} bytes of the middle of the conversation left out ...]\n\n{}",
        &s[..head],
        tail - head,
        &s[tail..]
    )
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let cut = floor_boundary(text, max);
    format!("{}[... {} more bytes]", &text[..cut], text.len() - cut)
}

/// The system prompt of the summary request.
const SUMMARY_SYSTEM: &str = "You write hand-over summaries of coding-agent sessions. Another instance of the same agent will continue the work from your summary alone (plus the user's most recent messages), without the conversation. Be complete about facts and state, brief in wording. Never invent anything that is not in the transcript.";

fn summary_request_text(transcript: &str, plan: Option<&Plan>) -> String {
    let plan = plan.map_or_else(|| "(no plan recorded)".to_owned(), Plan::render);
    format!(
        "Below is the transcript of the session so far, then the agent's current plan.\n\n<transcript>\n{transcript}\n</transcript>\n\n<plan>\n{plan}</plan>\n\nWrite the summary with these sections, each short, leaving out a section only when it has nothing:\n1. Task: what the user asked for, in their words where it matters, and any constraints they set.\n2. Decisions: what was decided and why (approaches chosen or rejected).\n3. Files: every file read, created or changed, with what changed.\n4. Commands and results: builds and tests run and their last outcome.\n5. Open work: what remains, in order; the step in progress and exactly where it stopped.\n6. Plan: the current plan as above, updated if the transcript shows later progress.\n7. Child Pods: every child Pod started, its scope and task, and its last known state (finished, errored, exited, stopped).\n8. Notices: every runtime notice (child reports, reclaimed or lost scope, interrupted tool calls, refused writes) that still matters.\n\n{COMPACTION_MARKER}"
    )
}

/// Compacts the conversation into a new segment (see the module doc for the order
/// and the crash argument). On error nothing changed: the Pod continues in the old
/// segment with the history it had.
pub async fn compact(
    ctx: &RunCtx,
    c: &Compactor,
    conv: &mut Conversation,
    why: Why,
    cancel: &CancellationToken,
) -> Result<Compacted, String> {
    let started = Instant::now();
    let before = current_tokens(conv);
    let from = ctx.journal.segment_id();
    let plan = crate::plan::of_segment(&c.sessions, from);
    let budget = c.window.map_or(400_000, |w| {
        (w as f64 * TRANSCRIPT_SHARE) as usize * BYTES_PER_TOKEN as usize
    });
    let request = |budget: usize| Request {
        system: SUMMARY_SYSTEM.into(),
        history: vec![Item::UserMessage {
            text: summary_request_text(&transcript(&conv.history, budget), plan.as_ref()),
        }],
        tools: Vec::new(),
        config: conv.config.clone(),
        images: Default::default(),
    };
    let req = request(budget);
    let prepared = started.elapsed();
    let (summary, summary_usage) = match summarise(ctx, &req, cancel).await {
        // The window was unknown or overestimated: once more with a quarter of the
        // transcript (its start and its most recent part).
        Err(Failed::TooLong(_)) => summarise(ctx, &request(budget / 4), cancel).await,
        other => other,
    }
    .map_err(|f| match f {
        Failed::TooLong(m) | Failed::Other(m) => m,
    })?;
    let local_started = Instant::now();

    let mut seed: Vec<Item> =
        recent_user_messages(&conv.history, c.limit().unwrap_or(u64::MAX) / 4);
    seed.push(Item::Notice {
        text: format!(
            "The conversation so far was compacted to save context. Summary of everything before this point:\n\n{summary}\n\nContinue the work from here; re-read files rather than trusting remembered contents."
        ),
    });
    let after = estimate_request(&conv.system, &conv.tools, &seed);
    let mut writer = c
        .sessions
        .compact(from, conv.turns, seed.clone())
        .map_err(|e| format!("cannot create the compacted segment: {e}"))?;
    let to = writer.segment_id();
    if let Some(p) = &plan {
        writer.append(&p.entry()).map_err(|e| e.to_string())?;
    }
    // The summary call is a model call of the new segment; the totals before it
    // travel in the marker, so `pod show` and a restore keep counting from them.
    writer
        .append(&EntryKind::Usage {
            usage: summary_usage,
        })
        .map_err(|e| e.to_string())?;
    writer
        .append(&EntryKind::Extension {
            domain: DOMAIN.into(),
            payload: json!({
                "event": "compacted",
                "why": why.as_str(),
                "from_segment": from.to_string(),
                "before_tokens": before,
                "after_tokens": after,
                "usage_before": conv.usage,
                // Threshold and context-length compactions happen inside a run,
                // which continues in the new segment (see `ended_in_compacted_run`).
                "mid_run": why != Why::Requested,
            }),
        })
        .and_then(|_| writer.sync())
        .map_err(|e| e.to_string())?;
    crash_hook("before_commit");
    let session = writer.session_id();
    c.records
        .set_active(&c.name, session, to)
        .map_err(|e| format!("cannot point the Pod at the compacted segment: {e}"))?;
    crash_hook("after_commit");
    drop(ctx.journal.switch_to(writer));
    if let Some(f) = &c.on_switch {
        f(to);
    }
    conv.history = seed;
    conv.reported = None;
    conv.usage.add(&summary_usage);
    let local_ms = (prepared + local_started.elapsed()).as_millis() as u64;
    tracing::info!(%from, %to, before, after, local_ms, why = why.as_str(), "compacted");
    ctx.journal.emit(Event::Compacted {
        why: why.as_str().into(),
        from_segment: from.to_string(),
        to_segment: to.to_string(),
        before_tokens: before,
        after_tokens: after,
    });
    Ok(Compacted {
        from,
        to,
        before_tokens: before,
        after_tokens: after,
        local_ms,
    })
}

/// Why a summary request failed.
enum Failed {
    /// The provider said the summary request itself is too long.
    TooLong(String),
    /// Anything else.
    Other(String),
}

fn failed(e: llm::LlmError) -> Failed {
    let m = format!("compaction request failed: {e}");
    if matches!(e, llm::LlmError::ContextTooLong { .. }) {
        Failed::TooLong(m)
    } else {
        Failed::Other(m)
    }
}

async fn summarise(
    ctx: &RunCtx,
    req: &Request,
    cancel: &CancellationToken,
) -> Result<(String, transcript::Usage), Failed> {
    let mut stream = ctx.provider.stream(req, cancel.clone()).map_err(failed)?;
    let mut text = String::new();
    let usage = loop {
        let ev = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(Failed::Other("cancelled".into())),
            ev = stream.next() => ev,
        };
        match ev {
            None => return Err(Failed::Other("compaction cancelled".into())),
            Some(Err(e)) => return Err(failed(e)),
            Some(Ok(StreamEvent::ItemDone(Item::AssistantMessage { text: t }))) => {
                text.push_str(&t)
            }
            Some(Ok(StreamEvent::Restarted)) => text.clear(),
            Some(Ok(StreamEvent::Completed(c))) => break c.usage,
            Some(Ok(_)) => {}
        }
    };
    if text.trim().is_empty() {
        return Err(Failed::Other("the model returned an empty summary".into()));
    }
    Ok((text, usage))
}

/// The last few user messages, oldest first, within `max_tokens`.
fn recent_user_messages(history: &[Item], max_tokens: u64) -> Vec<Item> {
    let mut out = Vec::new();
    let mut used = 0;
    for item in history.iter().rev() {
        if let Item::UserMessage { text } = item {
            let text = shorten(text, 8_000);
            let t = text.len() as u64 / BYTES_PER_TOKEN + ITEM_OVERHEAD;
            if used + t > max_tokens || out.len() == KEPT_USER_MESSAGES {
                break;
            }
            used += t;
            out.push(Item::UserMessage { text });
        }
    }
    out.reverse();
    out
}

/// Debug builds: `POD_TEST_CRASH_MID_COMPACTION=before_commit|after_commit` SIGKILLs
/// the Pod at that point (the crash tests).
fn crash_hook(at: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("POD_TEST_CRASH_MID_COMPACTION").is_ok_and(|v| v == at) {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
    let _ = at;
}

/// Shared handle type the runtime keeps.
pub type SharedCompactor = Arc<Compactor>;

#[cfg(test)]
mod tests {
    use super::*;
    use transcript::{ToolCall, ToolResult};

    fn result(id: &str, n: usize) -> Item {
        Item::ToolResult(ToolResult {
            call_id: id.into(),
            name: "read_file".into(),
            output: "x".repeat(n),
            is_error: false,
        })
    }

    #[test]
    fn pruning_keeps_the_newest_outputs_and_replays_the_same() {
        let mut h = vec![
            Item::UserMessage { text: "go".into() },
            Item::ToolCall(ToolCall {
                call_id: "a".into(),
                name: "read_file".into(),
                arguments: "{}".into(),
            }),
            result("a", 4000),
            result("b", 4000),
            result("c", 4000),
        ];
        let original = h.clone();
        let pruned = prune(&mut h, 1500);
        assert_eq!(pruned, vec!["a".to_owned(), "b".to_owned()]);
        assert!(matches!(&h[4], Item::ToolResult(r) if r.output.len() == 4000));
        assert!(matches!(&h[2], Item::ToolResult(r) if r.output.contains("read_file call a")));
        let mut replayed = original;
        apply_recorded_prunes(
            &mut replayed,
            &[(
                DOMAIN.into(),
                json!({"event": "pruned", "call_ids": pruned}),
            )],
        );
        assert_eq!(replayed, h);
    }

    #[test]
    fn the_transcript_keeps_head_and_tail_within_budget() {
        let h: Vec<Item> = (0..200)
            .map(|i| Item::UserMessage {
                text: format!("message {i} {}", "é".repeat(50)),
            })
            .collect();
        let t = transcript(&h, 4000);
        assert!(t.len() < 4200, "{}", t.len());
        assert!(t.contains("message 0 ") && t.contains("message 199 "));
        assert!(t.contains("left out"));
    }

    /// Child reports and reconciliation notices are part of what the summary is
    /// written from (and the prompt asks for them), so they survive compaction.
    #[test]
    fn notices_reach_the_summary_input() {
        let h = vec![
            Item::UserMessage {
                text: "split the work".into(),
            },
            Item::Notice {
                text: "child_lost{name: a}: scope /w/a reclaimed".into(),
            },
            result("r", 5000),
        ];
        let text = summary_request_text(&transcript(&h, 100_000), None);
        assert!(text.contains("NOTICE (from the runtime): child_lost{name: a}"));
        assert!(text.contains("Child Pods") && text.contains("Notices"));
        assert!(text.contains("more bytes]"), "tool output shortened");
        assert!(text.ends_with(COMPACTION_MARKER));
    }

    #[test]
    fn recent_user_messages_are_bounded() {
        let h: Vec<Item> = (0..10)
            .map(|i| Item::UserMessage {
                text: format!("m{i}"),
            })
            .collect();
        let r = recent_user_messages(&h, 1000);
        assert_eq!(
            r,
            vec![
                Item::UserMessage { text: "m7".into() },
                Item::UserMessage { text: "m8".into() },
                Item::UserMessage { text: "m9".into() },
            ]
        );
    }
}
