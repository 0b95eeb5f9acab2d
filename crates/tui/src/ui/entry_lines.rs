//! One transcript entry to styled lines (the unit that is cached).

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use serde_json::Value;

use super::ViewFlags;
use super::edit_diff;
use super::markdown::render_markdown;
use super::wrap::{Logical, wrap};
use crate::transcript_model::{EntryKind, NoticeKind, ToolEntry, ToolStatus};

/// Diff rows shown for an edit while tool details are collapsed (room for the
/// context above a change and the change itself).
const DIFF_PREVIEW: usize = 10;
/// Diff rows shown when tool details are expanded.
const DIFF_EXPANDED: usize = 400;
/// Output lines shown when tool details are expanded.
const OUTPUT_EXPANDED: usize = 40;

fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

/// Renders one entry at `width` with the view toggles `flags`.
pub fn render_entry(kind: &EntryKind, width: u16, flags: ViewFlags) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    match kind {
        EntryKind::User(text) => {
            let you = Style::default()
                .fg(Color::Green)
                .add_modifier(Modifier::BOLD);
            for (i, line) in text.split('\n').enumerate() {
                let prefix = if i == 0 { "› " } else { "  " };
                wrap(
                    Logical {
                        first_prefix: vec![Span::styled(prefix, you)],
                        rest_prefix: vec![Span::raw("  ")],
                        spans: vec![(line.to_string(), Style::default().fg(Color::White))],
                    },
                    width,
                    &mut out,
                );
            }
            out.push(Line::default());
        }
        EntryKind::Assistant { text, streaming } => {
            render_markdown(text, width, &mut out);
            if *streaming {
                match out.last_mut() {
                    Some(l) => l
                        .spans
                        .push(Span::styled("▍", Style::default().fg(Color::Gray))),
                    None => out.push(Line::from(Span::styled("▍", dim()))),
                }
            }
            out.push(Line::default());
        }
        EntryKind::Reasoning { text, streaming } => {
            let style = dim().add_modifier(Modifier::ITALIC);
            let words = text.split_whitespace().count();
            let state = if *streaming { "thinking…" } else { "thought" };
            if flags.reasoning {
                out.push(Line::from(Span::styled(format!("▾ {state}"), style)));
                for line in text.lines() {
                    wrap(
                        Logical::prefixed(Span::styled("  ", style), vec![(line.into(), style)]),
                        width,
                        &mut out,
                    );
                }
            } else {
                out.push(Line::from(Span::styled(
                    format!("▸ {state} ({words} words, t to expand)"),
                    style,
                )));
            }
            out.push(Line::default());
        }
        EntryKind::Tool(t) => render_tool(t, width, flags, &mut out),
        EntryKind::Notice { text, kind } => {
            let (label, color) = match kind {
                NoticeKind::Child => ("child", Color::Yellow),
                NoticeKind::Reclaim => ("reclaim", Color::Magenta),
                NoticeKind::Other => ("notice", Color::Blue),
            };
            let bar = Span::styled("┃ ", Style::default().fg(color));
            let head = Style::default().fg(color).add_modifier(Modifier::BOLD);
            if !flags.tools {
                // Collapsed: one readable line (`e` shows the text the model got).
                let line = notice_line(text);
                let room = usize::from(width).saturating_sub(4 + label.len());
                let mut short: String = line.chars().take(room).collect();
                if line.chars().count() > room {
                    short.pop();
                    short.push('…');
                }
                out.push(Line::from(vec![
                    bar,
                    Span::styled(format!("◆ {label} "), head),
                    Span::styled(short, Style::default().fg(color)),
                ]));
                out.push(Line::default());
                return out;
            }
            out.push(Line::from(vec![
                bar.clone(),
                Span::styled(format!("◆ {label}"), head),
            ]));
            for line in text.lines() {
                wrap(
                    Logical::prefixed(bar.clone(), vec![(line.into(), Style::default().fg(color))]),
                    width,
                    &mut out,
                );
            }
            out.push(Line::default());
        }
        EntryKind::TurnEnd { turn, usage } => {
            // The same input figure as the status line: every prompt token,
            // cached ones included (their share follows).
            let mut label = format!(
                " turn {turn} · in {} · out {}",
                tokens(crate::meters::input_total(usage)),
                tokens(usage.output_tokens)
            );
            if usage.cache_read_tokens > 0 {
                label.push_str(&format!(" · {} cached", tokens(usage.cache_read_tokens)));
            }
            label.push(' ');
            let w = usize::from(width);
            let used = label.chars().count();
            let left = 2.min(w.saturating_sub(used));
            let right = w.saturating_sub(used + left);
            out.push(Line::from(Span::styled(
                format!("{}{label}{}", "─".repeat(left), "─".repeat(right)),
                dim(),
            )));
            out.push(Line::default());
        }
        EntryKind::RunError { error, cancelled } => {
            let (text, color) = if *cancelled {
                (
                    format!(
                        "⏹ run interrupted{}",
                        if error.is_empty() {
                            String::new()
                        } else {
                            format!(": {error}")
                        }
                    ),
                    Color::Yellow,
                )
            } else {
                (format!("✗ run failed: {error}"), Color::Red)
            };
            wrap(
                Logical::plain(text, Style::default().fg(color)),
                width,
                &mut out,
            );
            out.push(Line::default());
        }
        EntryKind::Client(text) => {
            wrap(
                Logical::plain(format!("· {text}"), dim().add_modifier(Modifier::ITALIC)),
                width,
                &mut out,
            );
            out.push(Line::default());
        }
    }
    out
}

