//! One Pod's view: its connection state machine, status and transcript.
//!
//! The connection protocol (ARCHITECTURE §10) as a pure state machine, so the
//! resync / reconnect rules are unit-tested without sockets:
//! - `hello` gives the latest `seq`; the transcript is then (re)loaded from the
//!   session log while live events are buffered, and the buffer is merged after the
//!   load, dropping events the log already contained.
//! - An event whose `seq` skips ahead, or a `resync`, asks for a snapshot from the
//!   last `seq` seen; a truncated snapshot reloads the transcript from the log.
//! - A closed connection leaves the transcript in place, marks the view
//!   disconnected, and the next discovery that finds the Pod live reconnects.

use pod_ids::SegmentId;
use protocol::{Event, PodState, PodStatus, Request};

use crate::transcript_model::{Transcript, is_durable};
use crate::ui::Scroll;

/// The connection to a Pod's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// No connection (the Pod is not live, or the connection dropped).
    Disconnected,
    /// Connecting; waiting for `hello`.
    Connecting,
    /// Receiving events; `last_seq` is the latest applied.
    Live {
        /// Latest applied seq.
        last_seq: u64,
    },
    /// Asked for a snapshot after `since`; live events are held until it arrives.
    Resyncing {
        /// The cursor asked from.
        since: u64,
    },
}

/// Whether the transcript reflects the session log.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    /// Never loaded (the Pod was not selected yet).
    No,
    /// Loading from the log; events that arrive meanwhile wait here.
    Loading {
        /// Buffered live events.
        backlog: Vec<(u64, Event)>,
    },
    /// Up to date.
    Yes,
}

/// What the connection reported (produced by the I/O layer from server lines).
#[derive(Debug, Clone, PartialEq)]
pub enum LinkUpdate {
    /// The Pod said hello.
    Hello {
        /// Its status.
        status: PodStatus,
        /// Latest seq so far.
        last_seq: u64,
        /// The answer being streamed as we joined (not yet in the log): shown
        /// before the deltas that follow, so a joiner sees it from its first
        /// character.
        in_progress_text: String,
    },
    /// A broadcast event.
    Event {
        /// Seq.
        seq: u64,
        /// Event.
        event: Event,
    },
    /// We fell behind.
    Resync {
        /// The last seq we were sent.
        since_seq: u64,
    },
    /// Answer to a snapshot request.
    Snapshot {
        /// Events after the cursor.
        events: Vec<(u64, Event)>,
        /// Events after the cursor were already gone.
        truncated: bool,
        /// The Pod's latest seq.
        last_seq: u64,
    },
    /// Answer to another request.
    Answer {
        /// Success.
        ok: bool,
        /// Message for the status line (errors).
        message: String,
    },
    /// The connection closed.
    Closed {
        /// Why, if known.
        reason: String,
    },
}

/// Side effects a view asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum ViewEffect {
    /// Send a request to this Pod.
    Request(Request),
    /// (Re)load the transcript from the session log.
    LoadLog(Option<SegmentId>),
    /// Show a message.
    Message(String),
    /// A run was cancelled before the model produced anything: give the user's
    /// input back to the composer.
    RestoreInput(String),
}

/// A Pod as the TUI currently sees it.
#[derive(Debug)]
pub struct PodView {
    /// Connection.
    pub link: Link,
    /// Latest status (from hello, updated by events).
    pub status: Option<PodStatus>,
    /// Transcript.
    pub transcript: Transcript,
    /// Whether the transcript is loaded.
    pub loaded: Loaded,
    /// Activity since the user last looked.
    pub unread: bool,
    /// Scroll position of the transcript pane.
    pub scroll: Scroll,
    /// The last connection attempt failed before `hello`. With the socket still
    /// present this means the process died without cleaning up (a clean exit
    /// removes its socket): the Pod is shown as lost.
    pub unreachable: bool,
    /// The user input of the current run while the model has produced nothing
    /// for it yet.
    pub unanswered_input: Option<String>,
    /// When the current run started (seen live; `None` when it was already
    /// running as we connected, or nothing runs).
    pub running_since: Option<std::time::Instant>,
    /// The last run ended with an error (not a cancel): the tree marks it.
    pub last_run_failed: bool,
    /// The partial answer hello reported, until the transcript load places it.
    pub in_progress_text: String,
}

