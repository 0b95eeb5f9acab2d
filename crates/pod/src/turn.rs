//! One run of the turn loop (ARCHITECTURE §8): append the inputs, stream the model,
//! append each assistant item as it completes, run the tool calls (in parallel when
//! several were asked for), append their results, and loop until the model stops;
//! then `turn_end` and a terminal entry. Every entry goes through the [`Journal`], so
//! it is in the log before any client hears of it.
//!
//! Cancellation (interrupt, pause, shutdown) is observed at every await; tool calls
//! still running are closed with a synthetic "interrupted" result, so the log never
//! holds a call without a result when a run ends.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use llm::{Provider, Request, StreamEvent};
use protocol::Event;
use session_store::{EntryKind, StoreError};
use tokio_util::sync::CancellationToken;
use transcript::{
    ImageRef, Item, RequestConfig, StopReason, ToolCall, ToolResult, ToolSpec, Usage,
};

use crate::journal::Journal;
use crate::toolbox::{ToolRun, ToolRunner};

/// Output of a tool call that never finished (cancelled, or the process died).
pub const INTERRUPTED_OUTPUT: &str = "interrupted: the Pod stopped before this tool call finished; it was not run again. Check its effects before retrying.";

/// Output of a tool call from a model response that failed before it completed.
pub const NOT_RUN_OUTPUT: &str =
    "not run: the model's response failed before it completed, so this call was never executed.";

/// How a run that could not write its session log (a full disk) is announced. Its
/// input may never have been recorded, so clients waiting for that input's run end on
/// this too instead of waiting forever.
pub const LOG_FAILED_PREFIX: &str = "session log failed: ";

/// Ends assistant text that an interrupt cut off, in the log and in what the model
/// sees next: the text stays, marked as unfinished.
pub const INTERRUPTED_MARK: &str = "\n\n[interrupted]";

/// Model round-trips per run before the run is stopped (a runaway loop guard).
const MAX_MODEL_CALLS_PER_RUN: usize = 200;

/// The conversation state the controller owns between runs and lends to a run.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// System prompt.
    pub system: String,
    /// Tools offered.
    pub tools: Vec<ToolSpec>,
    /// Request config.
    pub config: RequestConfig,
    /// History (as replay rebuilds it).
    pub history: Vec<Item>,
    /// Completed turns.
    pub turns: u64,
    /// Usage so far.
    pub usage: Usage,
    /// The provider's token count of the last request plus its answer, and the
    /// history length it covered (`None` until a usage arrives, and after the history
    /// was pruned or compacted): the base of context accounting.
    pub reported: Option<(u64, usize)>,
}

/// User input as a run takes it: the text (attached files already folded in) and
/// the images attached to it (already stored as blobs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserInput {
    /// The text.
    pub text: String,
    /// Attached images.
    pub images: Vec<ImageRef>,
    /// On a child Pod: not from its parent (a user talking to the child).
    pub quiet: bool,
}

impl From<String> for UserInput {
    fn from(text: String) -> UserInput {
        UserInput {
            text,
            images: Vec::new(),
            quiet: false,
        }
    }
}

/// What a run starts from: user input or a notice (from the level-triggered inbox).
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// User input.
    User(UserInput),
    /// A notice the model is shown (e.g. a child finished).
    Notice(String),
}

/// What a run needs besides the conversation.
pub struct RunCtx {
    /// The model.
    pub provider: Arc<dyn Provider>,
    /// The tools.
    pub tools: Arc<dyn ToolRunner>,
    /// Log + broadcast.
    pub journal: Journal,
    /// Pruning and compaction (`None`: never compacts, e.g. in unit tests).
    pub compactor: Option<Arc<crate::compaction::Compactor>>,
    /// `user_prompt_submit` and `stop` hooks (`None`: none, e.g. in unit tests).
    pub hooks: Option<crate::policy::HookRunner>,
    /// Where images shown to the model are kept.
    pub images: crate::images::Images,
}

/// Times one run may be sent back to work by `stop` hooks (a hook that always
/// blocks must not loop until the model-call limit).
const MAX_STOP_CONTINUATIONS: usize = 8;