/// A runtime notice as one line. Notices start with a machine tag
/// (`child_finished{name: w}: …`); the tag becomes words and the answer or
/// error is what follows.
pub fn notice_line(text: &str) -> String {
    let parsed = text.split_once('{').and_then(|(kind, rest)| {
        let (attrs, body) = rest.split_once("}: ")?;
        let valid = !kind.is_empty() && kind.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        valid.then_some((kind, attrs, body))
    });
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some((kind, attrs, body)) = parsed else {
        return flat(text);
    };
    let attr = |key: &str| {
        attrs.split(", ").find_map(|kv| {
            kv.strip_prefix(key)
                .and_then(|v| v.strip_prefix(": "))
                .map(|v| v.trim_matches('"').to_string())
        })
    };
    let name = attr("name").unwrap_or_default();
    match kind {
        "child_finished" => {
            let answer = body.split_once("Its answer:").map_or(body, |(_, a)| a);
            format!("{name} finished: {}", flat(answer))
        }
        "child_errored" => {
            let err = body.split_once("failed:").map_or(body, |(_, e)| e);
            format!("{name} failed: {}", flat(err))
        }
        "child_exited" => format!(
            "{name} exited ({}): {}",
            attr("reason").unwrap_or_default(),
            flat(body.split_once("; ").map_or(body, |(_, r)| r))
        ),
        "child_lost" => format!("{name} was lost: {}", flat(body)),
        _ => format!("{}: {}", kind.replace('_', " "), flat(body)),
    }
}

/// `12`, `1.2k`, `3.4M`.
pub fn tokens(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 if n.is_multiple_of(1_000) => format!("{}k", n / 1_000),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// `120ms`, `1.2s`, `2m03s`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1e3),
        _ => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
    }
}

/// The argument that best says what a call does.
fn summary(t: &ToolEntry, args: Option<&serde_json::Map<String, Value>>) -> String {
    let Some(args) = args else {
        return t.arguments.chars().take(80).collect();
    };
    for key in [
        "path",
        "file_path",
        "command",
        "cmd",
        "pattern",
        "query",
        "name",
        "url",
    ] {
        if let Some(v) = args.get(key).and_then(Value::as_str) {
            let first = v.lines().next().unwrap_or("");
            return first.to_string();
        }
    }
    let s = serde_json::to_string(args).unwrap_or_default();
    s.chars().take(80).collect()
}

