//! Modal overlays: help, new-Pod form, stop confirmation.

use pod_ids::PodName;
use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use crate::app::App;
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

pub(super) fn modal(frame: &mut Frame, r: Rect, title: &str) -> Rect {
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
        "commands (type in the composer)",
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD),
    )));
    for c in crate::slash::COMMANDS {
        let name = format!("/{} {}", c.name, c.args);
        lines.push(Line::from(vec![
            Span::styled(
                format!("  {name:<key_w$}  "),
                Style::default().fg(Color::Yellow),
            ),
            Span::raw(c.what.to_string()),
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
    let r = centered(area, 76, FIELDS.len() as u16 * 2 + 5);
    let inner = modal(frame, r, "New Pod");
    let label_w = 11;
    let mut lines = Vec::new();
    let mut cursor = None;
    for (i, (label, hint)) in FIELDS.iter().enumerate() {
        let focused = form.focus == i;
        let style = if focused {
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        let prefix = format!("{label:>label_w$}: ");
        let room = usize::from(inner.width).saturating_sub(prefix.width() + 1);
        // Long values show their end (where the cursor is).
        let value = super::panes::shorten_left(&form.values[i], room);
        if focused {
            cursor = Some(((prefix.width() + value.width()) as u16, lines.len() as u16));
        }
        lines.push(Line::from(vec![
            Span::styled(prefix, style),
            Span::raw(value),
        ]));
        // The write field says what it will do, not only what it takes.
        let hint = if i == crate::form::WRITE {
            format!("comma-separated → {}", form.write_effect())
        } else {
            hint.to_string()
        };
        lines.push(Line::from(Span::styled(
            format!("{:>w$}{hint}", "", w = label_w + 2),
            Style::default().fg(Color::DarkGray),
        )));
    }
    lines.push(Line::default());
    match &form.error {
        Some(e) => {
            for l in e.lines() {
                lines.push(Line::from(Span::styled(
                    l.to_string(),
                    Style::default().fg(Color::Red),
                )));
            }
        }
        None => lines.push(Line::from(Span::styled(
            "Enter: start · Tab: next field · Ctrl-U: clear field · Esc: cancel",
            Style::default().fg(Color::DarkGray),
        ))),
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }),
        inner,
    );
    if let Some((x, y)) = cursor {
        frame.set_cursor_position(Position {
            x: (inner.x + x).min(inner.right().saturating_sub(1)),
            y: inner.y + y,
        });
    }
}

/// `/status` and `/model`: everything the meters know about the selected Pod.
pub(super) fn status(app: &App, frame: &mut Frame, area: Rect) {
    let Some(name) = app.selected.clone() else {
        return;
    };
    let view = app.views.get(&name);
    let st = view.and_then(|v| v.status.as_ref());
    let info = app.tree.get(&name);
    let model = st
        .map(|s| s.model.clone())
        .filter(|m| !m.is_empty())
        .or_else(|| info.map(|p| p.model.clone()))
        .unwrap_or_default();
    let state = app.display_state(&name);
    let window = app.meters.window(st.and_then(|s| s.context_window), &model);
    let ctx = view.map_or(0, |v| v.transcript.context_tokens());
    let mut rows: Vec<(&str, String)> = vec![
        ("Pod", name.to_string()),
        ("State", state.label().to_string()),
        (
            "Model",
            if model.is_empty() {
                "?".into()
            } else {
                model.clone()
            },
        ),
        ("Context", crate::meters::context_label(ctx, window)),
        ("Usage", super::panes::usage_label(app, &name, &model)),
    ];
    match app.meters.price(&model) {
        Some(p) => rows.push((
            "Price",
            format!(
                "{} in · {} out per million tokens",
                app.meters.money(p.input),
                app.meters.money(p.output)
            ),
        )),
        None => rows.push(("Price", "not configured ([prices] in config.toml)".into())),
    }
    if let Some(s) = st {
        rows.push(("Turns", s.turns.to_string()));
        rows.push(("Pid", s.pid.to_string()));
        rows.push(("Segment", s.segment_id.to_string()));
        let writes: Vec<String> = s
            .scope
            .write_rules()
            .map(|r| r.path.as_path().display().to_string())
            .collect();
        rows.push((
            "Write",
            if writes.is_empty() {
                "read-only".into()
            } else {
                writes.join(", ")
            },
        ));
    }
    if let Some(cwd) = info.and_then(|i| i.cwd.as_ref()) {
        rows.push(("Directory", cwd.display().to_string()));
    }
    let lines: Vec<Line> = rows
        .into_iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k:>10}  "), Style::default().fg(Color::Cyan)),
                Span::raw(v),
            ])
        })
        .chain([
            Line::default(),
            Line::from(Span::styled(
                "Esc closes",
                Style::default().fg(Color::DarkGray),
            )),
        ])
        .collect();
    let width = lines.iter().map(|l| l.width()).max().unwrap_or(40) as u16 + 4;
    let r = centered(area, width, lines.len() as u16 + 2);
    let inner = modal(frame, r, "Status");
    frame.render_widget(Paragraph::new(lines), inner);
}

/// `/diff`: a text, scrollable; diff lines coloured.
pub(super) fn view(title: &str, text: Option<&str>, scroll: usize, frame: &mut Frame, area: Rect) {
    let r = Rect {
        x: area.x + 1,
        y: area.y + 1,
        width: area.width.saturating_sub(2),
        height: area.height.saturating_sub(2),
    };
    let inner = modal(
        frame,
        r,
        &format!("{title} · ↑↓ PgUp/PgDn scroll · Esc close"),
    );
    let Some(text) = text else {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "reading…",
                Style::default().fg(Color::DarkGray),
            )),
            inner,
        );
        return;
    };
    let text = if text.trim().is_empty() {
        "no changes"
    } else {
        text
    };
    let lines: Vec<Line> = text
        .lines()
        .skip(scroll)
        .take(usize::from(inner.height))
        .map(|l| {
            let l = l.replace('\t', "    ");
            let style = super::markdown::diff_style(&l);
            Line::from(Span::styled(l, style))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
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