enum RunEnd {
    Completed(String, Option<StopReason>),
    Errored(String, Option<StopReason>),
    /// The provider refused the configuration (key, model, address): retrying the
    /// same request cannot help.
    ConfigErrored(String),
    Cancelled(String),
    /// The provider said the context is too long (compact and retry once).
    TooLong(String),
    /// The log itself failed: nothing more can be recorded.
    LogFailed(StoreError),
}

impl From<StoreError> for RunEnd {
    fn from(e: StoreError) -> Self {
        RunEnd::LogFailed(e)
    }
}

/// A finished run: the conversation back, and the entries that end it. The
/// controller records those *after* updating its state, so a client that hears
/// `run_completed` and then asks for the status sees the Pod idle.
pub struct Finished {
    /// The conversation, with this run's items.
    pub conv: Conversation,
    /// `turn_end` and the terminal entry, with their events.
    pub end: Vec<(EntryKind, Event)>,
}

/// Runs one run to its end and gives the conversation back.
pub async fn run(
    ctx: Arc<RunCtx>,
    mut conv: Conversation,
    inputs: Vec<Input>,
    cancel: CancellationToken,
) -> Finished {
    let end = match append_inputs(&ctx, &mut conv, inputs).await {
        Ok(None) => model_loop(&ctx, &mut conv, &cancel).await,
        Ok(Some(blocked)) => RunEnd::Errored(blocked, None),
        Err(e) => RunEnd::LogFailed(e),
    };
    conv.turns += 1;
    let turn = conv.turns;
    let (entry, event, stop) = match end {
        RunEnd::Completed(final_text, stop) => (
            EntryKind::RunCompleted,
            Event::RunCompleted { final_text },
            stop,
        ),
        RunEnd::Errored(error, stop) => errored(error, false, false, stop),
        RunEnd::ConfigErrored(error) => errored(error, false, true, None),
        RunEnd::Cancelled(why) => errored(why, true, false, None),
        RunEnd::TooLong(error) => errored(error, false, false, None),
        RunEnd::LogFailed(e) => {
            tracing::error!(error = %e, "session log append failed; run abandoned");
            ctx.journal.emit(Event::RunErrored {
                error: format!("{LOG_FAILED_PREFIX}{e}"),
                cancelled: false,
                config_error: false,
            });
            return Finished {
                conv,
                end: Vec::new(),
            };
        }
    };
    Finished {
        conv,
        end: vec![
            (EntryKind::TurnEnd { turn }, Event::TurnEnd { turn, stop }),
            (entry, event),
        ],
    }
}

fn errored(
    error: String,
    cancelled: bool,
    config_error: bool,
    stop: Option<StopReason>,
) -> (EntryKind, Event, Option<StopReason>) {
    (
        EntryKind::RunErrored {
            error: error.clone(),
        },
        Event::RunErrored {
            error,
            cancelled,
            config_error,
        },
        stop,
    )
}

/// A model error as the run ends with it.
fn model_error(e: llm::LlmError) -> RunEnd {
    if e.is_config_or_auth() {
        RunEnd::ConfigErrored(e.to_string())
    } else {
        RunEnd::Errored(e.to_string(), None)
    }
}

fn is_too_long(e: &llm::LlmError) -> bool {
    matches!(e, llm::LlmError::ContextTooLong { .. })
}

async fn force_compaction(
    ctx: &RunCtx,
    conv: &mut Conversation,
    cancel: &CancellationToken,
) -> Result<(), String> {
    let Some(c) = ctx.compactor.as_ref() else {
        return Err("no compactor".into());
    };
    crate::compaction::compact(ctx, c, conv, crate::compaction::Why::ContextTooLong, cancel)
        .await
        .map(|_| ())
}

fn compaction_failed(e: String, cancel: &CancellationToken) -> RunEnd {
    if cancel.is_cancelled() {
        RunEnd::Cancelled("cancelled".into())
    } else {
        RunEnd::Errored(
            format!("the conversation is too long and compacting it failed: {e}"),
            None,
        )
    }
}