impl Default for PodView {
    fn default() -> Self {
        PodView {
            link: Link::Disconnected,
            status: None,
            transcript: Transcript::new(),
            loaded: Loaded::No,
            unread: false,
            scroll: Scroll::default(),
            unreachable: false,
            unanswered_input: None,
            running_since: None,
            last_run_failed: false,
            in_progress_text: String::new(),
        }
    }
}

impl PodView {
    /// The controller state, when connected.
    pub fn state(&self) -> Option<PodState> {
        match self.link {
            Link::Live { .. } | Link::Resyncing { .. } => self.status.as_ref().map(|s| s.state),
            _ => None,
        }
    }

    /// Whether requests can be sent.
    pub fn is_connected(&self) -> bool {
        matches!(self.link, Link::Live { .. } | Link::Resyncing { .. })
    }

    /// Starts loading the transcript (the caller performs the load).
    pub fn begin_load(&mut self) -> ViewEffect {
        self.loaded = Loaded::Loading {
            backlog: Vec::new(),
        };
        ViewEffect::LoadLog(self.status.as_ref().map(|s| s.segment_id))
    }

    /// Applies an update. `selected` says whether the user is looking at this Pod
    /// (only then is a transcript loaded, and only otherwise is activity unread).
    pub fn apply(&mut self, update: LinkUpdate, selected: bool) -> Vec<ViewEffect> {
        let mut fx = Vec::new();
        match update {
            LinkUpdate::Hello {
                status,
                last_seq,
                in_progress_text,
            } => {
                self.in_progress_text = in_progress_text;
                let reconnect = self.status.is_some();
                self.unreachable = false;
                self.status = Some(status);
                self.link = Link::Live { last_seq };
                if reconnect && matches!(self.loaded, Loaded::Yes) {
                    self.transcript.push_client_note("reconnected");
                }
                // seq numbering is per Pod process: after a restart the old cursor
                // means nothing, so the log (the authority) is re-read.
                if selected {
                    fx.push(self.begin_load());
                } else {
                    self.loaded = Loaded::No;
                }
            }
            LinkUpdate::Event { seq, event } => match self.link {
                Link::Live { last_seq } if seq <= last_seq => {}
                Link::Live { last_seq } if seq > last_seq + 1 => {
                    self.link = Link::Resyncing { since: last_seq };
                    fx.push(ViewEffect::Request(Request::Snapshot {
                        since_seq: Some(last_seq),
                    }));
                }
                Link::Live { .. } => {
                    self.link = Link::Live { last_seq: seq };
                    self.apply_event(seq, event, selected, &mut fx);
                }
                // Held back: the snapshot answer will contain it.
                Link::Resyncing { .. } | Link::Connecting | Link::Disconnected => {}
            },
            LinkUpdate::Resync { since_seq } => {
                let since = match self.link {
                    Link::Live { last_seq } => last_seq.min(since_seq),
                    _ => since_seq,
                };
                self.link = Link::Resyncing { since };
                fx.push(ViewEffect::Request(Request::Snapshot {
                    since_seq: Some(since),
                }));
            }
            LinkUpdate::Snapshot {
                events,
                truncated,
                last_seq,
            } => {
                let since = match self.link {
                    Link::Resyncing { since } => since,
                    Link::Live { last_seq } => last_seq,
                    _ => return fx,
                };
                if truncated {
                    self.link = Link::Live { last_seq };
                    if selected {
                        fx.push(self.begin_load());
                    } else {
                        self.loaded = Loaded::No;
                    }
                } else {
                    let mut cur = since;
                    for (seq, ev) in events {
                        if seq > cur {
                            cur = seq;
                            self.apply_event(seq, ev, selected, &mut fx);
                        }
                    }
                    // A snapshot that is not truncated holds every event up to
                    // `last_seq`, so `cur` has reached it.
                    let _ = last_seq;
                    self.link = Link::Live { last_seq: cur };
                }
            }
            LinkUpdate::Answer { ok, message } => {
                if !ok {
                    fx.push(ViewEffect::Message(message));
                }
            }
            LinkUpdate::Closed { reason } => {
                let was = self.link;
                self.link = Link::Disconnected;
                self.unreachable = was == Link::Connecting;
                // Only a connection that was up is news; a failed reconnect attempt (every
                // discovery tick while the Pod is down) must not add a note each time.
                let was_up = matches!(was, Link::Live { .. } | Link::Resyncing { .. });
                if was_up && matches!(self.loaded, Loaded::Yes) {
                    self.transcript
                        .push_client_note(format!("connection lost: {reason}"));
                }
            }
        }
        fx
    }

