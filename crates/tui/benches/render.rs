//! Time to render one frame with 100 and with 100,000 transcript entries.
//!
//! Target (issue 8): within 2× of each other, because per-frame work depends on the
//! visible rows only. Each measured frame also appends one streamed delta, so the
//! bottom entry is re-rendered every frame as in a live session.
// A benchmark aborts on a broken setup; it handles no user input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use protocol::{Event, PodState, PodStatus};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use transcript::{Item, ToolCall, ToolResult};
use tui::{App, Discovered, LinkUpdate, PodInfo};

fn app_with(entries: usize) -> App {
    let lead: pod_ids::PodName = "lead".parse().unwrap();
    let mut app = App::new(Some(lead.clone()));
    let mut info = PodInfo::named(lead.clone());
    info.live_pid = Some(1);
    app.set_discovered(Discovered {
        pods: vec![info],
        problems: vec![],
    });
    app.apply_link(
        &lead,
        LinkUpdate::Hello {
            status: PodStatus {
                name: lead.clone(),
                state: PodState::Running,
                pid: 1,
                session_id: pod_ids::SessionId::new(),
                segment_id: pod_ids::SegmentId::new(),
                model: "m".into(),
                turns: 0,
                usage: Default::default(),
                scope: Default::default(),
                queued_inputs: 0,
                context_window: None,
                pending_approvals: Vec::new(),
            },
            last_seq: 0,
            in_progress_text: String::new(),
        },
    );
    app.apply_log(&lead, Ok(vec![]));
    let mut seq = 0;
    let mut push = |app: &mut App, event: Event| {
        seq += 1;
        app.apply_link(&lead, LinkUpdate::Event { seq, event });
    };
    let mut n = 0;
    while n < entries {
        push(
            &mut app,
            Event::UserInput {
                text: format!("question {n}: please look at the parser"),
            },
        );
        push(
            &mut app,
            Event::AssistantItem {
                item: Item::AssistantMessage {
                    text: format!(
                        "Answer **{n}** with `code`, a [link](https://e.x/{n}) and a list:\n\n- one\n- two\n\n| a | b |\n|---|---|\n| {n} | x |\n\n```rust\nfn f() -> u32 {{ {n} }}\n```"
                    ),
                },
            },
        );
        push(
            &mut app,
            Event::AssistantItem {
                item: Item::ToolCall(ToolCall {
                    call_id: format!("c{n}"),
                    name: "read_file".into(),
                    arguments: r#"{"path":"src/lib.rs"}"#.into(),
                }),
            },
        );
        push(
            &mut app,
            Event::ToolResult {
                result: ToolResult {
                    call_id: format!("c{n}"),
                    name: "read_file".into(),
                    output: "line one\nline two".into(),
                    is_error: false,
                },
                duration_ms: 3,
            },
        );
        push(
            &mut app,
            Event::TurnEnd {
                turn: n as u64,
                stop: None,
            },
        );
        n += 4; // user, assistant, tool, turn separator
    }
    app
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("render_frame");
    g.sample_size(30);
    g.measurement_time(std::time::Duration::from_secs(3));
    g.warm_up_time(std::time::Duration::from_secs(1));
    for entries in [100usize, 100_000] {
        let mut app = app_with(entries);
        let mut term = Terminal::new(TestBackend::new(160, 50)).unwrap();
        let lead: pod_ids::PodName = "lead".parse().unwrap();
        let mut seq = 1_000_000u64;
        g.bench_function(format!("{entries}_entries"), |b| {
            b.iter(|| {
                seq += 1;
                // Every 20th frame completes the streamed message, so the live
                // entry stays short and both sizes see the same work per frame.
                let event = if seq.is_multiple_of(20) {
                    Event::AssistantItem {
                        item: Item::AssistantMessage {
                            text: "done streaming".into(),
                        },
                    }
                } else {
                    Event::TextDelta {
                        delta: "streaming ".into(),
                    }
                };
                app.apply_link(&lead, LinkUpdate::Event { seq, event });
                term.draw(|f| tui::render(&mut app, f)).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
