//! Key handling: what each key does to the state and which actions it asks for.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use protocol::{Event, InputMode, PodState, Request};
use tui::{Action, Focus, LinkUpdate, Overlay, PodCommand, handle_key};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn type_text(app: &mut tui::App, s: &str) {
    for c in s.chars() {
        handle_key(app, key(KeyCode::Char(c)));
    }
}

#[test]
fn ctrl_c_twice_quits_and_another_key_disarms() {
    let mut app = three_pods();
    app.select(name("docs")); // nothing runs there: Ctrl-C is about quitting
    assert!(handle_key(&mut app, ctrl('c')).is_empty());
    assert!(app.quit_armed);
    handle_key(&mut app, key(KeyCode::Char('x')));
    assert!(!app.quit_armed, "any other key disarms");
    assert!(handle_key(&mut app, ctrl('c')).is_empty());
    assert_eq!(handle_key(&mut app, ctrl('c')), vec![Action::Quit]);
}

#[test]
fn ctrl_c_or_esc_twice_interrupts_a_running_pod_and_never_stops_it() {
    let interrupt = vec![Action::Request {
        pod: name("lead"),
        request: Request::Interrupt,
    }];
    let mut app = three_pods();
    for focus in [Focus::Tree, Focus::Transcript, Focus::Composer] {
        app.focus = focus;
        assert_eq!(handle_key(&mut app, ctrl('c')), interrupt);
        app.focus = focus;
        // One Esc only arms (and leaves the composer); the second interrupts.
        assert!(handle_key(&mut app, key(KeyCode::Esc)).is_empty());
        assert_ne!(app.focus, Focus::Composer, "Esc leaves the composer");
        assert_eq!(handle_key(&mut app, key(KeyCode::Esc)), interrupt);
    }
    // Another key between the two presses disarms.
    handle_key(&mut app, key(KeyCode::Esc));
    handle_key(&mut app, key(KeyCode::Down));
    assert!(handle_key(&mut app, key(KeyCode::Esc)).is_empty());
    // An idle Pod: nothing to interrupt, and certainly no stop.
    app.select(name("worker"));
    assert!(handle_key(&mut app, key(KeyCode::Esc)).is_empty());
    assert!(handle_key(&mut app, key(KeyCode::Esc)).is_empty());
}

#[test]
fn ctrl_c_in_a_composer_with_text_clears_it_and_q_quits_from_the_tree() {
    let mut app = three_pods();
    app.select(name("worker"));
    app.focus = Focus::Composer;
    type_text(&mut app, "draft");
    assert!(handle_key(&mut app, ctrl('c')).is_empty());
    assert!(app.composer.is_empty());
    assert!(!app.quit_armed, "clearing does not arm quitting");
    app.focus = Focus::Tree;
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Char('q'))),
        vec![Action::Quit]
    );
}

#[test]
fn enter_sends_and_is_queued_while_running() {
    let mut app = three_pods();
    app.focus = Focus::Composer;
    type_text(&mut app, "hello");
    handle_key(&mut app, KeyEvent::new(KeyCode::Enter, KeyModifiers::SHIFT));
    type_text(&mut app, "there");
    let actions = handle_key(&mut app, key(KeyCode::Enter));
    assert_eq!(
        actions,
        vec![Action::Request {
            pod: name("lead"),
            request: Request::SendInput {
                text: "hello\nthere".into(),
                mode: InputMode::Queue,
                attachments: Vec::new(),
            }
        }]
    );
    assert!(app.composer.is_empty());
    assert!(app.message.as_deref().unwrap_or("").contains("queued"));
    // History brings it back.
    handle_key(&mut app, key(KeyCode::Up));
    assert_eq!(app.composer.text(), "hello\nthere");
}

#[test]
fn sending_to_a_pod_that_is_down_keeps_the_text() {
    let mut app = three_pods();
    app.select(name("docs"));
    app.focus = Focus::Composer;
    type_text(&mut app, "are you there");
    assert!(handle_key(&mut app, key(KeyCode::Enter)).is_empty());
    assert_eq!(app.composer.text(), "are you there");
}