/// Appends the inputs; `Some(why)` when `user_prompt_submit` hooks blocked every
/// one of them (nothing for the model to answer).
async fn append_inputs(
    ctx: &RunCtx,
    conv: &mut Conversation,
    inputs: Vec<Input>,
) -> Result<Option<String>, StoreError> {
    use crate::policy::HookEvent;
    let users = inputs
        .iter()
        .filter(|i| matches!(i, Input::User(_)))
        .count();
    let mut blocked = Vec::new();
    let any_notice = inputs.iter().any(|i| matches!(i, Input::Notice(_)));
    for input in inputs {
        match input {
            Input::User(UserInput { text, images, .. }) => {
                let verdict = match &ctx.hooks {
                    Some(h) if h.has(HookEvent::UserPromptSubmit) => Some(
                        h.run(
                            HookEvent::UserPromptSubmit,
                            None,
                            serde_json::json!({"prompt": text}),
                        )
                        .await,
                    ),
                    _ => None,
                };
                if let Some(why) = verdict.as_ref().and_then(|v| v.block.clone()) {
                    blocked.push(why);
                    continue;
                }
                ctx.journal.record(
                    &EntryKind::UserInput { text: text.clone() },
                    Some(Event::UserInput { text: text.clone() }),
                )?;
                conv.history.push(Item::UserMessage { text });
                record_images(ctx, conv, images)?;
                for n in verdict.iter().flat_map(|v| v.notes.iter()) {
                    crate::policy::hooks::give_note(
                        &ctx.journal,
                        &mut conv.history,
                        HookEvent::UserPromptSubmit,
                        n,
                    )?;
                }
            }
            Input::Notice(text) => {
                ctx.journal.record(
                    &EntryKind::SystemItem { text: text.clone() },
                    Some(Event::Notice { text: text.clone() }),
                )?;
                conv.history.push(Item::Notice { text });
            }
        }
    }
    // After the `user_input` entries: a crash in between re-queues, never loses.
    // A blocked input counts as consumed: restore must not give it to the model.
    if users > 0 {
        ctx.journal
            .record(&crate::input_log::consumed(users), None)?;
    }
    if !blocked.is_empty() && blocked.len() == users && !any_notice {
        return Ok(Some(format!(
            "the prompt was blocked by a user_prompt_submit hook: {}",
            blocked.join("; ")
        )));
    }
    Ok(None)
}

