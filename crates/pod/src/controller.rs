//! The controller actor: owns the Pod's state (`idle` / `running` / `paused`), its
//! conversation between runs, and the inbox; driven only by [`Command`]s on a channel
//! (nobody else touches the state).
//!
//! The inbox is level-triggered (ARCHITECTURE §8): whenever the controller is idle and
//! the inbox is non-empty — after a command, and whenever a run ends — it starts a run
//! with everything queued. So a notice arriving during a run's last model call is
//! picked up when that run ends, not at the next user input (PITFALLS). Child Pods
//! ([`crate::children`]) push [`Command::Notice`].

use std::collections::VecDeque;
use std::sync::Arc;

use pod_ids::PodName;
use protocol::{Attachment, ErrorCode, Event, InputMode, PodState, PodStatus};
use serde_json::{Value, json};
use session_store::EntryKind;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::journal::Journal;
use crate::turn::{self, Conversation, Input, RunCtx, UserInput};

/// A reply to a request: the ack's result or an error.
pub type Reply = Result<Value, (ErrorCode, String)>;

/// What the controller can be asked.
#[derive(Debug)]
pub enum Command {
    /// User input (queue or interrupt). Input to a paused Pod resumes it: the user
    /// asking for work is the decision that paused was waiting for.
    Input {
        /// Text.
        text: String,
        /// Queue behind or interrupt the current run.
        mode: InputMode,
        /// Files and images to attach (read by the Pod, inside its scope).
        attachments: Vec<Attachment>,
        /// Not from this child's parent (see `Event::RunStarted`).
        quiet: bool,
        /// Answer.
        reply: oneshot::Sender<Reply>,
    },
    /// A notice for the model (e.g. from a child); queued in the inbox.
    Notice {
        /// Exact text the model will see.
        text: String,
    },
    /// A notice shown with the next run but not starting one (a child's report of
    /// a run this Pod did not ask for).
    QuietNotice {
        /// Exact text the model will see.
        text: String,
    },
    /// Cancel the current run.
    Interrupt {
        /// Answer.
        reply: oneshot::Sender<Reply>,
    },
    /// Cancel the current run and start none until resumed.
    Pause {
        /// Answer.
        reply: oneshot::Sender<Reply>,
    },
    /// Leave paused.
    Resume {
        /// Answer.
        reply: oneshot::Sender<Reply>,
    },
    /// Compact the conversation now (`pod compact`); refused unless idle.
    Compact {
        /// Answer: the token counts and the new segment.
        reply: oneshot::Sender<Reply>,
    },
    /// Current status.
    Status {
        /// Answer.
        reply: oneshot::Sender<PodStatus>,
    },
    /// Cancel any run, write the terminal log entry and stop the actor.
    Shutdown {
        /// Why (logged).
        reason: String,
        /// Sent once everything is recorded.
        done: oneshot::Sender<()>,
    },
}

/// Clonable handle to the actor.
#[derive(Clone, Debug)]
pub struct ControllerHandle {
    tx: mpsc::Sender<Command>,
}

impl ControllerHandle {
    /// Sends a command; false when the controller has stopped.
    pub async fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).await.is_ok()
    }

    /// Asks for the status; `None` when the controller has stopped.
    pub async fn status(&self) -> Option<PodStatus> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Status { reply }).await.then_some(())?;
        rx.await.ok()
    }

    /// Shuts the controller down and waits until the terminal entry is written.
    pub async fn shutdown(&self, reason: &str) {
        let (done, rx) = oneshot::channel();
        if self
            .send(Command::Shutdown {
                reason: reason.into(),
                done,
            })
            .await
        {
            let _ = rx.await;
        }
    }
}

/// Fixed facts about the Pod that status reports.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Name.
    pub name: PodName,
    /// Session.
    pub session_id: pod_ids::SessionId,
    /// Active segment.
    pub segment_id: pod_ids::SegmentId,
    /// Scope.
    pub scope: scope::Scope,
}