#[test]
fn stop_asks_for_confirmation_first() {
    let mut app = three_pods();
    assert!(handle_key(&mut app, key(KeyCode::Char('s'))).is_empty());
    assert!(matches!(app.overlay, Overlay::ConfirmStop(ref n) if n.as_str() == "lead"));
    // Cancel.
    assert!(handle_key(&mut app, key(KeyCode::Char('n'))).is_empty());
    assert!(matches!(app.overlay, Overlay::None));
    // Unrelated keys keep asking; y confirms.
    handle_key(&mut app, key(KeyCode::Char('s')));
    assert!(handle_key(&mut app, key(KeyCode::Char('x'))).is_empty());
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Char('y'))),
        vec![Action::Command(PodCommand::Stop(name("lead")))]
    );
}

#[test]
fn resume_restarts_a_stopped_pod_and_unpauses_a_paused_one() {
    let mut app = three_pods();
    app.select(name("docs"));
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Char('r'))),
        vec![Action::Command(PodCommand::Resume(name("docs")))]
    );
    app.select(name("worker"));
    app.apply_link(
        &name("worker"),
        LinkUpdate::Event {
            seq: 2,
            event: Event::StateChanged {
                state: PodState::Paused,
            },
        },
    );
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Char('r'))),
        vec![Action::Request {
            pod: name("worker"),
            request: Request::Resume
        }]
    );
}

#[test]
fn tree_navigation_parent_child_and_follow() {
    let mut app = three_pods();
    handle_key(&mut app, key(KeyCode::Char('c')));
    assert_eq!(app.selected, Some(name("worker")));
    assert!(
        !app.views[&name("worker")].unread,
        "selecting clears the unread mark"
    );
    handle_key(&mut app, key(KeyCode::Char('p')));
    assert_eq!(app.selected, Some(name("lead")));
    handle_key(&mut app, key(KeyCode::Char('k')));
    assert_eq!(app.selected, Some(name("docs")));
    handle_key(&mut app, key(KeyCode::Char('j')));
    handle_key(&mut app, key(KeyCode::Char('j')));
    assert_eq!(app.selected, Some(name("worker")));
    // Follow: the Pod that starts running gets selected.
    handle_key(&mut app, key(KeyCode::Char('f')));
    app.select(name("docs"));
    app.apply_link(
        &name("worker"),
        LinkUpdate::Event {
            seq: 2,
            event: Event::StateChanged {
                state: PodState::Running,
            },
        },
    );
    assert_eq!(app.selected, Some(name("worker")));
}

#[test]
fn new_pod_form_submits_a_start_command() {
    let mut app = three_pods();
    handle_key(&mut app, key(KeyCode::Char('n')));
    // The name is generated; the task field has the focus.
    let Overlay::NewPod(form) = &app.overlay else {
        panic!("form expected")
    };
    assert!(form.values[0].starts_with("pod-"));
    type_text(&mut app, "write the tests");
    handle_key(&mut app, key(KeyCode::BackTab));
    handle_key(&mut app, ctrl('u'));
    type_text(&mut app, "tester");
    for _ in 0..5 {
        handle_key(&mut app, key(KeyCode::Tab));
    }
    handle_key(&mut app, ctrl('u'));
    type_text(&mut app, "/w/tests");
    let actions = handle_key(&mut app, key(KeyCode::Enter));
    let [Action::Command(PodCommand::Start(new))] = &actions[..] else {
        panic!("{actions:?}")
    };
    assert_eq!(
        (
            new.name.as_str(),
            new.task.as_deref(),
            new.model.as_deref(),
            &new.write[..]
        ),
        (
            "tester",
            Some("write the tests"),
            None,
            &["/w/tests".to_string()][..]
        )
    );
    // Once started, the new Pod is selected with the composer focused.
    app.command_done(&PodCommand::Start(new.clone()), Ok(()));
    assert_eq!(app.selected, Some(name("tester")));
    assert_eq!(app.focus, Focus::Composer);
    assert!(matches!(app.overlay, Overlay::None));
}

#[test]
fn tab_cycles_panes_and_mouse_wheel_scrolls() {
    let mut app = three_pods();
    with_transcript(&mut app);
    let _ = draw(&mut app, 100, 20);
    assert_eq!(app.focus, Focus::Tree);
    handle_key(&mut app, key(KeyCode::Tab));
    assert_eq!(app.focus, Focus::Transcript);
    handle_key(&mut app, key(KeyCode::Tab));
    assert_eq!(app.focus, Focus::Composer);
    handle_key(
        &mut app,
        KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT),
    );
    assert_eq!(app.focus, Focus::Transcript);
    tui::handle_mouse(
        &mut app,
        MouseEvent {
            kind: MouseEventKind::ScrollUp,
            column: 50,
            row: 5,
            modifiers: KeyModifiers::NONE,
        },
    );
    let _ = draw(&mut app, 100, 20);
    assert!(!app.views[&name("lead")].scroll.is_following());
    handle_key(&mut app, key(KeyCode::Char('G')));
    assert!(app.views[&name("lead")].scroll.is_following());
}

