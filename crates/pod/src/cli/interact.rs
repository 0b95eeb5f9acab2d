//! Talking to a live Pod: `send`, `stop`, `attach`, and following a run in
//! `--print` / `--json` / line mode.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pod_ids::{PodName, Roots};
use protocol::{Attachment, Event, InputMode, Request, ServerMessage};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::signal::unix::{SignalKind, signal};

use super::exit::{Exit, fail};
use crate::client::{ClientError, PodClient};
use crate::layout::PodPaths;
use crate::liveness;
use crate::record::RecordStore;
use crate::{out, outln};

/// Version of the `--json` line schema (docs/json.md). Bumped when a field changes
/// meaning or disappears; new fields do not bump it.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// How a client follows a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Return at once.
    Detach,
    /// Print the final answer.
    Print,
    /// JSON lines of events.
    Json,
    /// Line-mode session.
    Interactive,
}

/// How a run ended, as the CLI reports it.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The exit code it maps to.
    pub exit: Exit,
    /// The model's final answer (empty when the run failed).
    pub final_text: String,
    /// The error, when the run failed or was interrupted.
    pub error: Option<String>,
}

impl RunOutcome {
    fn status(&self) -> &'static str {
        match self.exit {
            Exit::Success => "completed",
            Exit::Interrupted => "interrupted",
            _ => "failed",
        }
    }
}

/// Connects to a live Pod, or explains why not (and what to do).
pub async fn connect(
    roots: &Roots,
    name: &PodName,
    since: Option<u64>,
) -> anyhow::Result<PodClient> {
    let paths = PodPaths::new(roots, name);
    match PodClient::connect(&paths.socket(), since).await {
        Ok(c) => Ok(c),
        Err(ClientError::Connect { .. }) if liveness::probe(&paths.lock()).is_none() => {
            if record_exists(roots, name) {
                bail!(
                    "Pod {0} is not running; restore it with `pod resume {0}`",
                    name.as_str()
                )
            } else {
                Err(fail(
                    Exit::Usage,
                    format!(
                        "no Pod named {0}; start one with `pod run --name {0}`",
                        name.as_str()
                    ),
                ))
            }
        }
        Err(e) => Err(e).with_context(|| format!("cannot talk to Pod {}", name.as_str())),
    }
}

fn record_exists(roots: &Roots, name: &PodName) -> bool {
    RecordStore::new(roots.pods.clone())
        .load(name)
        .ok()
        .flatten()
        .is_some()
}

fn input(text: String, interrupt: bool, attachments: &[Attachment]) -> Request {
    let mode = if interrupt {
        InputMode::Interrupt
    } else {
        InputMode::Queue
    };
    Request::SendInput {
        text,
        mode,
        attachments: attachments.to_vec(),
    }
}

/// Sends input to a live Pod.
pub async fn send_input(
    roots: &Roots,
    name: &PodName,
    text: String,
    interrupt: bool,
    attachments: &[Attachment],
) -> anyhow::Result<()> {
    let mut c = connect(roots, name, None).await?;
    c.request(input(text, interrupt, attachments)).await?;
    Ok(())
}

/// `pod send`: without `how`, returns once the Pod accepted the message.
pub async fn send(
    roots: &Roots,
    name: &PodName,
    message: String,
    how: Option<Follow>,
    interrupt: bool,
    attachments: &[Attachment],
) -> anyhow::Result<ExitCode> {
    let Some(how) = how else {
        send_input(roots, name, message, interrupt, attachments).await?;
        return Ok(ExitCode::SUCCESS);
    };
    let mut c = connect(roots, name, None).await?;
    let started = Instant::now();
    c.request(input(message.clone(), interrupt, attachments))
        .await?;
    let outcome = wait_for_run(&mut c, &message, how).await?;
    report(&mut c, roots, name, &outcome, how, started).await
}