async fn model_loop(ctx: &RunCtx, conv: &mut Conversation, cancel: &CancellationToken) -> RunEnd {
    let mut final_text = String::new();
    // One compact-and-retry per model call when the provider says the context is
    // too long; a second refusal ends the run.
    let mut retried_too_long = false;
    let mut stop_continuations = 0usize;
    for _ in 0..MAX_MODEL_CALLS_PER_RUN {
        if let Err(e) = crate::compaction::ensure_room(ctx, conv, cancel).await {
            return compaction_failed(e, cancel);
        }
        let req = Request {
            system: conv.system.clone(),
            history: conv.history.clone(),
            tools: conv.tools.clone(),
            config: conv.config.clone(),
            images: ctx.images.for_request(&conv.history),
        };
        let mut stream = match ctx.provider.stream(&req, cancel.clone()) {
            Ok(s) => s,
            Err(e) if is_too_long(&e) && !retried_too_long && ctx.compactor.is_some() => {
                retried_too_long = true;
                if let Err(e) = force_compaction(ctx, conv, cancel).await {
                    return compaction_failed(e, cancel);
                }
                continue;
            }
            Err(e) => return model_error(e),
        };
        let mut calls: Vec<ToolCall> = Vec::new();
        let mut recorded_items = 0usize;
        // Assistant text streamed but not yet completed as an item: kept in the log
        // if the run is interrupted, so what the user already read is never lost.
        let mut partial = String::new();
        let outcome = loop {
            let ev = tokio::select! {
                biased;
                () = cancel.cancelled() => break Err(RunEnd::Cancelled("cancelled".into())),
                ev = stream.next() => ev,
            };
            match ev {
                None | Some(Err(llm::LlmError::Cancelled)) => {
                    break Err(RunEnd::Cancelled("cancelled".into()));
                }
                Some(Err(e)) if is_too_long(&e) && ctx.compactor.is_some() => {
                    break Err(RunEnd::TooLong(e.to_string()));
                }
                Some(Err(e)) => break Err(model_error(e)),
                Some(Ok(StreamEvent::TextDelta(delta))) => {
                    partial.push_str(&delta);
                    ctx.journal.emit(Event::TextDelta { delta })
                }
                Some(Ok(StreamEvent::ReasoningDelta(delta))) => {
                    ctx.journal.emit(Event::ReasoningDelta { delta })
                }
                Some(Ok(StreamEvent::ItemDone(item))) => {
                    if let Err(e) = ctx.journal.record(
                        &EntryKind::AssistantItem { item: item.clone() },
                        Some(Event::AssistantItem { item: item.clone() }),
                    ) {
                        return e.into();
                    }
                    recorded_items += 1;
                    match &item {
                        Item::ToolCall(c) => calls.push(c.clone()),
                        Item::AssistantMessage { text } | Item::Refusal { text } => {
                            partial.clear();
                            final_text = text.clone()
                        }
                        _ => {}
                    }
                    conv.history.push(item);
                }
                // A retry that diverged restates the response from its start. Items
                // already in the log cannot be taken back, so the run stops instead
                // of recording a second, different answer after the first.
                Some(Ok(StreamEvent::Restarted)) if recorded_items > 0 => {
                    break Err(RunEnd::Errored(
                        "the provider's response was cut and its retry differed from what was already recorded; send the input again".into(),
                        None,
                    ));
                }
                Some(Ok(StreamEvent::Completed(c))) => break Ok(c),
                Some(Ok(_)) => {}
            }
        };
        let completed = match outcome {
            Ok(c) => c,
            Err(RunEnd::TooLong(_)) if !retried_too_long && recorded_items == 0 => {
                retried_too_long = true;
                if let Err(e) = force_compaction(ctx, conv, cancel).await {
                    return compaction_failed(e, cancel);
                }
                continue;
            }
            Err(RunEnd::TooLong(msg)) => return RunEnd::Errored(msg, None),
            Err(end) => {
                if matches!(end, RunEnd::Cancelled(_)) && !partial.is_empty() {
                    let item = Item::AssistantMessage {
                        text: format!("{partial}{INTERRUPTED_MARK}"),
                    };
                    if let Err(e) = ctx.journal.record(
                        &EntryKind::AssistantItem { item: item.clone() },
                        Some(Event::AssistantItem { item: item.clone() }),
                    ) {
                        return e.into();
                    }
                    conv.history.push(item);
                }
                // Tool calls the model asked for in a response that then failed are in
                // the log; close them (they were never run) so the history stays valid
                // for the next request.
                for call in &calls {
                    let result = ToolResult {
                        call_id: call.call_id.clone(),
                        name: call.name.clone(),
                        output: NOT_RUN_OUTPUT.into(),
                        is_error: true,
                    };
                    if let Err(e) = record_result(ctx, conv, result, 0) {
                        return e.into();
                    }
                }
                return end;
            }
        };
        conv.usage.add(&completed.usage);
        let u = &completed.usage;
        let counted = u.input_tokens + u.cache_read_tokens + u.cache_write_tokens + u.output_tokens;
        // A provider that reports nothing (some local servers) leaves the estimate.
        if counted > 0 {
            conv.reported = Some((counted, conv.history.len()));
        }
        retried_too_long = false;
        if let Err(e) = ctx.journal.record(
            &EntryKind::Usage {
                usage: completed.usage,
            },
            Some(Event::Usage {
                usage: completed.usage,
            }),
        ) {
            return e.into();
        }
        if calls.is_empty() {
            let stop = Some(completed.stop.clone());
            if !completed.truncated_calls.is_empty() {
                return RunEnd::Errored(
                    "the model's tool call was cut off by the output token limit; raise max_output_tokens".into(),
                    stop,
                );
            }
            if stop_continuations < MAX_STOP_CONTINUATIONS
                && let Some(why) = stop_hook_blocks(ctx, stop_continuations > 0, &final_text).await
            {
                stop_continuations += 1;
                let note = crate::policy::hooks::give_note(
                    &ctx.journal,
                    &mut conv.history,
                    crate::policy::HookEvent::Stop,
                    &why,
                );
                if let Err(e) = note {
                    return e.into();
                }
                continue;
            }
            return RunEnd::Completed(final_text, stop);
        }
        if let Err(end) = run_tools(ctx, conv, calls, cancel).await {
            return end;
        }
    }
    RunEnd::Errored(
        format!("stopped after {MAX_MODEL_CALLS_PER_RUN} model calls in one run"),
        None,
    )
}

