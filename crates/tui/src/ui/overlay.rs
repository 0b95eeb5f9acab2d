//! Modal overlays: help, new-Pod form, stop confirmation.

use pod_ids::PodName;
use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use crate::form::{FIELDS, NewPodForm};
use crate::keys::KEYS;

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn modal(frame: &mut Frame, r: Rect, title: &str) -> Rect {
    let b = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(Style::default().fg(Color::Cyan))
        .title(format!(" {title} "));
    let inner = b.inner(r);
    frame.render_widget(Clear, r);
    frame.render_widget(b, r);
    inner
}

pub(super) fn help(frame: &mut Frame, area: Rect) {
    let key_w = KEYS.iter().map(|(_, k, _)| k.width()).max().unwrap_or(10);
    let mut lines = Vec::new();
    let mut ctx = "";
    for (c, k, what) in KEYS {
        if *c != ctx {
            if !ctx.is_empty() {
                lines.push(Line::default());
            }
            ctx = c;
            lines.push(Line::from(Span::styled(
                c.to_string(),
                Style::default()
                    .fg(Color::Cyan)
                    .add_modifier(Modifier::BOLD),
            )));
        }
        lines.push(Line::from(vec![
            Span::styled(
                format!("  {k:<key_w$}  "),
                Style::default().fg(Color::Yellow),
            ),
            Span::raw(what.to_string()),
        ]));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        "any key closes this help",
        Style::default().fg(Color::DarkGray),
    )));
    let width = lines.iter().map(|l| l.width()).max().unwrap_or(40) as u16 + 4;
    let r = centered(area, width, lines.len() as u16 + 2);
    let inner = modal(frame, r, "Keys");
    frame.render_widget(Paragraph::new(lines), inner);
}

pub(super) fn new_pod(form: &NewPodForm, frame: &mut Frame, area: Rect) {
    let r = centered(area, 60, 11);
    let inner = modal(frame, r, "New Pod");
    let hints = [
        "lowercase letters, digits, . _ -",
        "empty: the configured default",
        "paths, comma-separated; empty: read-only",
    ];
    let mut lines = Vec::new();
    let mut cursor = None;
    for (i, label) in FIELDS.iter().enumerate() {
        let focused = form.focus == i;
        let style = if focused {
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        let prefix = format!("{:>12}: ", label);
        if focused {
            cursor = Some((
                (prefix.width() + form.values[i].width()) as u16,
                lines.len() as u16,
            ));
        }
        lines.push(Line::from(vec![
            Span::styled(prefix, style),
            Span::raw(form.values[i].clone()),
        ]));
        lines.push(Line::from(Span::styled(
            format!("{:>14}{}", "", hints[i]),
            Style::default().fg(Color::DarkGray),
        )));
    }
    lines.push(Line::default());
    match &form.error {
        Some(e) => lines.push(Line::from(Span::styled(
            e.clone(),
            Style::default().fg(Color::Red),
        ))),
        None => lines.push(Line::from(Span::styled(
            "Enter: start · Tab: next field · Esc: cancel",
            Style::default().fg(Color::DarkGray),
        ))),
    }
    frame.render_widget(Paragraph::new(lines), inner);
    if let Some((x, y)) = cursor {
        frame.set_cursor_position(Position {
            x: (inner.x + x).min(inner.right().saturating_sub(1)),
            y: inner.y + y,
        });
    }
}

pub(super) fn confirm_stop(name: &PodName, frame: &mut Frame, area: Rect) {
    let r = centered(area, 50, 5);
    let inner = modal(frame, r, "Stop");
    let lines = vec![
        Line::from(format!("Stop Pod {name}? Its children stop too.")),
        Line::from(Span::styled(
            "y / Enter: stop · n / Esc: cancel",
            Style::default().fg(Color::DarkGray),
        )),
    ];
    frame.render_widget(Paragraph::new(lines), inner);
}
