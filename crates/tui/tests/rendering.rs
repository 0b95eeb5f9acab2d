//! Snapshot tests of each rendering point of issue 14, at 80×24 and 160×45:
//! GFM tables, links, diff blocks, edit diffs with line numbers, the slash popup,
//! the `@` picker, Ctrl-R search, the new-Pod form and the meters.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use protocol::Event;
use transcript::{Item, ToolCall, ToolResult, Usage};
use tui::{App, Focus, LinkUpdate, handle_key};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn type_text(app: &mut App, s: &str) {
    for c in s.chars() {
        handle_key(app, key(KeyCode::Char(c)));
    }
}

/// Snapshots the app at both sizes under `name`.
fn both(name: &str, mut build: impl FnMut() -> App) {
    for (w, h) in [(80, 24), (160, 45)] {
        let mut app = build();
        let t = draw(&mut app, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), t.backend());
    }
}

/// `lead` (running) with the given events appended to its transcript.
fn lead_with(events: Vec<Event>) -> App {
    let mut app = three_pods();
    for (i, event) in events.into_iter().enumerate() {
        app.apply_link(
            &name("lead"),
            LinkUpdate::Event {
                seq: i as u64 + 1,
                event,
            },
        );
    }
    app
}

fn say(text: &str) -> Event {
    Event::AssistantItem {
        item: Item::AssistantMessage { text: text.into() },
    }
}

#[test]
fn gfm_table_link_heading_levels_and_code_label() {
    both("markdown_table_link", || {
        lead_with(vec![say(
            "# Results\n\n## Timings\n\n| test | status | time |\n|:--|:-:|--:|\n| parser::empty | ok | 1 ms |\n| parser::long input that wraps in a narrow pane | failed | 12 ms |\n\nSee [the CI run](https://ci.example/runs/42) and <https://docs.rs>.\n\n```rust\nfn main() {}\n```",
        )])
    });
}

#[test]
fn diff_block_is_coloured() {
    both("markdown_diff_block", || {
        lead_with(vec![say(
            "The change:\n\n```diff\n--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,3 +1,3 @@\n fn keep() {}\n-fn old() {}\n+fn new() {}\n```",
        )])
    });
    // The colours themselves: removed red, added green, hunk header cyan.
    let mut app = lead_with(vec![say("```diff\n-a\n+b\n@@ x\n```")]);
    let t = draw(&mut app, 80, 24);
    let buf = t.backend().buffer();
    let fg_of = |needle: &str| {
        let area = buf.area;
        for y in 0..area.height {
            let row: String = (0..area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect();
            if let Some(col) = row.find(needle) {
                let x = row[..col].chars().count() as u16;
                return buf[(x, y)].fg;
            }
        }
        panic!("{needle} not on screen")
    };
    use ratatui::style::Color;
    assert_eq!(fg_of("-a"), Color::Red);
    assert_eq!(fg_of("+b"), Color::Green);
    assert_eq!(fg_of("@@ x"), Color::Cyan);
}

fn edit_events() -> Vec<Event> {
    vec![
        Event::AssistantItem {
            item: Item::ToolCall(ToolCall {
                call_id: "e1".into(),
                name: "edit_file".into(),
                arguments: serde_json::json!({
                    "path": "src/parser.rs",
                    "old_string": "    let n = s.len();\n    vec![]",
                    "new_string": "    let n = s.trim().len();\n    vec![n as u32]"
                })
                .to_string(),
            }),
        },
        Event::ToolResult {
            result: ToolResult {
                call_id: "e1".into(),
                name: "edit_file".into(),
                output: "Edited /w/src/parser.rs: replaced 1 occurrence. Lines 9-16 now read:\n     9\t/// Parses numbers.\n    10\tpub fn parse(s: &str) -> Vec<u32> {\n    11\t    // count first\n    12\t    let n = s.trim().len();\n    13\t    vec![n as u32]\n    14\t}\n    15\t\n    16\tfn helper() {}\n".into(),
                is_error: false,
            },
            duration_ms: 7,
        },
    ]
}

#[test]
fn edit_diff_has_line_numbers_and_context() {
    both("edit_diff_line_numbers", || lead_with(edit_events()));
}

#[test]
fn slash_popup_opens_on_slash_and_filters() {
    both("slash_popup", || {
        let mut app = three_pods();
        app.focus = Focus::Composer;
        type_text(&mut app, "/c");
        assert!(matches!(app.popup, tui::Popup::Slash { .. }));
        app
    });
}

#[test]
fn file_picker_lists_fuzzy_matches_and_children() {
    both("file_picker", || {
        let mut app = three_pods();
        app.focus = Focus::Composer;
        app.set_files(
            name("lead"),
            [
                "Cargo.toml",
                "src/lib.rs",
                "src/main.rs",
                "src/parser.rs",
                "tests/lib_test.rs",
            ]
            .map(String::from)
            .to_vec(),
        );
        type_text(&mut app, "look at @lib");
        assert!(matches!(app.popup, tui::Popup::Mention { .. }));
        app
    });
}

#[test]
fn ctrl_r_searches_past_inputs() {
    both("history_search", || {
        let mut app = lead_with(vec![
            Event::UserInput {
                text: "run the parser tests".into(),
            },
            Event::UserInput {
                text: "now fix clippy".into(),
            },
            Event::UserInput {
                text: "split the parser module".into(),
            },
        ]);
        app.focus = Focus::Composer;
        handle_key(
            &mut app,
            KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL),
        );
        type_text(&mut app, "parser");
        app
    });
}