/// Waits for the `user_input` event of `text`, then for the end of that run,
/// printing according to `how`. The first Ctrl-C interrupts the run (the Pod closes
/// its tool calls as interrupted); a second one stops waiting.
async fn wait_for_run(c: &mut PodClient, text: &str, how: Follow) -> anyhow::Result<RunOutcome> {
    let mut started = false;
    let mut interrupted = false;
    // One listener for the whole wait: a Ctrl-C between two polls is not lost.
    let mut sigint = signal(SignalKind::interrupt())?;
    loop {
        let msg = tokio::select! {
            msg = c.next_message() => msg.map_err(|_| fail(Exit::Failed, "the Pod went away during the run"))?,
            _ = sigint.recv() => {
                if interrupted {
                    return Ok(RunOutcome { exit: Exit::Interrupted, final_text: String::new(), error: Some("interrupted".into()) });
                }
                interrupted = true;
                eprintln!("interrupting the run (Ctrl-C again to stop waiting)");
                let _ = c.request(Request::Interrupt).await;
                continue;
            }
        };
        if how == Follow::Json
            && let ServerMessage::Event { .. } | ServerMessage::Resync { .. } = &msg
        {
            outln!("{}", serde_json::to_string(&msg)?)?;
        }
        let ServerMessage::Event { event, .. } = msg else {
            continue;
        };
        match event {
            Event::UserInput { text: t }
                if t == text || t.starts_with(&format!("{text}\n\n<attached_file")) =>
            {
                started = true
            }
            Event::RunCompleted { final_text } if started => {
                return Ok(RunOutcome {
                    exit: Exit::Success,
                    final_text,
                    error: None,
                });
            }
            // The log could not be written (a full disk): our input may never have
            // been recorded, so its `user_input` will not come. Stop waiting.
            Event::RunErrored { error, .. }
                if !started && error.starts_with(crate::turn::LOG_FAILED_PREFIX) =>
            {
                return Ok(RunOutcome {
                    exit: Exit::Failed,
                    final_text: String::new(),
                    error: Some(error),
                });
            }
            Event::RunErrored {
                error,
                cancelled,
                config_error,
            } if started => {
                let exit = if cancelled {
                    Exit::Interrupted
                } else if config_error {
                    Exit::Config
                } else {
                    Exit::Failed
                };
                return Ok(RunOutcome {
                    exit,
                    final_text: String::new(),
                    error: Some(error),
                });
            }
            _ => {}
        }
    }
}

/// Prints the end of a run (`--print`: the answer; `--json`: the `result` line) and
/// gives the exit code.
async fn report(
    c: &mut PodClient,
    roots: &Roots,
    name: &PodName,
    outcome: &RunOutcome,
    how: Follow,
    started: Instant,
) -> anyhow::Result<ExitCode> {
    match how {
        Follow::Json => {
            // Totals as the Pod counts them; a Pod that is already stopping answers
            // nothing, and the last status we have stands in.
            let status = match c.request(Request::Status).await {
                Ok(v) => serde_json::from_value(v).unwrap_or_else(|_| c.status.clone()),
                Err(_) => c.status.clone(),
            };
            let line = json!({
                "type": "result",
                "schema_version": JSON_SCHEMA_VERSION,
                "name": name.as_str(),
                "status": outcome.status(),
                "final_text": outcome.final_text,
                "error": outcome.error,
                "usage": status.usage,
                "turns": status.turns,
                "duration_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "exit_code": outcome.exit as u8,
            });
            outln!("{line}")?;
        }
        Follow::Print if outcome.exit == Exit::Success => {
            // An answer too large for the socket arrived shortened: print it whole.
            let text = if outcome.final_text.ends_with(protocol::SHORTENED_MARKER) {
                last_answer(roots, name).unwrap_or_else(|| outcome.final_text.clone())
            } else {
                outcome.final_text.clone()
            };
            outln!("{text}")?
        }
        _ => {}
    }
    if let (Some(e), true) = (&outcome.error, how != Follow::Json) {
        match outcome.exit {
            Exit::Interrupted => eprintln!("interrupted: {e}"),
            _ => eprintln!("error: run failed: {e}"),
        }
    }
    Ok(outcome.exit.into())
}

/// The last answer in a Pod's session log.
fn last_answer(roots: &Roots, name: &PodName) -> Option<String> {
    let rec = RecordStore::new(roots.pods.clone()).load(name).ok()??;
    let (_, seg) = rec.active_segment()?;
    let read = session_store::SessionStore::new(roots.sessions.clone())
        .read_segment(seg)
        .ok()?;
    read.entries.into_iter().rev().find_map(|e| match e.kind {
        session_store::EntryKind::AssistantItem {
            item: transcript::Item::AssistantMessage { text } | transcript::Item::Refusal { text },
        } => Some(text),
        _ => None,
    })
}

/// The `started` line of a `--json` run.
fn started_line(roots: &Roots, c: &PodClient) -> serde_json::Value {
    let s = &c.status;
    let manifest = RecordStore::new(roots.pods.clone())
        .load(&s.name)
        .ok()
        .flatten()
        .map(|r| r.manifest);
    let paths = |access: scope::Access| -> Vec<String> {
        s.scope
            .allow
            .iter()
            .filter(|r| r.access == access)
            .map(|r| r.path.as_path().display().to_string())
            .collect()
    };
    json!({
        "type": "started",
        "schema_version": JSON_SCHEMA_VERSION,
        "name": s.name.as_str(),
        "session_id": s.session_id.to_string(),
        "segment_id": s.segment_id.to_string(),
        "pid": s.pid,
        "model": s.model,
        "provider": manifest.as_ref().map(|m| m.provider.clone()),
        "cwd": manifest.as_ref().map(|m| m.cwd.display().to_string()),
        "scope": {"write": paths(scope::Access::Write), "read": paths(scope::Access::Read)},
    })
}