    fn apply_event(&mut self, seq: u64, event: Event, selected: bool, fx: &mut Vec<ViewEffect>) {
        match &event {
            Event::UserInput { text } => {
                self.unanswered_input = Some(match self.unanswered_input.take() {
                    Some(prev) => format!("{prev}\n\n{text}"),
                    None => text.clone(),
                })
            }
            Event::TextDelta { .. }
            | Event::ReasoningDelta { .. }
            | Event::AssistantItem { .. }
            | Event::ToolStarted { .. }
            | Event::RunCompleted { .. } => self.unanswered_input = None,
            Event::RunErrored { cancelled, .. } => {
                if let Some(text) = self.unanswered_input.take()
                    && *cancelled
                {
                    fx.push(ViewEffect::RestoreInput(text));
                }
            }
            _ => {}
        }
        match &event {
            Event::StateChanged {
                state: PodState::Running,
            } => self.running_since = Some(std::time::Instant::now()),
            Event::StateChanged { .. } => self.running_since = None,
            Event::RunCompleted { .. } => self.last_run_failed = false,
            Event::RunErrored { cancelled, .. } => self.last_run_failed = !cancelled,
            _ => {}
        }
        if let Some(st) = self.status.as_mut() {
            match &event {
                Event::StateChanged { state } => st.state = *state,
                Event::Usage { usage } => st.usage.add(usage),
                Event::TurnEnd { turn, .. } => st.turns = *turn,
                Event::ApprovalRequested { approval } => {
                    st.pending_approvals.push(approval.clone())
                }
                Event::ApprovalResolved { id, .. } => st.pending_approvals.retain(|a| a.id != *id),
                _ => {}
            }
        }
        if !selected && !matches!(event, Event::Unknown | Event::StateChanged { .. }) {
            self.unread = true;
        }
        match &mut self.loaded {
            Loaded::Yes => self.transcript.apply_event(event),
            Loaded::Loading { backlog } => backlog.push((seq, event)),
            Loaded::No => {}
        }
    }