#[test]
fn help_lists_keys_and_any_key_closes_it() {
    let mut app = three_pods();
    handle_key(&mut app, key(KeyCode::Char('?')));
    assert!(matches!(app.overlay, Overlay::Help));
    assert!(
        handle_key(&mut app, key(KeyCode::Esc)).is_empty(),
        "Esc closes help, interrupts nothing"
    );
    assert!(matches!(app.overlay, Overlay::None));
    assert!(tui::KEYS.len() > 15);
}

#[test]
fn readme_lists_every_key() {
    let readme = include_str!("../README.md");
    for (ctx, keys, what) in tui::KEYS {
        let row = format!("| {ctx} | {keys} | {what} |");
        assert!(readme.contains(&row), "README misses {row}");
    }
    for c in tui::COMMANDS {
        let row = format!("| `/{}", c.name);
        assert!(
            readme.contains(&row),
            "README misses the command /{}",
            c.name
        );
    }
}

#[test]
fn a_pod_that_died_uncleanly_shows_lost_and_r_resumes_it() {
    let mut app = three_pods();
    let mut pods: Vec<tui::PodInfo> = app.tree.pods().cloned().collect();
    for p in &mut pods {
        if p.name.as_str() == "lead" {
            p.live_pid = None; // the process is gone; its socket file stayed
            p.socket_present = true;
        }
    }
    app.apply_link(
        &name("lead"),
        LinkUpdate::Closed {
            reason: "eof".into(),
        },
    );
    app.set_discovered(tui::Discovered {
        pods,
        problems: vec![],
    });
    assert_eq!(app.display_state(&name("lead")), tui::DisplayState::Stopped);
    // The reconnect attempt is refused: it died without cleaning up.
    app.apply_link(
        &name("lead"),
        LinkUpdate::Closed {
            reason: "refused".into(),
        },
    );
    assert_eq!(app.display_state(&name("lead")), tui::DisplayState::Lost);
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Char('r'))),
        vec![Action::Command(PodCommand::Resume(name("lead")))]
    );
}

#[test]
fn a_slash_line_is_a_command_never_a_message() {
    let mut app = three_pods();
    app.select(name("worker")); // idle: /compact applies
    app.focus = Focus::Composer;
    type_text(&mut app, "/compact");
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Enter)),
        vec![Action::Request {
            pod: name("worker"),
            request: Request::Compact
        }]
    );
    assert!(app.composer.is_empty());
    // Unknown: said so, nothing sent, the text stays.
    type_text(&mut app, "/nope x");
    assert!(handle_key(&mut app, key(KeyCode::Enter)).is_empty());
    assert!(
        app.message
            .as_deref()
            .unwrap()
            .contains("unknown command /nope")
    );
    assert_eq!(app.composer.text(), "/nope x");
    // `//` sends a literal slash.
    handle_key(&mut app, ctrl('u'));
    type_text(&mut app, "//etc is a path");
    let actions = handle_key(&mut app, key(KeyCode::Enter));
    assert!(
        matches!(&actions[..], [Action::Request { request: Request::SendInput { text, .. }, .. }] if text == "/etc is a path"),
        "{actions:?}"
    );
    // The popup: typing `/st` lists /stop and /status; Tab completes the first.
    type_text(&mut app, "/st");
    assert!(matches!(app.popup, tui::Popup::Slash { .. }));
    let labels: Vec<String> = tui::items(&app).into_iter().map(|i| i.label).collect();
    assert_eq!(labels, ["/stop", "/status"]);
    handle_key(&mut app, key(KeyCode::Down));
    handle_key(&mut app, key(KeyCode::Enter));
    assert!(
        matches!(app.overlay, Overlay::Status),
        "Enter runs the highlighted command"
    );
}

