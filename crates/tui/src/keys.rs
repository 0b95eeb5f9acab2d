//! Keyboard and mouse handling: input events to state changes and [`Action`]s.
//!
//! [`KEYS`] is the one list of bindings; the help overlay and the README are made
//! from it, so they cannot drift from what the handlers do (a test checks that
//! every listed key does something).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use protocol::{InputMode, PodState, Request};

use crate::app::{Action, App, DisplayState, Focus, Overlay, PodCommand};
use crate::form::NewPodForm;

/// `(context, keys, what they do)` for every binding.
pub const KEYS: &[(&str, &str, &str)] = &[
    ("global", "Tab / Shift-Tab", "next / previous pane"),
    (
        "global",
        "Esc",
        "interrupt the selected Pod's run (the Pod stays)",
    ),
    (
        "global",
        "Ctrl-C Ctrl-C",
        "quit (the first press only arms)",
    ),
    ("global", "F1, ? (outside the composer)", "this help"),
    (
        "global",
        "mouse wheel, PgUp / PgDn",
        "scroll the transcript",
    ),
    ("tree", "↑ ↓ / k j, Home / End", "select a Pod"),
    ("tree", "Enter / i", "write to the selected Pod"),
    ("tree", "n", "new Pod (name, model, write scope)"),
    ("tree", "s", "stop the selected Pod (asks first)"),
    (
        "tree",
        "r",
        "resume: a paused Pod continues, a stopped one restarts",
    ),
    ("tree", "p / c", "jump to parent / first child"),
    ("tree", "f", "follow: select whichever Pod starts running"),
    (
        "tree",
        "C",
        "compact the selected Pod's conversation (idle Pods)",
    ),
    ("transcript", "↑ ↓ / k j", "scroll one line"),
    (
        "transcript",
        "g / G",
        "top / bottom (bottom follows new output)",
    ),
    ("transcript", "t", "expand / collapse reasoning"),
    (
        "transcript",
        "e",
        "expand / collapse tool details and diffs",
    ),
    ("composer", "Enter", "send (queued while the Pod runs)"),
    ("composer", "Shift-Enter, Alt-Enter, Ctrl-J", "new line"),
    (
        "composer",
        "↑ ↓",
        "move between lines, then through history",
    ),
    ("composer", "Ctrl-U", "clear the input"),
    ("form", "Tab / ↑ ↓", "next / previous field"),
    ("form", "Enter", "start the Pod; Esc cancels"),
    ("confirm", "y / Enter, n / Esc", "confirm / cancel"),
];

/// Lines scrolled per mouse-wheel notch.
const WHEEL_LINES: i32 = 3;

/// Handles one key press.
pub fn handle_key(app: &mut App, key: KeyEvent) -> Vec<Action> {
    if key.kind == KeyEventKind::Release {
        return Vec::new();
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        if app.quit_armed {
            return vec![Action::Quit];
        }
        app.quit_armed = true;
        app.message = Some("press Ctrl-C again to quit".into());
        return Vec::new();
    }
    // A message lives until the next key; handlers below may set a new one.
    app.quit_armed = false;
    app.message = None;
    match std::mem::take(&mut app.overlay) {
        Overlay::None => {}
        Overlay::Help => return Vec::new(),
        Overlay::ConfirmStop(name) => {
            return match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                    app.message = Some(format!("stopping {name}…"));
                    vec![Action::Command(PodCommand::Stop(name))]
                }
                KeyCode::Char('n') | KeyCode::Esc => Vec::new(),
                _ => {
                    app.overlay = Overlay::ConfirmStop(name);
                    Vec::new()
                }
            };
        }
        Overlay::NewPod(mut form) => return form_key(app, &mut form, key),
    }
    match key.code {
        KeyCode::Esc => return interrupt(app),
        KeyCode::Tab => {
            app.focus = match app.focus {
                Focus::Tree => Focus::Transcript,
                Focus::Transcript => Focus::Composer,
                Focus::Composer => Focus::Tree,
            };
            return Vec::new();
        }
        KeyCode::BackTab => {
            app.focus = match app.focus {
                Focus::Tree => Focus::Composer,
                Focus::Transcript => Focus::Tree,
                Focus::Composer => Focus::Transcript,
            };
            return Vec::new();
        }
        KeyCode::F(1) => {
            app.overlay = Overlay::Help;
            return Vec::new();
        }
        KeyCode::PageUp => {
            scroll(app, -page(app));
            return Vec::new();
        }
        KeyCode::PageDown => {
            scroll(app, page(app));
            return Vec::new();
        }
        _ => {}
    }
    match app.focus {
        Focus::Tree => tree_key(app, key),
        Focus::Transcript => transcript_key(app, key),
        Focus::Composer => composer_key(app, key),
    }
}

