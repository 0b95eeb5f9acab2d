//! The composer's lists (commands, `@` picker, history search), drawn just above
//! the composer over the bottom of the panes.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use crate::app::{App, Popup};
use crate::completion::{LIST_ROWS, items};

/// `s` cut to `w` columns with `…` when longer.
pub(super) fn fit(s: &str, w: usize) -> String {
    if s.width() <= w {
        return s.to_string();
    }
    let mut out = String::new();
    for c in s.chars() {
        if out.width() + c.to_string().width() + 1 > w {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

pub(super) fn render(app: &App, frame: &mut Frame, main: Rect, composer: Rect) {
    let (selected, title) = match &app.popup {
        Popup::None => return,
        Popup::Slash { selected } => (
            *selected,
            " commands · Enter run · Tab complete ".to_string(),
        ),
        Popup::Mention { selected } => (
            *selected,
            " @ files and children · Tab/Enter take ".to_string(),
        ),
        Popup::History {
            query, selected, ..
        } => (
            *selected,
            format!(" history search: {query}▏ · Ctrl-R older · Enter take "),
        ),
    };
    let items = items(app);
    let rows = items.len().clamp(1, LIST_ROWS);
    let height = (rows as u16 + 2).min(main.height);
    let area = Rect {
        x: composer.x,
        y: composer.y.saturating_sub(height),
        width: composer.width,
        height,
    };
    let b = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(Style::default().fg(Color::Cyan))
        .title(title);
    let inner = b.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(b, area);
    // Keep the highlighted row visible.
    let first = selected.saturating_sub(rows - 1);
    let label_w = items
        .iter()
        .map(|i| i.label.width())
        .max()
        .unwrap_or(0)
        .min(usize::from(inner.width) * 2 / 3);
    let mut lines = Vec::new();
    if items.is_empty() {
        lines.push(Line::from(Span::styled(
            match app.popup {
                Popup::Slash { .. } => "no such command",
                Popup::History { .. } => "no past input matches",
                _ => "no match",
            },
            Style::default().fg(Color::DarkGray),
        )));
    }
    for (i, item) in items.iter().enumerate().skip(first).take(rows) {
        let label = fit(&item.label, label_w.max(1));
        let pad = " ".repeat(label_w.saturating_sub(label.width()) + 2);
        let room = usize::from(inner.width).saturating_sub(label_w + 2);
        let mut line = Line::from(vec![
            Span::styled(label, Style::default().fg(Color::White)),
            Span::raw(pad),
            Span::styled(
                fit(&item.detail, room),
                Style::default().fg(Color::DarkGray),
            ),
        ]);
        if i == selected {
            line = line.style(
                Style::default()
                    .bg(Color::Blue)
                    .add_modifier(Modifier::BOLD),
            );
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