/// The reason a `stop` hook gives for sending the model back to work, if one does.
async fn stop_hook_blocks(ctx: &RunCtx, active: bool, final_text: &str) -> Option<String> {
    let h = ctx.hooks.as_ref()?;
    if !h.has(crate::policy::HookEvent::Stop) {
        return None;
    }
    h.run(
        crate::policy::HookEvent::Stop,
        None,
        serde_json::json!({"stop_hook_active": active, "last_assistant_message": final_text}),
    )
    .await
    .block
}

/// Runs `calls` concurrently, appending each result as it completes.
async fn run_tools(
    ctx: &RunCtx,
    conv: &mut Conversation,
    calls: Vec<ToolCall>,
    cancel: &CancellationToken,
) -> Result<(), RunEnd> {
    let mut pending: FuturesUnordered<_> = calls
        .iter()
        .map(|call| {
            ctx.journal.emit(Event::ToolStarted {
                call_id: call.call_id.clone(),
                name: call.name.clone(),
            });
            let started = Instant::now();
            let fut = ctx.tools.run(call.clone());
            async move { (fut.await, started.elapsed()) }
        })
        .collect();
    let mut answered: Vec<String> = Vec::new();
    // Shown after every result of the batch: providers want a call's results
    // directly after the call, with nothing in between.
    let mut images: Vec<ImageRef> = Vec::new();
    loop {
        let next = tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            r = pending.next() => match r {
                Some(r) => Some(r),
                None => return record_images(ctx, conv, images).map_err(RunEnd::from),
            },
        };
        let Some((
            ToolRun {
                mut result,
                images: produced,
            },
            took,
        )) = next
        else {
            drop(pending); // kills running tool processes
            for call in calls.iter().filter(|c| !answered.contains(&c.call_id)) {
                let result = interrupted_result(call);
                record_result(ctx, conv, result, 0).map_err(RunEnd::from)?;
            }
            return Err(RunEnd::Cancelled("cancelled".into()));
        };
        answered.push(result.call_id.clone());
        for image in &produced {
            match ctx.images.store(image) {
                Ok(r) => images.push(r),
                Err(e) => result
                    .output
                    .push_str(&format!("\n[the image could not be shown: {e}]")),
            }
        }
        record_result(ctx, conv, result, took.as_millis() as u64).map_err(RunEnd::from)?;
    }
}

fn record_result(
    ctx: &RunCtx,
    conv: &mut Conversation,
    result: ToolResult,
    duration_ms: u64,
) -> Result<(), StoreError> {
    ctx.journal.record(
        &EntryKind::ToolResult {
            result: result.clone(),
        },
        Some(Event::ToolResult {
            result: result.clone(),
            duration_ms,
        }),
    )?;
    conv.history.push(Item::ToolResult(result));
    Ok(())
}

/// Logs images shown to the model and adds them to the history.
fn record_images(
    ctx: &RunCtx,
    conv: &mut Conversation,
    images: Vec<ImageRef>,
) -> Result<(), StoreError> {
    if images.is_empty() {
        return Ok(());
    }
    ctx.journal.record(
        &EntryKind::Images {
            images: images.clone(),
        },
        Some(Event::Images {
            images: images.clone(),
        }),
    )?;
    conv.history
        .extend(images.into_iter().map(|image| Item::Image { image }));
    Ok(())
}

/// The synthetic result closing a call that never finished.
pub fn interrupted_result(call: &ToolCall) -> ToolResult {
    ToolResult {
        call_id: call.call_id.clone(),
        name: call.name.clone(),
        output: INTERRUPTED_OUTPUT.into(),
        is_error: true,
    }
}
