//! Talking to children: `send_to_pod`, `read_pod_output`, `wait_pod`.
//!
//! Output is read from the child's own session log (not from its socket), so it is
//! available whether the child is alive, stopped or lost. The cursor is
//! `SEGMENT:SEQ`: when the child's active segment changed since (a fork or a
//! compaction), reading restarts at the new segment's beginning, so the cursor
//! survives compaction and the parent's restart (the model holds it, not memory).

use std::sync::Arc;
use std::time::Duration;

use pod_ids::{PodName, SegmentId};
use protocol::{InputMode, Request};
use session_store::{EntryKind, SessionStore};
use transcript::Item;

use super::{Children, NOTICE_CAP, cap};
use crate::client::PodClient;
use crate::layout::PodPaths;
use crate::record::RecordStore;

impl Children {
    fn child_record(&self, child: &PodName) -> Result<pod_store::ChildRecord, String> {
        self.records()
            .into_iter()
            .find(|c| &c.name == child)
            .ok_or_else(|| format!("{child} is not a child of this Pod"))
    }

    /// Gives a child input (queued behind its current run, or interrupting it).
    pub async fn send(
        &self,
        child: &PodName,
        message: &str,
        mode: InputMode,
    ) -> Result<String, String> {
        let rec = self.child_record(child)?;
        if !rec.status.is_outstanding() {
            return Err(format!(
                "child {child} is {}; it cannot take input",
                rec.status
            ));
        }
        let sock = PodPaths::new(&self.roots, child).socket();
        let mut c = PodClient::connect(&sock, None)
            .await
            .map_err(|e| format!("child {child} is unreachable: {e}"))?;
        let r = c
            .request(Request::SendInput {
                text: message.to_string(),
                mode,
                attachments: Vec::new(),
            })
            .await
            .map_err(|e| format!("child {child} refused the input: {e}"))?;
        Ok(format!("sent to {child}: {r}"))
    }

    /// Status and the assistant messages after `since` (a cursor from an earlier
    /// call), with the next cursor.
    pub async fn read_output(
        &self,
        child: &PodName,
        since: Option<&str>,
    ) -> Result<String, String> {
        let rec = self.child_record(child)?;
        let status = self.status_of(child, rec.status).await;
        let record = RecordStore::new(self.roots.pods.clone())
            .load(child)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("child {child} has no record"))?;
        let Some((_, segment)) = record.active_segment() else {
            return Ok(format!("status: {status}\n(no output yet)\ncursor: none"));
        };
        let after = since
            .and_then(|c| c.split_once(':'))
            .and_then(|(seg, seq)| Some((seg.parse::<SegmentId>().ok()?, seq.parse::<u64>().ok()?)))
            .filter(|(seg, _)| *seg == segment)
            .map(|(_, seq)| seq);
        let sessions = SessionStore::new(self.roots.sessions.clone());
        let read = match after {
            Some(seq) => sessions.read_from(segment, seq),
            None => sessions.read_segment(segment),
        }
        .map_err(|e| e.to_string())?;
        let mut last = after.unwrap_or(0);
        let mut out = Vec::new();
        for e in &read.entries {
            last = last.max(e.seq);
            if let EntryKind::AssistantItem {
                item: Item::AssistantMessage { text },
            } = &e.kind
            {
                out.push(text.clone());
            }
        }
        let body = if out.is_empty() {
            "(no new output)".to_string()
        } else {
            cap(&out.join("\n---\n"), NOTICE_CAP)
        };
        Ok(format!(
            "status: {status}\n{body}\ncursor: {segment}:{last}"
        ))
    }

    /// `live (idle)` etc.: the record's status, refined by the child's own answer
    /// when it is reachable.
    async fn status_of(&self, child: &PodName, st: pod_store::ChildStatus) -> String {
        if !st.is_outstanding() {
            return st.to_string();
        }
        let sock = PodPaths::new(&self.roots, child).socket();
        let ask = async {
            let mut c = PodClient::connect(&sock, None).await.ok()?;
            let v = c.request(Request::Status).await.ok()?;
            v.get("state").and_then(|s| s.as_str()).map(str::to_owned)
        };
        match tokio::time::timeout(Duration::from_secs(2), ask).await {
            Ok(Some(state)) => format!("{st} ({state})"),
            _ => format!("{st} (unreachable)"),
        }
    }

    /// Waits until `child` (or any child, `None`) reports or exits, at most `timeout`.
    pub async fn wait(
        self: &Arc<Self>,
        child: Option<&PodName>,
        timeout: Duration,
    ) -> Result<String, String> {
        let mut rxs = Vec::new();
        {
            let mut g = super::lock(&self.live);
            for (name, l) in g.iter_mut() {
                if child.is_none_or(|c| c == name) {
                    let now = *l.changed.borrow();
                    if now != l.waited {
                        // Something happened since the last wait: return it now.
                        l.waited = now;
                        let name = name.clone();
                        drop(g);
                        return Ok(self.describe_latest(&name));
                    }
                    rxs.push((name.clone(), l.changed.subscribe()));
                }
            }
        }
        if rxs.is_empty() {
            return Err(match child {
                Some(c) => format!("{c} is not a running child of this Pod"),
                None => "this Pod has no running children".into(),
            });
        }
        let waits = rxs.into_iter().map(|(name, mut rx)| {
            Box::pin(async move {
                let _ = rx.changed().await;
                name
            })
        });
        match tokio::time::timeout(timeout, futures::future::select_all(waits)).await {
            Ok((name, _, _)) => {
                if let Some(l) = super::lock(&self.live).get_mut(&name) {
                    l.waited = *l.changed.borrow();
                }
                Ok(self.describe_latest(&name))
            }
            Err(_) => Ok(format!("no child finished within {}s", timeout.as_secs())),
        }
    }

    fn describe_latest(&self, child: &PodName) -> String {
        let g = super::lock(&self.live);
        let latest = g.get(child).and_then(|l| l.reports.last().cloned());
        let exited = g.get(child).and_then(|l| l.exit.borrow().clone());
        drop(g);
        match (exited, latest) {
            (Some(reason), _) => format!("child {child} exited: {reason}"),
            (None, Some(protocol::ChildReport::Finished { final_text })) => {
                format!("child {child} finished:\n{}", cap(&final_text, NOTICE_CAP))
            }
            (None, Some(protocol::ChildReport::Errored { error })) => {
                format!("child {child} errored: {error}")
            }
            (None, Some(protocol::ChildReport::ApprovalRequested { approval })) => {
                super::approvals::notice(child, &approval)
            }
            (None, None) => format!("child {child} changed state"),
        }
    }
}
