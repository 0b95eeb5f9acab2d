//! Snapshot tests of whole screens (ratatui `TestBackend` + insta).
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tui::handle_key;

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

#[test]
fn dashboard_with_a_tree_of_three_pods() {
    let mut app = three_pods();
    let t = draw(&mut app, 100, 20);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn transcript_with_text_reasoning_tool_call_and_child_notice() {
    let mut app = three_pods();
    with_transcript(&mut app);
    let t = draw(&mut app, 100, 40);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn transcript_with_reasoning_and_tools_expanded() {
    let mut app = three_pods();
    with_transcript(&mut app);
    app.focus = tui::Focus::Transcript;
    handle_key(&mut app, key(KeyCode::Char('t')));
    handle_key(&mut app, key(KeyCode::Char('e')));
    let t = draw(&mut app, 100, 40);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn help_overlay() {
    let mut app = three_pods();
    handle_key(&mut app, key(KeyCode::F(1)));
    let t = draw(&mut app, 100, 40);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn new_pod_form() {
    let mut app = three_pods();
    handle_key(&mut app, key(KeyCode::Char('n')));
    if let tui::Overlay::NewPod(form) = &mut app.overlay {
        form.values[0] = "tester".into(); // instead of the generated name
        form.values[4] = "/w".into();
    }
    for c in "write tests".chars() {
        handle_key(&mut app, key(KeyCode::Char(c)));
    }
    handle_key(&mut app, key(KeyCode::Tab));
    for c in "gpt-5".chars() {
        handle_key(&mut app, key(KeyCode::Char(c)));
    }
    let t = draw(&mut app, 80, 20);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn stop_confirmation() {
    let mut app = three_pods();
    handle_key(&mut app, key(KeyCode::Char('s')));
    let t = draw(&mut app, 80, 16);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn resize_keeps_the_composer_input() {
    let mut app = three_pods();
    app.focus = tui::Focus::Composer;
    tui::handle_paste(&mut app, "first line\nsecond line");
    let _ = draw(&mut app, 100, 30);
    let t = draw(&mut app, 40, 12);
    assert_eq!(app.composer.text(), "first line\nsecond line");
    let screen = format!("{}", t.backend());
    assert!(screen.contains("second line"), "{screen}");
}
