//! A dashboard in a known state, built only through the public API.
#![allow(dead_code)]

use pod_ids::{PodName, SegmentId, SessionId};
use protocol::{Event, PodState, PodStatus};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use transcript::{Item, Reasoning, ToolCall, ToolResult, Usage};
use tui::{App, Discovered, LinkUpdate, PodInfo};

pub fn name(s: &str) -> PodName {
    s.parse().unwrap()
}

pub fn status(pod: &str, state: PodState) -> PodStatus {
    PodStatus {
        name: name(pod),
        state,
        pid: 4242,
        session_id: SessionId::new(),
        segment_id: SegmentId::new(),
        model: "claude-sonnet-4".into(),
        turns: 1,
        usage: Usage {
            input_tokens: 12_400,
            output_tokens: 830,
            cache_read_tokens: 9_000,
            ..Default::default()
        },
        scope: Default::default(),
        queued_inputs: 0,
        context_window: None,
        pending_approvals: Vec::new(),
    }
}

fn info(n: &str, parent: Option<&str>, write: &str, live: bool) -> PodInfo {
    let mut p = PodInfo::named(name(n));
    p.parent = parent.map(name);
    p.model = "claude-sonnet-4".into();
    p.write_short = write.into();
    p.live_pid = live.then_some(100);
    p
}

/// Three Pods: `lead` (running) with child `worker` (idle, unread activity), and
/// `docs` (stopped). `lead` is selected and its transcript is loaded.
pub fn three_pods() -> App {
    let mut app = App::new(None);
    let (_, actions) = app.set_discovered(Discovered {
        pods: vec![
            info("lead", None, "~/w", true),
            info("worker", Some("lead"), "~/w/src", true),
            info("docs", None, "~/w/docs", false),
        ],
        problems: vec![],
    });
    assert!(!actions.is_empty());
    app.select(name("lead"));
    for (pod, state) in [("lead", PodState::Running), ("worker", PodState::Idle)] {
        app.apply_link(
            &name(pod),
            LinkUpdate::Hello {
                status: status(pod, state),
                last_seq: 0,
                in_progress_text: String::new(),
            },
        );
    }
    app.apply_log(&name("lead"), Ok(vec![]));
    app.apply_link(
        &name("worker"),
        LinkUpdate::Event {
            seq: 1,
            event: Event::Notice {
                text: "hello".into(),
            },
        },
    );
    app
}

/// `lead`'s transcript: text, reasoning, a tool call (an edit), a child notice,
/// a turn separator, streaming text.
pub fn with_transcript(app: &mut App) {
    let events = vec![
        Event::UserInput {
            text: "Split the parser into its own module and add a test.".into(),
        },
        Event::AssistantItem {
            item: Item::Reasoning(Reasoning {
                text: "The parser lives in main.rs; moving it needs a mod line.".into(),
                ..Default::default()
            }),
        },
        Event::AssistantItem {
            item: Item::AssistantMessage {
                text: "I'll move **`parse`** into `src/parser.rs`:\n\n```rust\npub fn parse(s: &str) -> Vec<u32> { vec![] }\n```".into(),
            },
        },
        Event::AssistantItem {
            item: Item::ToolCall(ToolCall {
                call_id: "c1".into(),
                name: "edit_file".into(),
                arguments: r#"{"path":"src/main.rs","old_string":"fn parse() {}","new_string":"mod parser;"}"#.into(),
            }),
        },
        Event::ToolStarted {
            call_id: "c1".into(),
            name: "edit_file".into(),
        },
        Event::ToolResult {
            result: ToolResult {
                call_id: "c1".into(),
                name: "edit_file".into(),
                output: "edited src/main.rs (1 replacement)".into(),
                is_error: false,
            },
            duration_ms: 42,
        },
        Event::Notice {
            text: "child_finished{name: worker}: child Pod worker finished its run and is idle (it keeps its scope until you stop it). Its answer:\nadded 3 tests in src/parser.rs".into(),
        },
        Event::Usage {
            usage: Usage {
                input_tokens: 5_200,
                output_tokens: 310,
                cache_read_tokens: 4_000,
                ..Default::default()
            },
        },
        Event::TurnEnd { turn: 1, stop: None },
        Event::TextDelta {
            delta: "Now running the tests".into(),
        },
    ];
    for (i, event) in events.into_iter().enumerate() {
        app.apply_link(
            &name("lead"),
            LinkUpdate::Event {
                seq: i as u64 + 1,
                event,
            },
        );
    }
}

pub fn draw(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| tui::render(app, f)).unwrap();
    t
}