struct Running {
    cancel: CancellationToken,
    join: JoinHandle<turn::Finished>,
}

/// The actor's state. Constructed by the Pod process (fresh or restored), then
/// consumed by [`Controller::spawn`].
pub struct Controller {
    id: Identity,
    ctx: Arc<RunCtx>,
    state: PodState,
    conv: Option<Conversation>,
    inbox: VecDeque<Input>,
    // Notices that ride along with the next run; they never start one.
    quiet: VecDeque<Input>,
    running: Option<Running>,
}

impl Controller {
    /// A controller over `conv`, starting in `state` (`Idle`, or `Paused` after an
    /// interrupted run was restored).
    ///
    /// Crate-private on purpose (ARCHITECTURE §8 "restore by construction"): a
    /// controller over a restored conversation must only come from the Pod process,
    /// which reconciles children before the first model request.
    pub(crate) fn new(id: Identity, ctx: Arc<RunCtx>, conv: Conversation, state: PodState) -> Self {
        Controller {
            id,
            ctx,
            state: if state == PodState::Running {
                PodState::Idle
            } else {
                state
            },
            conv: Some(conv),
            inbox: VecDeque::new(),
            quiet: VecDeque::new(),
            running: None,
        }
    }

    fn journal(&self) -> &Journal {
        &self.ctx.journal
    }

    /// Input that was accepted before a crash and never run (restore): queued first,
    /// and it takes a restored Pod out of `paused` (the user asked for work).
    pub(crate) fn with_pending(mut self, inputs: Vec<UserInput>) -> Self {
        if !inputs.is_empty() && self.state == PodState::Paused {
            self.state = PodState::Idle;
        }
        self.inbox.extend(inputs.into_iter().map(Input::User));
        self
    }

    /// Notices recorded before a crash that no run showed (restore): queued as they
    /// were, a quiet one riding with the next run. Unlike input they leave a paused
    /// Pod paused (notices wait for the user's decision).
    pub(crate) fn with_waiting_notices(mut self, notices: Vec<crate::notice_log::Waiting>) -> Self {
        for n in notices {
            if n.quiet {
                self.quiet.push_back(Input::Notice(n.text));
            } else {
                self.inbox.push_back(Input::Notice(n.text));
            }
        }
        self
    }

    /// Reads what the user attached, inside the Pod's scope: files are folded into
    /// the text (path and numbered lines), images stored as blobs. Any attachment
    /// that cannot be read refuses the whole input, naming it.
    async fn attach(
        &self,
        mut text: String,
        attachments: &[Attachment],
    ) -> Result<UserInput, String> {
        let mut images = Vec::new();
        for a in attachments {
            let (Attachment::File { path } | Attachment::Image { path }) = a;
            let out = self
                .ctx
                .tools
                .attach(a)
                .await
                .map_err(|e| format!("cannot attach {path}: {e}"))?;
            match a {
                Attachment::File { .. } => {
                    text.push_str(&format!(
                        "\n\n<attached_file path=\"{path}\">\n{}\n</attached_file>",
                        out.text.trim_end()
                    ));
                }
                Attachment::Image { .. } => {
                    for image in &out.images {
                        images.push(
                            self.ctx
                                .images
                                .store(image)
                                .map_err(|e| format!("cannot attach {path}: {e}"))?,
                        );
                    }
                }
            }
        }
        Ok(UserInput {
            text,
            images,
            quiet: false,
        })
    }

