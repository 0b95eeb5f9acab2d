//! The four panes: tree, transcript, composer, status line.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::entry_lines::tokens;
use super::viewport::visible_lines;
use crate::app::{App, DisplayState, Focus};

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
fn state_icon(s: DisplayState) -> (&'static str, Color) {
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
    let mut lines = Vec::new();
    for (i, row) in rows.iter().enumerate().skip(first).take(h) {
        let state = app.display_state(&row.name);
        let (icon, color) = state_icon(state);
        let unread = app.views.get(&row.name).is_some_and(|v| v.unread);
        let info = app.tree.get(&row.name);
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
        if unread {
            spans.push(Span::styled(
                " *",
                Style::default()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
            ));
        }
        let used: usize = spans.iter().map(|s| s.content.width()).sum();
        let room = usize::from(inner.width).saturating_sub(used + 1);
        let detail = format!(
            "{} {}",
            state.label(),
            info.map_or("", |p| p.write_short.as_str())
        );
        if room > 3 {
            let d: String = detail.chars().take(room).collect();
            spans.push(Span::raw(
                " ".repeat(usize::from(inner.width) - used - d.width()),
            ));
            spans.push(Span::styled(d, Style::default().fg(Color::DarkGray)));
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
    let title = match &app.selected {
        Some(n) => format!(" message {n} · Enter send · Shift-Enter newline "),
        None => " message ".to_string(),
    };
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

/// Context window of well-known model families, for the `ctx used/limit` display.
/// The protocol does not report a limit; an unknown model shows `?`.
fn context_limit(model: &str) -> Option<u64> {
    let m = model.to_ascii_lowercase();
    let table: &[(&str, u64)] = &[
        ("claude", 200_000),
        ("gpt-4.1", 1_000_000),
        ("gpt-4o", 128_000),
        ("gpt-5", 400_000),
        ("o3", 200_000),
        ("o4", 200_000),
        ("gemini", 1_000_000),
    ];
    table
        .iter()
        .find(|(p, _)| m.starts_with(p))
        .map(|(_, l)| *l)
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
        spans.push(sep.clone());
        spans.push(Span::raw(if model.is_empty() {
            "model ?".to_string()
        } else {
            model.clone()
        }));
        spans.push(sep.clone());
        spans.push(Span::styled(
            format!("{icon} {}", state.label()),
            Style::default().fg(color),
        ));
        if let Some(v) = view {
            let ctx = v.transcript.context_tokens();
            let limit = context_limit(&model).map_or("?".to_string(), tokens);
            let usage = v
                .status
                .as_ref()
                .map(|s| s.usage)
                .unwrap_or_else(|| v.transcript.session_usage());
            spans.push(sep.clone());
            spans.push(Span::raw(format!("ctx {}/{limit}", tokens(ctx))));
            spans.push(sep.clone());
            spans.push(Span::raw(format!(
                "tokens {} in · {} out",
                tokens(usage.input_tokens + usage.cache_read_tokens),
                tokens(usage.output_tokens)
            )));
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
    if let Some(m) = &app.message {
        spans.push(sep.clone());
        spans.push(Span::styled(m.clone(), Style::default().fg(Color::Yellow)));
    } else if let Some(p) = app.tree.problems.first() {
        spans.push(sep.clone());
        spans.push(Span::styled(p.clone(), Style::default().fg(Color::Red)));
    }
    spans.push(Span::styled(
        "  ? help",
        Style::default().fg(Color::DarkGray),
    ));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