fn page(app: &App) -> i32 {
    i32::from(app.viewport_height.saturating_sub(2).max(1))
}

fn scroll(app: &mut App, lines: i32) {
    if let Some(v) = app.selected_view_mut() {
        v.scroll.by(lines);
    }
}

/// Handles a mouse event (wheel scrolls the transcript).
pub fn handle_mouse(app: &mut App, ev: MouseEvent) {
    match ev.kind {
        MouseEventKind::ScrollUp => scroll(app, -WHEEL_LINES),
        MouseEventKind::ScrollDown => scroll(app, WHEEL_LINES),
        _ => {}
    }
}

/// Handles bracketed paste: into the form or the composer, never as keys.
pub fn handle_paste(app: &mut App, text: &str) {
    if let Overlay::NewPod(form) = &mut app.overlay {
        text.chars()
            .filter(|c| !c.is_control())
            .for_each(|c| form.insert(c));
        return;
    }
    app.focus = Focus::Composer;
    app.composer.insert_str(text);
}

fn interrupt(app: &mut App) -> Vec<Action> {
    let Some(name) = app.selected.clone() else {
        return Vec::new();
    };
    if app.display_state(&name) == DisplayState::Running {
        app.message = Some(format!("interrupting {name}…"));
        vec![Action::Request {
            pod: name,
            request: Request::Interrupt,
        }]
    } else {
        app.message = Some(format!("{name} is not running"));
        Vec::new()
    }
}

/// Asks an idle Pod to compact now; the transcript shows the marker when done.
fn compact(app: &mut App) -> Vec<Action> {
    let Some(name) = app.selected.clone() else {
        return Vec::new();
    };
    if app.display_state(&name) == DisplayState::Idle {
        app.message = Some(format!("compacting {name}…"));
        vec![Action::Request {
            pod: name,
            request: Request::Compact,
        }]
    } else {
        app.message = Some(format!(
            "{name} is {}: compact an idle Pod",
            app.display_state(&name).label()
        ));
        Vec::new()
    }
}

fn move_selection(app: &mut App, delta: isize) -> Vec<Action> {
    let rows = app.tree.rows();
    if rows.is_empty() {
        return Vec::new();
    }
    let cur = app
        .selected
        .as_ref()
        .and_then(|s| app.tree.index_of(s))
        .unwrap_or(0) as isize;
    let next = (cur + delta).clamp(0, rows.len() as isize - 1) as usize;
    let name = rows[next].name.clone();
    app.select(name)
}