fn render_tool(t: &ToolEntry, width: u16, flags: ViewFlags, out: &mut Vec<Line<'static>>) {
    let args: Option<serde_json::Map<String, Value>> = serde_json::from_str(&t.arguments).ok();
    let (icon, color) = match t.status {
        ToolStatus::Requested => ("○", Color::DarkGray),
        ToolStatus::Running => ("◐", Color::Cyan),
        ToolStatus::Done => ("✓", Color::Green),
        ToolStatus::Failed => ("✗", Color::Red),
    };
    let mut header = vec![
        (format!("{icon} "), Style::default().fg(color)),
        (
            t.name.clone(),
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        ),
        (format!(" {}", summary(t, args.as_ref())), Style::default()),
    ];
    let status = match (t.status, t.duration_ms) {
        (ToolStatus::Running, _) => " running".to_string(),
        (ToolStatus::Requested, _) => " queued".to_string(),
        (_, Some(ms)) => format!(" {}", duration(ms)),
        (_, None) => String::new(),
    };
    header.push((status, dim()));
    wrap(
        Logical {
            first_prefix: vec![],
            rest_prefix: vec![Span::raw("  ")],
            spans: header,
        },
        width,
        out,
    );
    let gutter = Span::styled("  │ ", dim());
    if let Some((old, new)) = args.as_ref().and_then(edit_diff::edit_texts) {
        let path = summary(t, args.as_ref());
        let rows = edit_diff::diff_rows(&old, &new, t.output.as_deref());
        let total = rows.len();
        let shown = if flags.tools {
            total.min(DIFF_EXPANDED)
        } else {
            total.min(DIFF_PREVIEW)
        };
        for l in edit_diff::styled(&rows[..shown], edit_diff::lang_of(&path), &gutter) {
            wrap(l, width, out);
        }
        if total > shown {
            out.push(Line::from(vec![
                gutter.clone(),
                Span::styled(
                    format!("… {} more lines (e to expand)", total - shown),
                    dim(),
                ),
            ]));
        }
    }
    if let Some(output) = &t.output {
        let style = if t.status == ToolStatus::Failed {
            Style::default().fg(Color::Red)
        } else {
            dim()
        };
        // Tabs (line-numbered file output) have no fixed width in a cell grid.
        let expanded = output.replace('\t', "  ");
        let lines: Vec<&str> = expanded.lines().filter(|l| !l.trim().is_empty()).collect();
        if flags.tools {
            for l in lines.iter().take(OUTPUT_EXPANDED) {
                wrap(
                    Logical::prefixed(gutter.clone(), vec![(l.to_string(), style)]),
                    width,
                    out,
                );
            }
            if lines.len() > OUTPUT_EXPANDED {
                out.push(Line::from(vec![
                    gutter,
                    Span::styled(
                        format!("… {} more lines", lines.len() - OUTPUT_EXPANDED),
                        dim(),
                    ),
                ]));
            }
        } else if let Some(first) = lines.first() {
            // One row: the first line, cut to the width.
            let room = usize::from(width).saturating_sub(6);
            let first = first.trim_start();
            let mut s: String = first.chars().take(room).collect();
            if first.chars().count() > room || lines.len() > 1 {
                s.push('…');
            }
            out.push(Line::from(vec![
                Span::styled("  └ ", dim()),
                Span::styled(s, style),
            ]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_read_as_one_line() {
        assert_eq!(
            notice_line(
                "child_finished{name: worker}: child Pod worker finished its run and is idle (it keeps its scope until you stop it). Its answer:\nAdded 3 tests.\nAll pass."
            ),
            "worker finished: Added 3 tests. All pass."
        );
        assert_eq!(
            notice_line("child_errored{name: w}: child Pod w's run failed: provider said 401"),
            "w failed: provider said 401"
        );
        assert_eq!(
            notice_line(
                "child_exited{name: w, reason: \"killed\"}: child Pod w ended without being stopped; its scope was reclaimed."
            ),
            "w exited (killed): its scope was reclaimed."
        );
        assert_eq!(notice_line("plain text\nmore"), "plain text more");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(tokens(999), "999");
        assert_eq!(tokens(12_345), "12.3k");
        assert_eq!(duration(120), "120ms");
        assert_eq!(duration(1_500), "1.5s");
        assert_eq!(duration(123_000), "2m03s");
    }
}