    /// Starts the actor task.
    pub fn spawn(self) -> (ControllerHandle, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(64);
        let join = tokio::spawn(self.run(rx));
        (ControllerHandle { tx }, join)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            self.start_run_if_ready();
            let cmd = if let Some(r) = self.running.as_mut() {
                tokio::select! {
                    done = &mut r.join => {
                        self.finish_run(done, PodState::Idle);
                        continue;
                    }
                    cmd = rx.recv() => cmd,
                }
            } else {
                rx.recv().await
            };
            let Some(cmd) = cmd else {
                // Every handle is gone: nothing can talk to us any more.
                self.stop_run(PodState::Idle).await;
                return;
            };
            if let Command::Shutdown { reason, done } = cmd {
                self.shutdown(&reason).await;
                let _ = done.send(());
                return;
            }
            self.handle(cmd).await;
        }
    }

    fn set_state(&mut self, state: PodState) {
        if self.state != state {
            self.state = state;
            self.journal().emit(Event::StateChanged { state });
        }
    }

    /// The level trigger: idle + non-empty inbox ⇒ start a run with all of it.
    fn start_run_if_ready(&mut self) {
        if self.state != PodState::Idle || self.inbox.is_empty() {
            return;
        }
        let Some(conv) = self.conv.take() else {
            return;
        };
        let inputs: Vec<Input> = self.quiet.drain(..).chain(self.inbox.drain(..)).collect();
        // Only user input from clients other than the parent (a child Pod's user).
        let quiet = inputs
            .iter()
            .all(|i| matches!(i, Input::User(u) if u.quiet));
        // State first, so `state_changed{running}` precedes the run's own events.
        self.set_state(PodState::Running);
        self.journal().emit(Event::RunStarted { quiet });
        let cancel = CancellationToken::new();
        let join = tokio::spawn(turn::run(self.ctx.clone(), conv, inputs, cancel.clone()));
        self.running = Some(Running { cancel, join });
    }

    /// Takes a finished run back: state first (to `next`), then the run's end entries,
    /// so anyone reacting to `run_completed` already sees the new state.
    fn finish_run(&mut self, done: Result<turn::Finished, tokio::task::JoinError>, next: PodState) {
        self.running = None;
        match done {
            Ok(f) => {
                self.conv = Some(f.conv);
                self.set_state(next);
                for (entry, event) in f.end {
                    if let Err(e) = self.journal().record(&entry, Some(event)) {
                        tracing::error!(error = %e, "cannot append the end of a run");
                    }
                }
            }
            Err(e) => {
                // A panicking run loses its in-memory conversation; the log is intact,
                // so the Pod stays usable after `pod resume`. Refuse further runs.
                tracing::error!(error = %e, "run task failed");
                self.set_state(PodState::Paused);
            }
        }
    }

    /// Cancels the current run (if any) and waits for it to record its end.
    async fn stop_run(&mut self, next: PodState) {
        if let Some(r) = self.running.take() {
            r.cancel.cancel();
            let done = r.join.await;
            self.finish_run(done, next);
        }
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Input {
                text,
                mode,
                attachments,
                quiet,
                reply,
            } => {
                let input = match self.attach(text, &attachments).await {
                    Ok(input) => UserInput { quiet, ..input },
                    Err(e) => {
                        let _ = reply.send(Err((ErrorCode::InvalidState, e)));
                        return;
                    }
                };
                // Durable before acknowledged: a SIGKILL after `pod send` returned
                // must not lose the message (restore re-queues it).
                if let Err(e) = self
                    .journal()
                    .record(&crate::input_log::queued(&input), None)
                {
                    let _ = reply.send(Err((
                        ErrorCode::Internal,
                        format!("the input could not be recorded: {e}"),
                    )));
                    return;
                }
                let queued = self.running.is_some();
                self.inbox.push_back(Input::User(input));
                if mode == InputMode::Interrupt {
                    self.stop_run(PodState::Idle).await;
                }
                if self.state == PodState::Paused {
                    self.set_state(PodState::Idle);
                }
                let _ = reply.send(Ok(json!({"queued": queued && mode == InputMode::Queue})));
            }
            Command::Notice { text } => self.inbox.push_back(Input::Notice(text)),
            Command::QuietNotice { text } => self.quiet.push_back(Input::Notice(text)),
            Command::Interrupt { reply } => {
                let was = self.running.is_some();
                self.stop_run(PodState::Idle).await;
                let _ = reply.send(Ok(json!({"interrupted": was})));
            }
            Command::Pause { reply } => {
                self.stop_run(PodState::Paused).await;
                self.set_state(PodState::Paused);
                let _ = reply.send(Ok(json!({"state": "paused"})));
            }
            Command::Resume { reply } => {
                if self.state == PodState::Paused {
                    self.set_state(PodState::Idle);
                }
                let _ = reply.send(Ok(json!({"state": self.state})));
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::Compact { reply } => self.start_compaction(reply),
            Command::Shutdown { .. } => {}
        }
    }

    /// Runs a requested compaction like a run (state `running`, cancellable by
    /// interrupt and shutdown), so the actor keeps answering while the model writes
    /// the summary.
    fn start_compaction(&mut self, reply: oneshot::Sender<Reply>) {
        if self.state != PodState::Idle || self.running.is_some() {
            let _ = reply.send(Err((
                ErrorCode::InvalidState,
                format!(
                    "the Pod is {}; compact it when it is idle (interrupt or resume it first)",
                    serde_json::to_value(self.state)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ),
            )));
            return;
        }
        let Some(mut conv) = self.conv.take() else {
            let _ = reply.send(Err((ErrorCode::Internal, "no conversation".into())));
            return;
        };
        self.set_state(PodState::Running);
        let cancel = CancellationToken::new();
        let ctx = self.ctx.clone();
        let token = cancel.clone();
        let join = tokio::spawn(async move {
            let result = match ctx.compactor.as_ref() {
                Some(c) => crate::compaction::compact(
                    &ctx,
                    c,
                    &mut conv,
                    crate::compaction::Why::Requested,
                    &token,
                )
                .await
                .map(|done| {
                    json!({
                        "from_segment": done.from.to_string(),
                        "segment_id": done.to.to_string(),
                        "before_tokens": done.before_tokens,
                        "after_tokens": done.after_tokens,
                        "local_ms": done.local_ms,
                    })
                })
                .map_err(|e| (ErrorCode::Internal, e)),
                None => Err((ErrorCode::InvalidState, "this Pod cannot compact".into())),
            };
            let _ = reply.send(result);
            turn::Finished {
                conv,
                end: Vec::new(),
            }
        });
        self.running = Some(Running { cancel, join });
    }

    fn status(&self) -> PodStatus {
        let (turns, usage, model) = self
            .conv
            .as_ref()
            .map(|c| (c.turns, c.usage, c.config.model.clone()))
            .unwrap_or_default();
        PodStatus {
            name: self.id.name.clone(),
            state: self.state,
            pid: std::process::id(),
            session_id: self.id.session_id,
            // Compaction moves the Pod to a new segment: the journal knows which.
            segment_id: self.ctx.journal.segment_id(),
            model,
            turns,
            usage,
            scope: self.id.scope.clone(),
            queued_inputs: self.inbox.len(),
            context_window: self.ctx.compactor.as_ref().and_then(|c| c.window),
            pending_approvals: Vec::new(),
        }
    }

    async fn shutdown(&mut self, reason: &str) {
        self.stop_run(PodState::Idle).await;
        self.journal().emit(Event::ShuttingDown {
            reason: reason.into(),
        });
        // The terminal entry of a clean stop: `pod ls` tells `stopped` from `lost` by it.
        let entry = EntryKind::Extension {
            domain: crate::LIFECYCLE_DOMAIN.into(),
            payload: json!({"event": "stopped", "reason": reason, "pid": std::process::id()}),
        };
        if let Err(e) = self
            .journal()
            .record(&entry, None)
            .and_then(|()| self.journal().sync())
        {
            tracing::error!(error = %e, "cannot append the stop entry");
        }
    }
}

#[cfg(test)]
#[path = "controller_inbox_tests.rs"]
mod inbox_tests;