fn tree_key(app: &mut App, key: KeyEvent) -> Vec<Action> {
    let sel = app.selected.clone();
    match key.code {
        KeyCode::Up | KeyCode::Char('k') => move_selection(app, -1),
        KeyCode::Down | KeyCode::Char('j') => move_selection(app, 1),
        KeyCode::Home => move_selection(app, isize::MIN / 2),
        KeyCode::End => move_selection(app, isize::MAX / 2),
        KeyCode::Enter | KeyCode::Char('i') => {
            app.focus = Focus::Composer;
            Vec::new()
        }
        KeyCode::Char('?') => {
            app.overlay = Overlay::Help;
            Vec::new()
        }
        KeyCode::Char('n') => {
            app.overlay = Overlay::NewPod(NewPodForm::default());
            Vec::new()
        }
        KeyCode::Char('s') => {
            match sel {
                Some(name) if app.display_state(&name).is_live() => {
                    app.overlay = Overlay::ConfirmStop(name)
                }
                Some(name) => app.message = Some(format!("{name} is not running")),
                None => {}
            }
            Vec::new()
        }
        KeyCode::Char('r') => resume(app),
        KeyCode::Char('C') => compact(app),
        KeyCode::Char('p') => {
            let parent = sel.and_then(|s| app.tree.get(&s).and_then(|p| p.parent.clone()));
            match parent {
                Some(p) if app.tree.get(&p).is_some() => app.select(p),
                _ => {
                    app.message = Some("no parent".into());
                    Vec::new()
                }
            }
        }
        KeyCode::Char('c') => {
            let child = sel.and_then(|s| app.tree.first_child(&s).cloned());
            match child {
                Some(c) => app.select(c),
                None => {
                    app.message = Some("no children".into());
                    Vec::new()
                }
            }
        }
        KeyCode::Char('f') => {
            app.follow_running = !app.follow_running;
            app.message = Some(
                if app.follow_running {
                    "following the running Pod"
                } else {
                    "follow off"
                }
                .into(),
            );
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn resume(app: &mut App) -> Vec<Action> {
    let Some(name) = app.selected.clone() else {
        return Vec::new();
    };
    match app.display_state(&name) {
        DisplayState::Paused => vec![Action::Request {
            pod: name,
            request: Request::Resume,
        }],
        DisplayState::Stopped | DisplayState::Lost | DisplayState::Pending => {
            app.message = Some(format!("resuming {name}…"));
            vec![Action::Command(PodCommand::Resume(name))]
        }
        s => {
            app.message = Some(format!("{name} is already {}", s.label()));
            Vec::new()
        }
    }
}

fn transcript_key(app: &mut App, key: KeyEvent) -> Vec<Action> {
    match key.code {
        KeyCode::Up | KeyCode::Char('k') => scroll(app, -1),
        KeyCode::Down | KeyCode::Char('j') => scroll(app, 1),
        KeyCode::Char('g') | KeyCode::Home => {
            if let Some(v) = app.selected_view_mut() {
                v.scroll.to_top();
            }
        }
        KeyCode::Char('G') | KeyCode::End => {
            if let Some(v) = app.selected_view_mut() {
                v.scroll.to_bottom();
            }
        }
        KeyCode::Char('t') => app.flags.reasoning = !app.flags.reasoning,
        KeyCode::Char('e') => app.flags.tools = !app.flags.tools,
        KeyCode::Char('?') => app.overlay = Overlay::Help,
        KeyCode::Char('i') | KeyCode::Enter => app.focus = Focus::Composer,
        _ => {}
    }
    Vec::new()
}

fn composer_key(app: &mut App, key: KeyEvent) -> Vec<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let newline_mod = key
        .modifiers
        .intersects(KeyModifiers::SHIFT | KeyModifiers::ALT);
    match key.code {
        KeyCode::Enter if newline_mod => app.composer.newline(),
        KeyCode::Char('j') if ctrl => app.composer.newline(),
        KeyCode::Char('u') if ctrl => app.composer.clear(),
        KeyCode::Enter => return send(app),
        KeyCode::Char(c) if !ctrl => app.composer.insert_char(c),
        KeyCode::Backspace => app.composer.backspace(),
        KeyCode::Delete => app.composer.delete(),
        KeyCode::Left => app.composer.left(),
        KeyCode::Right => app.composer.right(),
        KeyCode::Home => app.composer.home(),
        KeyCode::End => app.composer.end(),
        KeyCode::Up => app.composer.up(),
        KeyCode::Down => app.composer.down(),
        _ => {}
    }
    Vec::new()
}

fn send(app: &mut App) -> Vec<Action> {
    if app.composer.is_empty() {
        return Vec::new();
    }
    let Some(name) = app.selected.clone() else {
        app.message = Some("no Pod selected: press n to start one".into());
        return Vec::new();
    };
    let connected = app.views.get(&name).is_some_and(|v| v.is_connected());
    if !connected {
        // Keep the text: nothing is lost while the Pod is down.
        app.message = Some(format!(
            "{name} is not connected: press r in the tree to resume it"
        ));
        return Vec::new();
    }
    let running = app
        .views
        .get(&name)
        .and_then(|v| v.state())
        .is_some_and(|s| s == PodState::Running);
    let text = app.composer.take();
    app.message = running.then(|| format!("queued for {name} (running)"));
    if let Some(v) = app.views.get_mut(&name) {
        v.scroll.to_bottom();
    }
    vec![Action::Request {
        pod: name,
        request: Request::SendInput {
            text,
            mode: InputMode::Queue,
        },
    }]
}

fn form_key(app: &mut App, form: &mut NewPodForm, key: KeyEvent) -> Vec<Action> {
    let mut keep = true;
    let mut actions = Vec::new();
    match key.code {
        KeyCode::Esc => keep = false,
        KeyCode::Tab | KeyCode::Down => form.next(),
        KeyCode::BackTab | KeyCode::Up => form.prev(),
        KeyCode::Enter => {
            if let Some(new) = form.submit() {
                app.message = Some(format!("starting {}…", new.name));
                actions.push(Action::Command(PodCommand::Start(new)));
                keep = false;
            }
        }
        KeyCode::Backspace => form.backspace(),
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => form.insert(c),
        _ => {}
    }
    if keep {
        app.overlay = Overlay::NewPod(std::mem::take(form));
    }
    actions
}
