//! A child's approval requests on the parent's side: the child reports each one
//! (it is a notice for the parent's model and wakes `wait_pod`), the parent's
//! `answer_approval` tool answers it on the child's socket. A human attached to the
//! child may answer first; then the parent's answer is refused by the child.
//!
//! Also the parent's `child_finished` hooks, which see every run end a child
//! reports before the notice reaches the model.

use pod_ids::PodName;
use protocol::{ApprovalDecision, ApprovalRequest, ChildReport, Request};
use serde_json::json;

use super::{Children, NOTICE_CAP, cap, lock};
use crate::client::PodClient;
use crate::layout::PodPaths;
use crate::policy::{HookEvent, HookRunner};

/// The notice the parent's model gets for a child's approval request.
pub fn notice(child: &PodName, a: &ApprovalRequest) -> String {
    format!(
        "approval_requested{{name: {child}, approval: {id}}}: child Pod {child} wants to run `{tool}` on {subject} and waits for an approval ({why}). Answer with answer_approval{{pod: \"{child}\", approval: {id}, decision: \"once\" | \"always\" | \"deny\", reason}}.",
        id = a.id,
        tool = a.tool,
        subject = cap(&a.subject, 2000),
        why = a.why,
    )
}

impl Children {
    /// Sets the `child_finished` hooks.
    pub fn set_hooks(&self, hooks: HookRunner) {
        let _ = self.hooks.set(hooks);
    }

    /// A request `child` reported and nobody answered through us yet (`None`: its
    /// oldest). Reports live in memory: after our restart the child itself is asked
    /// (its status lists what waits), so a notice in our log can still be answered.
    pub async fn approval_request(
        &self,
        child: &PodName,
        id: Option<u64>,
    ) -> Option<ApprovalRequest> {
        let pick = |list: Vec<ApprovalRequest>| match id {
            Some(id) => list.into_iter().find(|r| r.id == id),
            None => list.into_iter().min_by_key(|r| r.id),
        };
        let known: Vec<ApprovalRequest> = lock(&self.approvals)
            .iter()
            .filter(|((c, _), _)| c == child)
            .map(|(_, r)| r.clone())
            .collect();
        if let Some(r) = pick(known) {
            return Some(r);
        }
        if !lock(&self.live).contains_key(child) {
            return None;
        }
        let sock = PodPaths::new(&self.roots, child).socket();
        let c = PodClient::connect(&sock, None).await.ok()?;
        pick(c.status.pending_approvals.clone())
    }

    /// Answers `child`'s approval `id` on its socket.
    pub async fn answer_approval(
        &self,
        child: &PodName,
        id: u64,
        decision: ApprovalDecision,
        reason: Option<String>,
    ) -> Result<String, String> {
        let sock = PodPaths::new(&self.roots, child).socket();
        let mut c = PodClient::connect(&sock, None)
            .await
            .map_err(|e| format!("child {child} is unreachable: {e}"))?;
        let r = c
            .request(Request::AnswerApproval {
                approval: id,
                decision,
                reason,
            })
            .await;
        // Answered (by us now, or by someone else before): either way it no longer
        // waits for us.
        lock(&self.approvals).remove(&(child.clone(), id));
        r.map_err(|e| format!("child {child} did not take the answer: {e}"))?;
        Ok(format!("answered approval {id} of {child}: {decision:?}").to_lowercase())
    }

    /// The `child_finished` hooks' input for `report` (`None`: no such hooks, or
    /// not a run end). Recorded with the notice, so a restore can run hooks a crash
    /// cut off (see `notice_log`).
    pub(super) fn finished_hook_input(
        &self,
        child: &PodName,
        report: &ChildReport,
    ) -> Option<serde_json::Value> {
        self.hooks
            .get()
            .filter(|h| h.has(HookEvent::ChildFinished))?;
        let (status, output) = match report {
            ChildReport::Finished { final_text } => ("finished", cap(final_text, NOTICE_CAP)),
            ChildReport::Errored { error } => ("errored", cap(error, NOTICE_CAP)),
            ChildReport::ApprovalRequested { .. } => return None,
        };
        Some(json!({"child": child.as_str(), "status": status, "output": output}))
    }

    /// Gives a run end to the model after the `child_finished` hooks had their say
    /// on `input` (their notes are appended to the notice, and the log says they
    /// ran). Also how a restored Pod finishes hooks its crash cut off.
    pub fn notify_after_hooks(
        &self,
        input: serde_json::Value,
        text: String,
        quiet: bool,
        key: String,
    ) {
        let (Some(hooks), Some(controller)) =
            (self.hooks.get().cloned(), self.controller.get().cloned())
        else {
            // No controller (a workflow lead's, which takes no notices) or no hooks:
            // handed over as it is, like any notice.
            return self.hand_over(super::notice_command(text, quiet));
        };
        let notices = self.notices.get().cloned();
        tokio::spawn(async move {
            let v = hooks.run(HookEvent::ChildFinished, None, input).await;
            let mut text = text;
            for n in v
                .notes
                .iter()
                .chain(v.block.iter())
                .chain(v.problems.iter())
            {
                text.push_str(&format!("\n[child_finished hook] {n}"));
            }
            // In the log before the model can see it; a crash before this runs the
            // hooks again at restore.
            if let Some(Err(e)) = notices.map(|n| n.hooked(&key, &text)) {
                tracing::error!(error = %e, "cannot record a child_finished hook's notes");
            }
            controller.send(super::notice_command(text, quiet)).await;
        });
    }
}