#[test]
fn new_pod_form_tells_what_will_happen() {
    both("new_pod_form_full", || {
        let mut app = three_pods();
        app.default_cwd = "/home/u/project".into();
        handle_key(&mut app, key(KeyCode::Char('n')));
        let tui::Overlay::NewPod(form) = &mut app.overlay else {
            panic!("form expected")
        };
        form.values[0] = "pod-1a2b3c".into(); // the generated name, fixed for the snapshot
        type_text(&mut app, "add tests for the parser");
        for _ in 0..4 {
            handle_key(&mut app, key(KeyCode::Tab));
        }
        handle_key(
            &mut app,
            KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL),
        );
        app
    });
}

#[test]
fn meters_show_context_percent_cost_and_elapsed_time() {
    both("meters", || {
        let mut app = lead_with(vec![
            Event::Usage {
                usage: Usage {
                    input_tokens: 20_000,
                    cache_read_tokens: 30_000,
                    output_tokens: 1_200,
                    ..Default::default()
                },
            },
            Event::TurnEnd {
                turn: 1,
                stop: None,
            },
        ]);
        app.meters.prices.insert(
            "claude-sonnet".into(),
            tui::Price {
                input: 3.0,
                output: 15.0,
                cache_read: Some(0.3),
                cache_write: None,
            },
        );
        let now = std::time::Instant::now();
        app.meters.now = Some(now);
        let v = app.views.get_mut(&name("lead")).unwrap();
        v.running_since = now.checked_sub(std::time::Duration::from_secs(75));
        v.status.as_mut().unwrap().context_window = Some(200_000);
        app
    });
    // The same input figure in the turn separator and the status line.
    let mut app = lead_with(vec![
        Event::Usage {
            usage: Usage {
                input_tokens: 20_000,
                cache_read_tokens: 30_000,
                output_tokens: 1_200,
                ..Default::default()
            },
        },
        Event::TurnEnd {
            turn: 1,
            stop: None,
        },
    ]);
    // The status report's session usage equals this one turn.
    app.views
        .get_mut(&name("lead"))
        .unwrap()
        .status
        .as_mut()
        .unwrap()
        .usage = Usage {
        input_tokens: 20_000,
        cache_read_tokens: 30_000,
        output_tokens: 1_200,
        ..Default::default()
    };
    let screen = format!("{}", draw(&mut app, 200, 30).backend());
    assert_eq!(screen.matches("in 50k").count(), 2, "{screen}");
    assert!(screen.contains("25% · 75% left"), "{screen}");
}

#[test]
fn single_pod_view_hides_the_tree() {
    let mut app = three_pods();
    app.tree_hidden = true;
    let screen = format!("{}", draw(&mut app, 80, 24).backend());
    assert!(!screen.contains("Pods (3)"), "{screen}");
    handle_key(
        &mut app,
        KeyEvent::new(KeyCode::Char('t'), KeyModifiers::CONTROL),
    );
    let screen = format!("{}", draw(&mut app, 80, 24).backend());
    assert!(screen.contains("Pods (3)"), "{screen}");
}