/// Follows a run started with `task` (or, without one, a line-mode session). With
/// `one_shot`, the Pod is stopped once the run has ended, however it ended.
pub async fn follow(
    roots: &Roots,
    name: &PodName,
    task: Option<String>,
    how: Follow,
    one_shot: bool,
    attachments: &[Attachment],
) -> anyhow::Result<ExitCode> {
    let mut c = connect(roots, name, None).await?;
    if how == Follow::Interactive {
        return interactive(c, task, attachments).await;
    }
    let result = run_and_report(&mut c, roots, name, task, how, attachments).await;
    // However the run went (and if this process dies first, the Pod's owner watch
    // does the same), a one-shot Pod is stopped before we return.
    if one_shot {
        shutdown_and_wait(c, roots, name).await?;
    }
    result
}

/// Sends `task` (if any), waits for its run and prints it as `how` says.
async fn run_and_report(
    c: &mut PodClient,
    roots: &Roots,
    name: &PodName,
    task: Option<String>,
    how: Follow,
    attachments: &[Attachment],
) -> anyhow::Result<ExitCode> {
    if how == Follow::Json {
        outln!("{}", started_line(roots, c))?;
    }
    let Some(task) = task else {
        if how != Follow::Json {
            outln!("{} is {:?}", name.as_str(), c.status.state)?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    let started = Instant::now();
    c.request(input(task.clone(), false, attachments)).await?;
    let outcome = wait_for_run(c, &task, how).await?;
    report(c, roots, name, &outcome, how, started).await
}

/// `pod attach`.
pub async fn attach(roots: &Roots, name: &PodName) -> anyhow::Result<ExitCode> {
    let c = connect(roots, name, None).await?;
    eprintln!("attached to {} ({:?})", name.as_str(), c.status.state);
    interactive(c, None, &[]).await
}

const LINE_MODE_HINT: &str =
    "type a message and Enter · Ctrl-C interrupts the run, twice detaches · Ctrl-D detaches";

/// Line mode: each line is a message; the Pod keeps running when this ends.
async fn interactive(
    mut c: PodClient,
    task: Option<String>,
    attachments: &[Attachment],
) -> anyhow::Result<ExitCode> {
    eprintln!("{LINE_MODE_HINT}");
    let mut running = task.is_some() || c.status.state == protocol::PodState::Running;
    if let Some(t) = task {
        c.request(input(t, false, attachments)).await?;
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut interrupted = false;
    let mut sigint = signal(SignalKind::interrupt())?;
    // Tool calls waiting for our word: the next line answers the first of them.
    let mut approvals: std::collections::VecDeque<protocol::ApprovalRequest> =
        c.status.pending_approvals.clone().into();
    if let Some(a) = approvals.front() {
        print_approval(a)?;
    } else if !running {
        eprint!("> ");
    }
    loop {
        tokio::select! {
            line = lines.next_line(), if stdin_open => match line? {
                // EOF: wait for the answer in flight, then leave.
                None if running => stdin_open = false,
                None => return Ok(ExitCode::SUCCESS),
                Some(l) if l.trim().is_empty() => {}
                Some(l) if !approvals.is_empty() => match parse_approval(&l) {
                    Some((decision, reason)) => {
                        if let Some(a) = approvals.pop_front() {
                            let r = c.request(Request::AnswerApproval { approval: a.id, decision, reason }).await;
                            if let Err(e) = r {
                                outln!("[approval not taken: {e}]")?;
                            }
                        }
                        if let Some(next) = approvals.front() {
                            print_approval(next)?;
                        }
                    }
                    None => outln!("[answer the approval first: y (once), a (always), n REASON (deny)]")?,
                },
                Some(l) => {
                    c.request(input(l, false, &[])).await?;
                    running = true;
                    interrupted = false;
                }
            },
            _ = sigint.recv() => {
                // First Ctrl-C of a run interrupts it; the next one (or one while
                // nothing runs) detaches. The Pod keeps running either way.
                if interrupted || !running {
                    eprintln!("\ndetached; the Pod keeps running");
                    return Ok(Exit::Interrupted.into());
                }
                interrupted = true;
                eprintln!("\ninterrupting (Ctrl-C again to detach)");
                let _ = c.request(Request::Interrupt).await;
            }
            msg = c.next_message() => {
                let ServerMessage::Event { event, .. } = msg? else { continue };
                print_event(&event)?;
                match &event {
                    Event::ApprovalRequested { approval } => {
                        approvals.push_back(approval.clone());
                        if approvals.len() == 1 {
                            print_approval(approval)?;
                        }
                    }
                    Event::ApprovalResolved { id, .. } => approvals.retain(|a| a.id != *id),
                    _ => {}
                }
                if matches!(event, Event::RunCompleted { .. } | Event::RunErrored { .. }) {
                    running = false;
                    if !stdin_open {
                        return Ok(ExitCode::SUCCESS);
                    }
                    eprint!("> ");
                } else if matches!(event, Event::UserInput { .. }) {
                    running = true;
                }
            }
        }
    }
}

fn print_approval(a: &protocol::ApprovalRequest) -> std::io::Result<()> {
    outln!(
        "[approval needed: {} {} ({})]\n  y = once · a = always for this Pod · n REASON = deny",
        a.tool,
        one_line(&a.subject, 300),
        a.why
    )?;
    eprint!("approve? ");
    Ok(())
}

/// `y`, `a`, `n [reason]` (or the words) as an answer; `None`: not an answer.
fn parse_approval(line: &str) -> Option<(protocol::ApprovalDecision, Option<String>)> {
    use protocol::ApprovalDecision as D;
    let line = line.trim();
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let reason = (!rest.trim().is_empty()).then(|| rest.trim().to_string());
    match word.to_ascii_lowercase().as_str() {
        "y" | "yes" | "once" => Some((D::Once, None)),
        "a" | "always" => Some((D::Always, None)),
        "n" | "no" | "deny" => Some((D::Deny, reason)),
        _ => None,
    }
}

/// At most `max` characters of `s` on one line.
pub fn one_line(s: &str, max: usize) -> String {
    let flat = s.replace('\n', "⏎");
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

fn print_event(event: &Event) -> std::io::Result<()> {
    match event {
        Event::TextDelta { delta } => out!("{delta}"),
        Event::AssistantItem {
            item: transcript::Item::AssistantMessage { .. },
        } => outln!(),
        Event::AssistantItem {
            item: transcript::Item::ToolCall(call),
        } => outln!("[tool {} {}]", call.name, one_line(&call.arguments, 120)),
        Event::ToolResult {
            result,
            duration_ms,
        } => outln!(
            "[tool {} {} in {duration_ms} ms]",
            result.name,
            if result.is_error { "failed" } else { "done" }
        ),
        Event::RunErrored { error, .. } => outln!("[run failed: {error}]"),
        Event::Notice { text } => outln!("[notice: {}]", one_line(text, 200)),
        _ => Ok(()),
    }
}

/// Asks the Pod to shut down and waits until its process is gone (the liveness lock
/// is free, so its scope and name are released).
async fn shutdown_and_wait(mut c: PodClient, roots: &Roots, name: &PodName) -> anyhow::Result<()> {
    // The ack may race with the process exiting; either way we wait for exit below.
    let _ = c.request(Request::Shutdown).await;
    while c.next_message().await.is_ok() {}
    let lock = PodPaths::new(roots, name).lock();
    let deadline = Instant::now() + Duration::from_secs(10);
    // The connection closes when the socket server stops, a moment before the process
    // exits and drops its lock; poll the lock briefly with a deadline.
    while liveness::probe(&lock).is_some() {
        if Instant::now() > deadline {
            bail!("Pod {} did not exit within 10s", name.as_str());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// `pod stop`: asks for a clean shutdown and waits until the process is gone. A Pod
/// that is already stopped is not an error.
pub async fn stop(roots: &Roots, name: &PodName) -> anyhow::Result<ExitCode> {
    let paths = PodPaths::new(roots, name);
    if liveness::probe(&paths.lock()).is_none() {
        if !record_exists(roots, name) {
            return Err(fail(Exit::Usage, format!("no Pod named {}", name.as_str())));
        }
        outln!("{} already stopped", name.as_str())?;
        return Ok(ExitCode::SUCCESS);
    }
    let c = match PodClient::connect(&paths.socket(), None).await {
        Ok(c) => c,
        // It exited between the probe and the connect.
        Err(_) if liveness::probe(&paths.lock()).is_none() => {
            outln!("{} already stopped", name.as_str())?;
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e).with_context(|| format!("cannot talk to Pod {}", name.as_str())),
    };
    shutdown_and_wait(c, roots, name).await?;
    outln!("{} stopped", name.as_str())?;
    Ok(ExitCode::SUCCESS)
}