    /// Installs a transcript read from the session log and merges the events
    /// buffered while it loaded.
    pub fn finish_load(&mut self, log: Vec<session_store::Entry>) {
        let backlog = match std::mem::replace(&mut self.loaded, Loaded::Yes) {
            Loaded::Loading { backlog } => backlog,
            _ => Vec::new(),
        };
        let keys: Vec<String> = log.iter().filter_map(|e| log_key(&e.kind)).collect();
        let mut t = Transcript::new();
        for e in log {
            match &e.kind {
                session_store::EntryKind::RunCompleted => self.last_run_failed = false,
                session_store::EntryKind::RunErrored { error } => {
                    self.last_run_failed = !error.to_ascii_lowercase().contains("cancel")
                }
                _ => {}
            }
            t.apply_log_entry_at(e.kind, Some(e.ts_ms));
        }
        if let Some(st) = &self.status {
            t.set_session_usage(st.usage);
        }
        // The answer in progress at hello is not in the log yet; the deltas after
        // hello continue it.
        let partial = std::mem::take(&mut self.in_progress_text);
        if !partial.is_empty() {
            t.apply_event(Event::TextDelta { delta: partial });
        }
        for (_, ev) in merge_backlog(&keys, backlog) {
            t.apply_event(ev);
        }
        self.transcript = t;
        self.scroll = Scroll::default();
    }
}

/// A comparable key of a durable event, equal to [`log_key`] of the log entry it
/// mirrors.
fn event_key(e: &Event) -> Option<String> {
    let j = |v: &dyn erased::Ser| v.json();
    Some(match e {
        Event::UserInput { text } => format!("u{}", text),
        Event::AssistantItem { item } => format!("a{}", j(item)),
        Event::ToolResult { result, .. } => format!("r{}", j(result)),
        Event::Notice { text } => format!("n{}", text),
        Event::TurnEnd { turn, .. } => format!("t{turn}"),
        Event::RunCompleted { .. } => "c".into(),
        Event::RunErrored { error, .. } => format!("e{error}"),
        Event::Usage { usage } => format!("s{}", j(usage)),
        _ => return None,
    })
}

fn log_key(e: &session_store::EntryKind) -> Option<String> {
    use session_store::EntryKind as K;
    let j = |v: &dyn erased::Ser| v.json();
    Some(match e {
        K::UserInput { text } => format!("u{}", text),
        K::AssistantItem { item } => format!("a{}", j(item)),
        K::ToolResult { result } => format!("r{}", j(result)),
        K::SystemItem { text } => format!("n{}", text),
        K::TurnEnd { turn } => format!("t{turn}"),
        K::RunCompleted => "c".into(),
        K::RunErrored { error } => format!("e{error}"),
        K::Usage { usage } => format!("s{}", j(usage)),
        _ => return None,
    })
}