#[test]
fn mentions_attach_files_and_target_children() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "pub fn x() {}").unwrap();
    let mut app = three_pods();
    app.default_cwd = dir.path().to_path_buf();
    app.focus = Focus::Composer;
    // `@` opens the picker and asks for the Pod's files.
    type_text(&mut app, "explain @");
    assert!(matches!(app.popup, tui::Popup::Mention { .. }));
    app.set_files(name("lead"), vec!["src/lib.rs".into(), "README.md".into()]);
    type_text(&mut app, "lib");
    let items = tui::items(&app);
    assert_eq!(items[0].label, "src/lib.rs");
    handle_key(&mut app, key(KeyCode::Tab));
    assert_eq!(app.composer.text(), "explain @src/lib.rs ");
    assert_eq!(app.popup, tui::Popup::None);
    let attached = tui::mentioned_files(&app, &app.composer.text());
    assert_eq!(
        attached,
        [tui::Attachment::File {
            path: "src/lib.rs".into()
        }]
    );
    // `@worker …` in lead's composer goes to the child.
    handle_key(&mut app, ctrl('u'));
    type_text(&mut app, "@worker run the tests");
    handle_key(&mut app, key(KeyCode::Esc)); // closes the picker only
    app.focus = Focus::Composer;
    let actions = handle_key(&mut app, key(KeyCode::Enter));
    assert!(
        matches!(&actions[..], [Action::Request { pod, request: Request::SendInput { text, .. } }] if pod.as_str() == "worker" && text == "run the tests"),
        "{actions:?}"
    );
    // A pasted image path attaches the image.
    std::fs::write(dir.path().join("shot.png"), b"\x89PNG").unwrap();
    tui::handle_paste(
        &mut app,
        &format!("'{}'", dir.path().join("shot.png").display()),
    );
    assert_eq!(app.composer.attachments().len(), 1);
    assert!(app.composer.is_empty());
}

#[test]
fn ctrl_r_finds_a_past_input_and_esc_restores_the_draft() {
    let mut app = three_pods();
    for (i, t) in ["run the parser tests", "fix clippy"].iter().enumerate() {
        app.apply_link(
            &name("lead"),
            LinkUpdate::Event {
                seq: i as u64 + 1,
                event: Event::UserInput {
                    text: t.to_string(),
                },
            },
        );
    }
    app.focus = Focus::Composer;
    type_text(&mut app, "draft");
    handle_key(&mut app, ctrl('r'));
    type_text(&mut app, "pars");
    handle_key(&mut app, key(KeyCode::Enter));
    assert_eq!(app.composer.text(), "run the parser tests");
    handle_key(&mut app, ctrl('r'));
    type_text(&mut app, "zzz");
    handle_key(&mut app, key(KeyCode::Esc));
    assert_eq!(app.composer.text(), "run the parser tests");
    assert_eq!(app.focus, Focus::Composer, "Esc closed the search only");
}

#[test]
fn slash_diff_outside_git_shows_the_pods_own_record_of_edits() {
    let mut app = three_pods();
    app.apply_link(
        &name("lead"),
        LinkUpdate::Event {
            seq: 1,
            event: Event::AssistantItem {
                item: transcript::Item::ToolCall(transcript::ToolCall {
                    call_id: "w1".into(),
                    name: "write_file".into(),
                    arguments: r#"{"path":"notes.txt","content":"first\nsecond"}"#.into(),
                }),
            },
        },
    );
    app.apply_link(
        &name("lead"),
        LinkUpdate::Event {
            seq: 2,
            event: Event::ToolResult {
                result: transcript::ToolResult {
                    call_id: "w1".into(),
                    name: "write_file".into(),
                    output: "Created /w/notes.txt (12 bytes, 2 lines)".into(),
                    is_error: false,
                },
                duration_ms: 1,
            },
        },
    );
    app.focus = Focus::Composer;
    type_text(&mut app, "/diff");
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Enter)),
        vec![Action::Diff(name("lead"))]
    );
    let record = app.recorded_edits(&name("lead"));
    app.set_view_text(&name("lead"), Ok(record));
    let Overlay::View {
        text: Some(text), ..
    } = &app.overlay
    else {
        panic!("the view is open with its text: {:?}", app.overlay)
    };
    assert!(text.contains("+++ notes.txt (write_file)"), "{text}");
    assert!(
        text.contains("+    1 first") && text.contains("+    2 second"),
        "{text}"
    );
}
