//! The four panes: tree, transcript, composer, status line.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph};
use unicode_width::UnicodeWidthStr;

use pod_ids::PodName;

use super::entry_lines::tokens;
use super::viewport::visible_lines;
use crate::app::{App, DisplayState, Focus};
use crate::meters;

fn block(title: Line<'static>, focused: bool) -> Block<'static> {
    let style = if focused {
        Style::default().fg(Color::Cyan)
    } else {
        Style::default().fg(Color::DarkGray)
    };
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(style)
        .title(title)
}

/// Icon and colour of a state.
pub(super) fn state_icon(s: DisplayState) -> (&'static str, Color) {
    match s {
        DisplayState::Running => ("▶", Color::LightGreen),
        DisplayState::Idle => ("●", Color::Green),
        DisplayState::Paused => ("‖", Color::Yellow),
        DisplayState::Live => ("○", Color::Green),
        DisplayState::Stopped => ("■", Color::DarkGray),
        DisplayState::Lost => ("✗", Color::Red),
        DisplayState::Pending => ("…", Color::DarkGray),
    }
}

/// `s` shortened from the left to `w` columns (`…/src/parser`): the end of a
/// path says the most.
pub(super) fn shorten_left(s: &str, w: usize) -> String {
    if s.width() <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut tail: Vec<char> = Vec::new();
    let mut used = 1; // the ellipsis
    for c in s.chars().rev() {
        let cw = c.to_string().width();
        if used + cw > w {
            break;
        }
        used += cw;
        tail.push(c);
    }
    let tail: String = tail.into_iter().rev().collect();
    format!("…{tail}")
}

/// Width of the state column (`running`, `stopped`, `pending` are the longest).
const STATE_W: usize = 7;

pub(super) fn tree(app: &mut App, frame: &mut Frame, area: Rect) {
    let title = Line::from(format!(" Pods ({}) ", app.tree.rows().len()));
    let b = block(title, app.focus == crate::app::Focus::Tree);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let rows = app.tree.rows();
    let sel = app.selected.as_ref().and_then(|s| app.tree.index_of(s));
    // Keep the selection visible: scroll the list so it is on screen.
    let h = usize::from(inner.height);
    let first = match sel {
        Some(i) if i >= h => i + 1 - h,
        _ => 0,
    };
    let width = usize::from(inner.width);
    // Left part of each row: indent, icon, name, marks.
    let lefts: Vec<(Vec<Span<'static>>, DisplayState)> = rows
        .iter()
        .map(|row| {
            let state = app.display_state(&row.name);
            let (icon, color) = state_icon(state);
            let view = app.views.get(&row.name);
            let indent = if row.depth == 0 {
                String::new()
            } else {
                format!("{}└ ", "  ".repeat(row.depth - 1))
            };
            let mut spans = vec![
                Span::styled(indent, Style::default().fg(Color::DarkGray)),
                Span::styled(format!("{icon} "), Style::default().fg(color)),
                Span::styled(
                    row.name.to_string(),
                    Style::default().add_modifier(if state.is_live() {
                        Modifier::BOLD
                    } else {
                        Modifier::empty()
                    }),
                ),
            ];
            if view.is_some_and(|v| v.last_run_failed) {
                spans.push(Span::styled(
                    " !",
                    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
                ));
            }
            if view.is_some_and(|v| v.unread) {
                spans.push(Span::styled(
                    " *",
                    Style::default()
                        .fg(Color::Yellow)
                        .add_modifier(Modifier::BOLD),
                ));
            }
            (spans, state)
        })
        .collect();
    // The state column starts after the widest left part (so it lines up),
    // leaving the path at least a few columns.
    let widest = lefts
        .iter()
        .map(|(s, _)| s.iter().map(|x| x.content.width()).sum::<usize>())
        .max()
        .unwrap_or(0);
    let state_x = (widest + 1).min(width.saturating_sub(STATE_W + 1));
    let mut lines = Vec::new();
    for (i, row) in rows.iter().enumerate().skip(first).take(h) {
        let (mut spans, state) = lefts[i].clone();
        let used: usize = spans.iter().map(|s| s.content.width()).sum();
        if used > state_x {
            // Too long: cut the name (the marks stay visible).
            let line: String = spans.iter().map(|s| s.content.as_ref()).collect();
            let cut: String = line.chars().take(state_x.saturating_sub(1)).collect();
            spans = vec![Span::raw(format!("{cut}…"))];
        }
        let used: usize = spans.iter().map(|s| s.content.width()).sum();
        if width > state_x + STATE_W {
            spans.push(Span::raw(" ".repeat(state_x.saturating_sub(used))));
            spans.push(Span::styled(
                format!("{:<STATE_W$}", state.label()),
                Style::default().fg(state_icon(state).1),
            ));
            let path = app
                .tree
                .get(&row.name)
                .map_or("", |p| p.write_short.as_str());
            let room = width.saturating_sub(state_x + STATE_W + 1);
            if room > 0 {
                spans.push(Span::styled(
                    format!(" {}", shorten_left(path, room)),
                    Style::default().fg(Color::DarkGray),
                ));
            }
        }
        let mut line = Line::from(spans);
        if Some(i) == sel {
            line = line.style(Style::default().add_modifier(Modifier::REVERSED));
        }
        lines.push(line);
    }
    if rows.is_empty() {
        lines.push(Line::from(Span::styled(
            "no Pods yet: press n",
            Style::default().fg(Color::DarkGray),
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

pub(super) fn transcript(app: &mut App, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Transcript;
    let flags = app.flags;
    let name = app.selected.clone();
    let Some(view) = app.selected.as_ref().and_then(|n| app.views.get_mut(n)) else {
        let b = block(Line::from(" Transcript "), focused);
        let inner = b.inner(area);
        frame.render_widget(b, area);
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(
                "select a Pod in the tree",
                Style::default().fg(Color::DarkGray),
            ))),
            inner,
        );
        return;
    };
    let mut title = vec![Span::raw(format!(
        " {} ",
        name.as_ref().map_or("", |n| n.as_str())
    ))];
    if !view.scroll.is_following() {
        title.push(Span::styled(
            "↑ scrolled (G: bottom) ",
            Style::default().fg(Color::Yellow),
        ));
    }
    let b = block(Line::from(title), focused);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    app.viewport_height = inner.height;
    let lines = visible_lines(
        view.transcript.entries_mut(),
        &mut view.scroll,
        inner.width,
        inner.height,
        flags,
    );
    if lines.is_empty() {
        let hint = match view.loaded {
            crate::pod_view::Loaded::Yes => "no messages yet",
            _ => "loading…",
        };
        frame.render_widget(
            Paragraph::new(Span::styled(hint, Style::default().fg(Color::DarkGray))),
            inner,
        );
        return;
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

pub(super) fn composer(app: &mut App, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Composer;
    let mut title = match &app.selected {
        Some(n) => {
            format!(" message {n} · Enter send · Shift-Enter newline · / commands · @ files ")
        }
        None => " message ".to_string(),
    };
    let attached = app.composer.attachments();
    if !attached.is_empty() {
        let names: Vec<String> = attached
            .iter()
            .map(|a| match a {
                crate::Attachment::File { path } | crate::Attachment::Image { path } => {
                    path.file_name().map_or(path.display().to_string(), |f| {
                        f.to_string_lossy().into_owned()
                    })
                }
            })
            .collect();
        title = format!(" message · attached: {} ", names.join(", "));
    }
    let b = block(Line::from(title), focused);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let (row, col) = app.composer.cursor();
    let h = usize::from(inner.height.max(1));
    let first = row.saturating_sub(h - 1);
    if app.composer.is_empty() && !focused {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "Tab or i to write",
                Style::default().fg(Color::DarkGray),
            )),
            inner,
        );
        return;
    }
    // Horizontal scroll keeps the cursor on screen on long lines.
    let line = &app.composer.lines()[row];
    let before: String = line.chars().take(col).collect();
    let cursor_x = before.width();
    let w = usize::from(inner.width.max(1));
    let x_off = cursor_x.saturating_sub(w - 1);
    let lines: Vec<Line> = app
        .composer
        .lines()
        .iter()
        .skip(first)
        .take(h)
        .map(|l| Line::from(l.as_str()))
        .collect();
    frame.render_widget(Paragraph::new(lines).scroll((0, x_off as u16)), inner);
    if focused && app.overlay_is_none() {
        frame.set_cursor_position(Position {
            x: inner.x + (cursor_x - x_off) as u16,
            y: inner.y + (row - first) as u16,
        });
    }
}

pub(super) fn status(app: &mut App, frame: &mut Frame, area: Rect) {
    let sep = Span::styled(" │ ", Style::default().fg(Color::DarkGray));
    let mut spans = Vec::new();
    if let Some(name) = app.selected.clone() {
        let state = app.display_state(&name);
        let (icon, color) = state_icon(state);
        let view = app.views.get(&name);
        let model = view
            .and_then(|v| v.status.as_ref().map(|s| s.model.clone()))
            .filter(|m| !m.is_empty())
            .or_else(|| app.tree.get(&name).map(|p| p.model.clone()))
            .unwrap_or_default();
        spans.push(Span::styled(
            format!(" {name}"),
            Style::default().add_modifier(Modifier::BOLD),
        ));
        // A narrow screen keeps the meters and leaves the model to /status.
        if area.width >= 120 {
            spans.push(sep.clone());
            spans.push(Span::raw(if model.is_empty() {
                "model ?".to_string()
            } else {
                model.clone()
            }));
        }
        spans.push(sep.clone());
        let mut st = format!("{icon} {}", state.label());
        if state == DisplayState::Running {
            if let Some(since) = view.and_then(|v| v.running_since) {
                let secs = app.meters.now().saturating_duration_since(since).as_secs();
                st.push_str(&format!(" {}", meters::elapsed(secs)));
            }
            st.push_str(" · Ctrl-C interrupts");
        }
        spans.push(Span::styled(st, Style::default().fg(color)));
        // A message is news: it goes before the meters, which a narrow screen
        // may cut.
        if let Some(m) = &app.message {
            spans.push(sep.clone());
            spans.push(Span::styled(m.clone(), Style::default().fg(Color::Yellow)));
        }
        if let Some(v) = view {
            let window = app
                .meters
                .window(v.status.as_ref().and_then(|s| s.context_window), &model);
            spans.push(sep.clone());
            spans.push(Span::raw(meters::context_label(
                v.transcript.context_tokens(),
                window,
            )));
            spans.push(sep.clone());
            spans.push(Span::raw(usage_label(app, &name, &model)));
            if let Some(q) = v
                .status
                .as_ref()
                .map(|s| s.queued_inputs)
                .filter(|&q| q > 0)
            {
                spans.push(sep.clone());
                spans.push(Span::raw(format!("{q} queued")));
            }
        }
    }
    if app.follow_running {
        spans.push(sep.clone());
        spans.push(Span::styled("follow", Style::default().fg(Color::Cyan)));
    }
    if let Some(m) = app.message.as_ref().filter(|_| app.selected.is_none()) {
        spans.push(sep.clone());
        spans.push(Span::styled(m.clone(), Style::default().fg(Color::Yellow)));
    } else if let Some(p) = app.tree.problems.first().filter(|_| app.message.is_none()) {
        spans.push(sep.clone());
        spans.push(Span::styled(p.clone(), Style::default().fg(Color::Red)));
    }
    spans.push(Span::styled(
        "  w work · ? help",
        Style::default().fg(Color::DarkGray),
    ));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A Pod's session usage: the status report's when connected (it knows the
/// whole session), else what the transcript saw.
pub(super) fn usage_of(app: &App, name: &PodName) -> Option<(transcript::Usage, String)> {
    let v = app.views.get(name)?;
    let usage = v
        .status
        .as_ref()
        .map(|s| s.usage)
        .unwrap_or_else(|| v.transcript.session_usage());
    let model = v
        .status
        .as_ref()
        .map(|s| s.model.clone())
        .filter(|m| !m.is_empty())
        .or_else(|| app.tree.get(name).map(|p| p.model.clone()))
        .unwrap_or_default();
    Some((usage, model))
}

/// `in 30.6k · out 1.1k · $0.21 · tree $0.40`: money where prices are configured,
/// tokens always. The input figure counts cached tokens, like the turn separator.
pub(super) fn usage_label(app: &App, name: &PodName, model: &str) -> String {
    let Some((usage, _)) = usage_of(app, name) else {
        return String::new();
    };
    let mut s = format!(
        "in {} · out {}",
        tokens(meters::input_total(&usage)),
        tokens(usage.output_tokens)
    );
    if let Some(c) = app.meters.cost(model, &usage) {
        s.push_str(&format!(" · {}", app.meters.money(c)));
    }
    // The whole tree this Pod belongs to (its root and every descendant).
    let mut root = name.clone();
    while let Some(p) = app.tree.get(&root).and_then(|i| i.parent.clone()) {
        if app.tree.get(&p).is_none() || p == *name {
            break;
        }
        root = p;
    }
    let members: Vec<PodName> = app
        .tree
        .rows()
        .iter()
        .skip_while(|r| r.name != root)
        .enumerate()
        .take_while(|(i, r)| *i == 0 || r.depth > 0)
        .map(|(_, r)| r.name.clone())
        .collect();
    if members.len() > 1 {
        let mut total = 0.0;
        let mut priced = true;
        let mut toks = 0;
        for m in &members {
            if let Some((u, model)) = usage_of(app, m) {
                toks += meters::input_total(&u) + u.output_tokens;
                match app.meters.cost(&model, &u) {
                    Some(c) => total += c,
                    None => priced = false,
                }
            }
        }
        if priced {
            s.push_str(&format!(" · tree {}", app.meters.money(total)));
        } else {
            s.push_str(&format!(" · tree {} tokens", tokens(toks)));
        }
    }
    s
}