mod erased {
    /// Object-safe JSON rendering for key building.
    pub trait Ser {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

/// Drops the buffered events the log already contains.
///
/// The log was read after `hello`, so it may end with some of the durable events
/// buffered since (durable events are logged before they are broadcast). Those
/// form a prefix of the buffered durable events that equals a suffix of the log;
/// the longest such overlap is dropped, together with the non-durable events
/// (deltas) before the last dropped one, which the completed items replace.
pub fn merge_backlog(log_keys: &[String], backlog: Vec<(u64, Event)>) -> Vec<(u64, Event)> {
    let durable: Vec<(usize, String)> = backlog
        .iter()
        .enumerate()
        .filter(|(_, (_, e))| is_durable(e))
        .filter_map(|(i, (_, e))| event_key(e).map(|k| (i, k)))
        .collect();
    let max = durable.len().min(log_keys.len());
    let overlap = (1..=max)
        .rev()
        .find(|&k| {
            let tail = &log_keys[log_keys.len() - k..];
            durable[..k].iter().map(|(_, key)| key).eq(tail.iter())
        })
        .unwrap_or(0);
    if overlap == 0 {
        return backlog;
    }
    let cut = durable[overlap - 1].0;
    backlog.into_iter().skip(cut + 1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript_model::EntryKind as Shown;

    fn status() -> PodStatus {
        PodStatus {
            name: "a".parse().unwrap(),
            state: PodState::Idle,
            pid: 1,
            session_id: pod_ids::SessionId::new(),
            segment_id: SegmentId::new(),
            model: "m".into(),
            turns: 0,
            usage: Default::default(),
            scope: Default::default(),
            queued_inputs: 0,
            context_window: None,
            pending_approvals: Vec::new(),
        }
    }

    fn ev(seq: u64, text: &str) -> LinkUpdate {
        LinkUpdate::Event {
            seq,
            event: Event::Notice { text: text.into() },
        }
    }

    fn live(view: &mut PodView, last_seq: u64) {
        let fx = view.apply(
            LinkUpdate::Hello {
                status: status(),
                last_seq,
                in_progress_text: String::new(),
            },
            true,
        );
        assert!(matches!(fx[..], [ViewEffect::LoadLog(Some(_))]));
        view.finish_load(vec![]);
    }

    #[test]
    fn joining_mid_answer_shows_it_from_its_first_character() {
        let mut v = PodView::default();
        v.apply(
            LinkUpdate::Hello {
                status: status(),
                last_seq: 5,
                in_progress_text: "Hello, wor".into(),
            },
            true,
        );
        v.apply(
            LinkUpdate::Event {
                seq: 6,
                event: Event::TextDelta { delta: "ld".into() },
            },
            true,
        );
        v.finish_load(vec![]);
        assert_eq!(
            v.transcript.entries()[0].kind,
            Shown::Assistant {
                text: "Hello, world".into(),
                streaming: true
            }
        );
    }

    #[test]
    fn a_cancel_before_any_output_gives_the_input_back() {
        let e = |seq, event| LinkUpdate::Event { seq, event };
        let cancelled = || Event::RunErrored {
            error: "cancelled".into(),
            cancelled: true,
            config_error: false,
        };
        let mut v = PodView::default();
        live(&mut v, 0);
        v.apply(
            e(
                1,
                Event::UserInput {
                    text: "do x".into(),
                },
            ),
            true,
        );
        assert_eq!(
            v.apply(e(2, cancelled()), true),
            vec![ViewEffect::RestoreInput("do x".into())]
        );
        // Once the model produced something, a cancel keeps the input in the log.
        v.apply(
            e(
                3,
                Event::UserInput {
                    text: "do y".into(),
                },
            ),
            true,
        );
        v.apply(e(4, Event::TextDelta { delta: "ok".into() }), true);
        assert!(v.apply(e(5, cancelled()), true).is_empty());
    }

    #[test]
    fn a_gap_in_seq_asks_for_a_snapshot_from_the_cursor_and_applies_it() {
        let mut v = PodView::default();
        live(&mut v, 5);
        assert!(v.apply(ev(6, "six"), true).is_empty());
        let fx = v.apply(ev(9, "nine"), true);
        assert_eq!(
            fx,
            vec![ViewEffect::Request(Request::Snapshot {
                since_seq: Some(6)
            })]
        );
        assert_eq!(v.link, Link::Resyncing { since: 6 });
        // Events while resyncing are held back (the snapshot has them).
        v.apply(ev(10, "ten"), true);
        v.apply(
            LinkUpdate::Snapshot {
                events: vec![
                    (6, Event::Notice { text: "six".into() }),
                    (
                        7,
                        Event::Notice {
                            text: "seven".into(),
                        },
                    ),
                    (
                        8,
                        Event::Notice {
                            text: "eight".into(),
                        },
                    ),
                ],
                truncated: false,
                last_seq: 8,
            },
            true,
        );
        assert_eq!(v.link, Link::Live { last_seq: 8 });
        let texts: Vec<_> = v
            .transcript
            .entries()
            .iter()
            .map(|e| match &e.kind {
                Shown::Notice { text, .. } => text.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(texts, ["six", "seven", "eight"]);
    }

    #[test]
    fn resync_message_and_truncated_snapshot_reload_the_log() {
        let mut v = PodView::default();
        live(&mut v, 1);
        let fx = v.apply(LinkUpdate::Resync { since_seq: 1 }, true);
        assert_eq!(
            fx,
            vec![ViewEffect::Request(Request::Snapshot {
                since_seq: Some(1)
            })]
        );
        let fx = v.apply(
            LinkUpdate::Snapshot {
                events: vec![],
                truncated: true,
                last_seq: 50_000,
            },
            true,
        );
        assert!(matches!(fx[..], [ViewEffect::LoadLog(_)]));
        assert_eq!(v.link, Link::Live { last_seq: 50_000 });
        assert!(matches!(v.loaded, Loaded::Loading { .. }));
    }

    #[test]
    fn closed_then_hello_reconnects_and_reloads() {
        let mut v = PodView::default();
        live(&mut v, 3);
        v.apply(
            LinkUpdate::Closed {
                reason: "eof".into(),
            },
            true,
        );
        assert_eq!(v.link, Link::Disconnected);
        assert_eq!(v.state(), None, "a dead Pod shows no controller state");
        assert!(matches!(
            v.transcript.entries().last().map(|e| &e.kind),
            Some(Shown::Client(t)) if t.contains("connection lost")
        ));
        assert!(!v.unreachable, "it was up, then closed");
        v.link = Link::Connecting;
        v.apply(
            LinkUpdate::Closed {
                reason: "refused".into(),
            },
            true,
        );
        assert!(v.unreachable, "a failed connect marks it unreachable");
        // Events on a closed link are ignored.
        v.apply(ev(4, "stray"), true);
        // The restarted process numbers events from scratch.
        let fx = v.apply(
            LinkUpdate::Hello {
                status: status(),
                last_seq: 0,
                in_progress_text: String::new(),
            },
            true,
        );
        assert!(matches!(fx[..], [ViewEffect::LoadLog(_)]));
        assert_eq!(v.link, Link::Live { last_seq: 0 });
        assert_eq!(v.state(), Some(PodState::Idle));
        assert!(!v.unreachable);
    }

    #[test]
    fn backlog_overlapping_the_log_is_not_shown_twice() {
        let mut v = PodView::default();
        v.apply(
            LinkUpdate::Hello {
                status: status(),
                last_seq: 10,
                in_progress_text: String::new(),
            },
            true,
        );
        v.apply(
            LinkUpdate::Event {
                seq: 11,
                event: Event::TextDelta { delta: "he".into() },
            },
            true,
        );
        v.apply(
            LinkUpdate::Event {
                seq: 12,
                event: Event::AssistantItem {
                    item: transcript::Item::AssistantMessage {
                        text: "hello".into(),
                    },
                },
            },
            true,
        );
        v.apply(ev(13, "after"), true);
        // The log read after hello already had the assistant message.
        let entry = |seq, kind| session_store::Entry {
            seq,
            ts_ms: 0,
            kind,
        };
        v.finish_load(vec![
            entry(1, session_store::EntryKind::UserInput { text: "hi".into() }),
            entry(
                2,
                session_store::EntryKind::AssistantItem {
                    item: transcript::Item::AssistantMessage {
                        text: "hello".into(),
                    },
                },
            ),
        ]);
        let kinds: Vec<_> = v.transcript.entries().iter().map(|e| &e.kind).collect();
        assert_eq!(kinds.len(), 3, "{kinds:?}");
        assert!(matches!(kinds[2], Shown::Notice { text, .. } if text == "after"));
    }

    #[test]
    fn activity_on_an_unselected_pod_is_unread() {
        let mut v = PodView::default();
        v.apply(
            LinkUpdate::Hello {
                status: status(),
                last_seq: 0,
                in_progress_text: String::new(),
            },
            false,
        );
        assert_eq!(v.loaded, Loaded::No);
        v.apply(
            LinkUpdate::Event {
                seq: 1,
                event: Event::StateChanged {
                    state: PodState::Running,
                },
            },
            false,
        );
        assert!(!v.unread, "state changes alone are not activity");
        assert_eq!(v.state(), Some(PodState::Running));
        v.apply(ev(2, "x"), false);
        assert!(v.unread);
    }
}
