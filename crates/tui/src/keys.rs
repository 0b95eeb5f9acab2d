//! Keyboard and mouse handling: input events to state changes and [`Action`]s.
//!
//! [`KEYS`] is the one list of bindings; the help overlay and the README are made
//! from it, so they cannot drift from what the handlers do (a test checks that
//! every listed key does something).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use protocol::Request;

use crate::app::{Action, App, DisplayState, Focus, Overlay, PodCommand, Popup};
use crate::form::NewPodForm;

/// `(context, keys, what they do)` for every binding.
pub const KEYS: &[(&str, &str, &str)] = &[
    ("global", "Tab / Shift-Tab", "next / previous pane"),
    (
        "global",
        "Ctrl-C",
        "interrupt the run; else clear the input; else press twice to quit",
    ),
    (
        "global",
        "Esc Esc",
        "interrupt the selected Pod's run (the Pod stays)",
    ),
    ("global", "Ctrl-T", "show / hide the Pod tree"),
    ("global", "F1, ? (outside the composer)", "this help"),
    (
        "global",
        "mouse wheel, PgUp / PgDn",
        "scroll the transcript",
    ),
    ("tree", "↑ ↓ / k j, Home / End", "select a Pod"),
    ("tree", "Enter / i", "write to the selected Pod"),
    (
        "tree",
        "n",
        "new Pod (name, task, provider, model, directory, write scope)",
    ),
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
    ("tree", "q", "quit the dashboard (Pods keep running)"),
    (
        "tree",
        "w",
        "work items of the Pod's repository (from the transcript too)",
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
    (
        "composer",
        "Ctrl-R",
        "search past inputs (again: older match)",
    ),
    ("composer", "/", "commands (a list opens; /help lists them)"),
    (
        "composer",
        "@",
        "attach a file, or @child to write to a child Pod",
    ),
    ("composer", "Ctrl-U", "clear the input"),
    ("composer", "Esc", "leave the composer (the text stays)"),
    (
        "list",
        "↑ ↓, Tab / Enter, Esc",
        "choose, take, close (commands, files, history)",
    ),
    ("form", "Tab / ↑ ↓", "next / previous field"),
    ("form", "Ctrl-U", "clear the field"),
    ("form", "Enter", "start the Pod; Esc cancels"),
    ("confirm", "y / Enter, n / Esc", "confirm / cancel"),
    (
        "view",
        "↑ ↓, PgUp / PgDn, Esc",
        "scroll, close (/status, /diff)",
    ),
    (
        "work",
        "↑ ↓ / k j, PgUp / PgDn",
        "select an item; in an item: scroll",
    ),
    ("work", "Enter", "open the item (thread, artifacts, Pods)"),
    ("work", "1 … 9", "in an item: go to that Pod's transcript"),
    (
        "work",
        "Tab / Shift-Tab, ← →",
        "thread, description, each artifact, resolution",
    ),
    ("work", "Esc", "back to the list; close"),
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
        return ctrl_c(app);
    }
    // Armed states and messages live until the next key; handlers may set new ones.
    app.quit_armed = false;
    let esc_armed = std::mem::take(&mut app.esc_armed);
    app.message = None;
    // A tool call waiting for the user's word comes before anything else.
    if let Some(actions) = crate::approval::handle_key(app, key) {
        return actions;
    }
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
        Overlay::Status => {
            if !matches!(key.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q')) {
                app.overlay = Overlay::Status;
            }
            return Vec::new();
        }
        Overlay::Work(mut view) => {
            return match view.key(key) {
                crate::work_view::WorkKey::Close => Vec::new(),
                crate::work_view::WorkKey::Stay => {
                    app.overlay = Overlay::Work(view);
                    Vec::new()
                }
                crate::work_view::WorkKey::Load(q) => {
                    app.overlay = Overlay::Work(view);
                    vec![Action::LoadWork(q)]
                }
                crate::work_view::WorkKey::GoToPod(n) => {
                    let pod = view
                        .open_pods(app)
                        .get(n)
                        .and_then(|p| p.name.parse::<pod_ids::PodName>().ok())
                        .filter(|p| app.tree.get(p).is_some());
                    match pod {
                        // Its transcript, with the tree focused on it.
                        Some(pod) => {
                            app.focus = Focus::Tree;
                            app.select(pod)
                        }
                        None => {
                            app.message = Some(format!("no Pod {} on this item", n + 1));
                            app.overlay = Overlay::Work(view);
                            Vec::new()
                        }
                    }
                }
            };
        }
        Overlay::View {
            title,
            pod,
            text,
            scroll,
        } => {
            let lines = text.as_deref().map_or(0, |t| t.lines().count());
            let page = usize::from(app.viewport_height.max(2));
            let scroll = match key.code {
                KeyCode::Esc | KeyCode::Char('q') => return Vec::new(),
                KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => scroll + 1,
                KeyCode::PageUp => scroll.saturating_sub(page),
                KeyCode::PageDown | KeyCode::Char(' ') => scroll + page,
                KeyCode::Home | KeyCode::Char('g') => 0,
                KeyCode::End | KeyCode::Char('G') => lines,
                _ => scroll,
            };
            app.overlay = Overlay::View {
                title,
                pod,
                text,
                scroll: scroll.min(lines.saturating_sub(1)),
            };
            return Vec::new();
        }
    }
    let list_open = app.focus == Focus::Composer && app.popup != Popup::None
        || matches!(app.popup, Popup::History { .. });
    if list_open && let Some(actions) = popup_key(app, key) {
        return actions;
    }
    match key.code {
        KeyCode::Esc => return esc(app, esc_armed),
        KeyCode::Tab => {
            app.focus = next_focus(app, true);
            return Vec::new();
        }
        KeyCode::BackTab => {
            app.focus = next_focus(app, false);
            return Vec::new();
        }
        KeyCode::Char('t') if ctrl => {
            app.tree_hidden = !app.tree_hidden;
            if app.tree_hidden && app.focus == Focus::Tree {
                app.focus = Focus::Transcript;
            }
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
    let actions = match app.focus {
        Focus::Tree => tree_key(app, key),
        Focus::Transcript => transcript_key(app, key),
        Focus::Composer => composer_key(app, key),
    };
    let mut actions = actions;
    actions.extend(update_popup(app));
    actions
}

/// Ctrl-C, as users of the other tools expect: close a list, else interrupt a
/// run, else clear the input, else (pressed twice) quit.
fn ctrl_c(app: &mut App) -> Vec<Action> {
    app.esc_armed = false;
    if let Popup::History { draft, .. } = std::mem::take(&mut app.popup) {
        app.composer.set_text(&draft);
        return Vec::new();
    }
    if !app.overlay_is_none() {
        app.overlay = Overlay::None;
        return Vec::new();
    }
    let running = app
        .selected
        .as_ref()
        .is_some_and(|n| app.display_state(n) == DisplayState::Running);
    if running {
        app.quit_armed = false;
        return interrupt(app);
    }
    if app.focus == Focus::Composer && !app.composer.is_empty() {
        app.composer.clear();
        app.message = Some("input cleared".into());
        return Vec::new();
    }
    if app.quit_armed {
        return vec![Action::Quit];
    }
    app.quit_armed = true;
    app.message = Some("press Ctrl-C again to quit (Pods keep running)".into());
    Vec::new()
}

/// Esc leaves the composer; twice in a row while a run goes interrupts it.
fn esc(app: &mut App, armed: bool) -> Vec<Action> {
    if app.focus == Focus::Composer {
        app.focus = if app.tree_hidden {
            Focus::Transcript
        } else {
            Focus::Tree
        };
    }
    let running = app
        .selected
        .as_ref()
        .is_some_and(|n| app.display_state(n) == DisplayState::Running);
    if !running {
        return Vec::new();
    }
    if armed {
        return interrupt(app);
    }
    app.esc_armed = true;
    app.message = Some("press Esc again to interrupt".into());
    Vec::new()
}

fn next_focus(app: &App, forward: bool) -> Focus {
    let order: &[Focus] = if app.tree_hidden {
        &[Focus::Transcript, Focus::Composer]
    } else {
        &[Focus::Tree, Focus::Transcript, Focus::Composer]
    };
    let i = order.iter().position(|f| *f == app.focus).unwrap_or(0);
    let n = order.len();
    order[if forward {
        (i + 1) % n
    } else {
        (i + n - 1) % n
    }]
}

fn page(app: &App) -> i32 {
    i32::from(app.viewport_height.saturating_sub(2).max(1))
}

fn scroll(app: &mut App, lines: i32) {
    if let Some(v) = app.selected_view_mut() {
        v.scroll.by(lines);
    }
}

/// Handles a mouse event (wheel scrolls the transcript, or the work-items view
/// when it is open).
pub fn handle_mouse(app: &mut App, ev: MouseEvent) {
    if let Overlay::Work(view) = &mut app.overlay {
        let code = match ev.kind {
            MouseEventKind::ScrollUp => KeyCode::Up,
            MouseEventKind::ScrollDown => KeyCode::Down,
            _ => return,
        };
        for _ in 0..WHEEL_LINES {
            // Scrolling and moving the selection never ask for a read.
            view.key(KeyEvent::new(code, KeyModifiers::NONE));
        }
        return;
    }
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
    // A terminal cannot paste image bytes, but dropping an image file pastes its
    // path: that attaches the image instead of typing the path.
    if let Some(path) = pasted_image_path(app, text) {
        app.message = Some(format!(
            "image {} attached to the next message",
            path.display()
        ));
        app.composer.attach(crate::Attachment::Image { path });
        return;
    }
    app.composer.insert_str(text);
}

/// The image file a paste names, if it is one path to an existing image.
fn pasted_image_path(app: &App, text: &str) -> Option<std::path::PathBuf> {
    let t = text.trim().trim_matches(['\'', '"']);
    if t.contains('\n') {
        return None;
    }
    let t = t.strip_prefix("file://").unwrap_or(t).replace("\\ ", " ");
    let ext = t.rsplit_once('.')?.1.to_ascii_lowercase();
    if !matches!(ext.as_str(), "png" | "jpg" | "jpeg" | "gif" | "webp") {
        return None;
    }
    let path = app.resolve_path(&t);
    path.is_file().then_some(path)
}

/// Interrupts the selected Pod's run (it stays, idle).
pub fn interrupt(app: &mut App) -> Vec<Action> {
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
pub fn compact(app: &mut App) -> Vec<Action> {
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
            app.overlay = Overlay::NewPod(NewPodForm::new("", app.default_cwd.clone()));
            Vec::new()
        }
        KeyCode::Char('q') => vec![Action::Quit],
        KeyCode::Char('w') => app.open_work(),
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

/// Resumes the selected Pod: a paused one continues, a stopped one restarts.
pub fn resume(app: &mut App) -> Vec<Action> {
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
        KeyCode::Char('w') => return app.open_work(),
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
        KeyCode::Char('r') if ctrl => {
            app.popup = Popup::History {
                query: String::new(),
                selected: 0,
                draft: app.composer.text(),
            };
        }
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

/// Opens or closes the derived lists after the composer changed: `/word` shows
/// the commands, a word starting with `@` the picker (listing the Pod's files
/// the first time).
fn update_popup(app: &mut App) -> Vec<Action> {
    if app.focus != Focus::Composer || matches!(app.popup, Popup::History { .. }) {
        if app.focus != Focus::Composer {
            app.popup = Popup::None;
        }
        return Vec::new();
    }
    let text = app.composer.text();
    if crate::slash::typing(&text).is_some() {
        if !matches!(app.popup, Popup::Slash { .. }) {
            app.popup = Popup::Slash { selected: 0 };
        }
        return Vec::new();
    }
    if app.composer.current_word().1.starts_with('@') {
        let mut actions = Vec::new();
        if !matches!(app.popup, Popup::Mention { .. }) {
            app.popup = Popup::Mention { selected: 0 };
            if let Some(pod) = app.selected.clone() {
                actions.push(Action::IndexFiles(pod));
            }
        }
        return actions;
    }
    app.popup = Popup::None;
    Vec::new()
}

/// Keys while a list is open. `None`: not the list's key, handle it as usual.
fn popup_key(app: &mut App, key: KeyEvent) -> Option<Vec<Action>> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let items = crate::completion::items(app);
    let popup = std::mem::take(&mut app.popup);
    let n = items.len();
    match popup {
        Popup::History {
            mut query,
            mut selected,
            draft,
        } => {
            match key.code {
                KeyCode::Esc => {
                    app.composer.set_text(&draft);
                    return Some(Vec::new());
                }
                KeyCode::Enter | KeyCode::Tab => {
                    if let Some(item) = items.get(selected) {
                        app.composer.set_text(&item.insert);
                    }
                    return Some(Vec::new());
                }
                KeyCode::Char('r') if ctrl => selected = (selected + 1).min(n.saturating_sub(1)),
                KeyCode::Up => selected = (selected + 1).min(n.saturating_sub(1)),
                KeyCode::Down => selected = selected.saturating_sub(1),
                KeyCode::Backspace => {
                    query.pop();
                    selected = 0;
                }
                KeyCode::Char(c) if !ctrl => {
                    query.push(c);
                    selected = 0;
                }
                _ => {}
            }
            app.popup = Popup::History {
                query,
                selected,
                draft,
            };
            Some(Vec::new())
        }
        Popup::Slash { selected } | Popup::Mention { selected } => {
            let is_slash = matches!(popup, Popup::Slash { .. });
            let keep = |selected| {
                if is_slash {
                    Popup::Slash { selected }
                } else {
                    Popup::Mention { selected }
                }
            };
            match key.code {
                KeyCode::Up => {
                    app.popup = keep(selected.checked_sub(1).unwrap_or(n.saturating_sub(1)));
                    Some(Vec::new())
                }
                KeyCode::Down => {
                    app.popup = keep(if n == 0 { 0 } else { (selected + 1) % n });
                    Some(Vec::new())
                }
                KeyCode::Esc => Some(Vec::new()),
                KeyCode::Tab => {
                    if let Some(item) = items.get(selected) {
                        app.composer.replace_current_word(&item.insert);
                    }
                    Some(update_popup(app))
                }
                KeyCode::Enter
                    if !key
                        .modifiers
                        .intersects(KeyModifiers::SHIFT | KeyModifiers::ALT) =>
                {
                    let Some(item) = items.get(selected) else {
                        app.popup = keep(selected);
                        return None;
                    };
                    if is_slash {
                        // Enter runs the highlighted command (one with an argument
                        // is completed instead, so the argument can be typed).
                        app.composer.replace_current_word(&item.insert);
                        if item.insert.ends_with(' ') && !item.runs_bare {
                            return Some(Vec::new());
                        }
                        return Some(send(app));
                    }
                    app.composer.replace_current_word(&item.insert);
                    Some(update_popup(app))
                }
                _ => {
                    app.popup = keep(selected.min(n.saturating_sub(1)));
                    None
                }
            }
        }
        Popup::None => None,
    }
}

/// Sends the composer's text, or runs it as a slash command.
fn send(app: &mut App) -> Vec<Action> {
    if app.composer.is_empty() && app.composer.attachments().is_empty() {
        return Vec::new();
    }
    let raw = app.composer.text();
    if crate::slash::is_command(&raw) {
        return match crate::slash::run(app, &raw) {
            Some(actions) => {
                app.composer.take();
                app.popup = Popup::None;
                actions
            }
            None => {
                let word = raw.split_whitespace().next().unwrap_or("/");
                app.message = Some(format!(
                    "unknown command {word}: /help lists the commands (//text sends /text)"
                ));
                Vec::new()
            }
        };
    }
    let Some(mut target) = app.selected.clone() else {
        app.message = Some("no Pod selected: press n to start one".into());
        return Vec::new();
    };
    let mut text = raw.strip_prefix('/').map_or(raw.clone(), str::to_string);
    // `@child …` at the start writes to that child instead.
    if let Some(child) = crate::completion::leading_child(app, &text) {
        text = text
            .trim_start()
            .trim_start_matches(&format!("@{child}"))
            .trim_start()
            .to_string();
        target = child;
    }
    let connected = app.views.get(&target).is_some_and(|v| v.is_connected());
    if !connected {
        // Keep the text: nothing is lost while the Pod is down.
        app.message = Some(format!(
            "{target} is not connected: press r in the tree to resume it"
        ));
        return Vec::new();
    }
    let mut attachments = crate::completion::mentioned_files(app, &text);
    for a in app.composer.take_attachments() {
        if !attachments.contains(&a) {
            attachments.push(a);
        }
    }
    let running = app.display_state(&target) == DisplayState::Running;
    app.composer.take();
    app.popup = Popup::None;
    let mut note = Vec::new();
    if target.as_str() != app.selected.as_ref().map_or("", |s| s.as_str()) {
        note.push(format!("sent to {target}"));
    }
    if running {
        note.push(format!("queued for {target} (running)"));
    }
    if !attachments.is_empty() {
        note.push(format!("{} attached", attachments.len()));
    }
    app.message = (!note.is_empty()).then(|| note.join(" · "));
    if let Some(v) = app.views.get_mut(&target) {
        v.scroll.to_bottom();
    }
    vec![Action::Request {
        pod: target,
        request: crate::completion::send_input(text, attachments),
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
        KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => form.clear_field(),
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => form.insert(c),
        _ => {}
    }
    if keep {
        app.overlay = Overlay::NewPod(std::mem::take(form));
    }
    actions
}
