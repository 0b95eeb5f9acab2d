//! Markdown (assistant text) to styled, wrapped lines, via pulldown-cmark.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use super::highlight;
use super::table::Table;
use super::wrap::{Logical, wrap};

struct Builder {
    out: Vec<Logical>,
    cur: Logical,
    styles: Vec<Style>,
    /// One entry per open list: the next number (ordered) or None (bullets).
    lists: Vec<Option<u64>>,
    quote_depth: usize,
    code: Option<String>,
    pending_item_marker: Option<String>,
    /// The table being collected (cells gather inline text instead of lines).
    table: Option<Table>,
    /// Destinations of the open links, shown after the link text.
    links: Vec<String>,
}

impl Builder {
    fn style(&self) -> Style {
        self.styles.last().copied().unwrap_or_default()
    }

    fn push_style(&mut self, f: impl FnOnce(Style) -> Style) {
        let s = f(self.style());
        self.styles.push(s);
    }

    fn indent(&self) -> String {
        "  ".repeat(self.lists.len().saturating_sub(1))
    }

    fn prefixes(&mut self) -> (Vec<Span<'static>>, Vec<Span<'static>>) {
        let quote = "│ ".repeat(self.quote_depth);
        let indent = self.indent();
        let qstyle = Style::default().fg(Color::DarkGray);
        match self.pending_item_marker.take() {
            Some(marker) => {
                let pad = " ".repeat(marker.chars().count());
                (
                    vec![
                        Span::styled(quote.clone(), qstyle),
                        Span::raw(format!("{indent}{marker}")),
                    ],
                    vec![
                        Span::styled(quote, qstyle),
                        Span::raw(format!("{indent}{pad}")),
                    ],
                )
            }
            None => {
                let ind = if self.lists.is_empty() {
                    String::new()
                } else {
                    format!("{indent}  ")
                };
                let p = vec![Span::styled(quote, qstyle), Span::raw(ind)];
                (p.clone(), p)
            }
        }
    }

    fn text(&mut self, s: &str) {
        let st = self.style();
        if let Some(t) = &mut self.table {
            if let Some(cell) = t.rows.last_mut().and_then(|r| r.last_mut()) {
                cell.push((s.to_string(), st));
            }
            return;
        }
        if self.cur.spans.is_empty() && self.cur.first_prefix.is_empty() {
            let (f, r) = self.prefixes();
            self.cur.first_prefix = f;
            self.cur.rest_prefix = r;
        }
        let st = self.style();
        self.cur.spans.push((s.to_string(), st));
    }

    /// Whether the current line's text ends with `s` (an autolink's text is its
    /// address already).
    fn cur_text_ends_with(&self, s: &str) -> bool {
        let text: String = match &self.table {
            Some(t) => t
                .rows
                .last()
                .and_then(|r| r.last())
                .map(|c| c.iter().map(|(t, _)| t.as_str()).collect())
                .unwrap_or_default(),
            None => self.cur.spans.iter().map(|(t, _)| t.as_str()).collect(),
        };
        text.ends_with(s) || text.ends_with(s.trim_start_matches("mailto:"))
    }

    fn end_line(&mut self) {
        if !self.cur.spans.is_empty() || self.pending_item_marker.is_some() {
            if self.cur.first_prefix.is_empty() {
                let (f, r) = self.prefixes();
                self.cur.first_prefix = f;
                self.cur.rest_prefix = r;
            }
            self.out.push(std::mem::take(&mut self.cur));
        }
    }

    fn blank(&mut self) {
        self.end_line();
        if self.lists.is_empty() && self.out.last().is_some_and(|l| !l.spans.is_empty()) {
            self.out.push(Logical::default());
        }
    }
}

/// Colour of one line of a unified diff.
pub fn diff_style(line: &str) -> Style {
    if line.starts_with("+++") || line.starts_with("---") {
        Style::default().add_modifier(Modifier::BOLD)
    } else if line.starts_with('+') {
        Style::default().fg(Color::Green)
    } else if line.starts_with('-') {
        Style::default().fg(Color::Red)
    } else if line.starts_with("@@") {
        Style::default().fg(Color::Cyan)
    } else {
        Style::default()
    }
}

/// Renders markdown `text` to lines of at most `width` columns.
pub fn render_markdown(text: &str, width: u16, out: &mut Vec<Line<'static>>) {
    let mut b = Builder {
        out: Vec::new(),
        cur: Logical::default(),
        styles: vec![Style::default()],
        lists: Vec::new(),
        quote_depth: 0,
        code: None,
        pending_item_marker: None,
        table: None,
        links: Vec::new(),
    };
    let opts = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS;
    for ev in Parser::new_ext(text, opts) {
        match ev {
            Event::Start(tag) => match tag {
                Tag::Heading { level, .. } => {
                    b.blank();
                    // The level stays visible as its `#` marks (colour alone does
                    // not survive a monochrome terminal or a copy).
                    let (color, extra) = match level {
                        HeadingLevel::H1 => (Color::LightCyan, Modifier::UNDERLINED),
                        HeadingLevel::H2 => (Color::Cyan, Modifier::empty()),
                        _ => (Color::Blue, Modifier::empty()),
                    };
                    let marks = format!("{} ", "#".repeat(level as usize));
                    b.push_style(|s| s.fg(color).add_modifier(Modifier::BOLD));
                    b.text(&marks);
                    b.styles.pop();
                    b.push_style(|s| s.fg(color).add_modifier(Modifier::BOLD | extra));
                }
                Tag::Emphasis => b.push_style(|s| s.add_modifier(Modifier::ITALIC)),
                Tag::Strong => b.push_style(|s| s.add_modifier(Modifier::BOLD)),
                Tag::Strikethrough => b.push_style(|s| s.add_modifier(Modifier::CROSSED_OUT)),
                Tag::Link { dest_url, .. } => {
                    b.links.push(dest_url.to_string());
                    b.push_style(|s| s.fg(Color::Blue).add_modifier(Modifier::UNDERLINED))
                }
                Tag::Table(aligns) => {
                    b.end_line();
                    b.table = Some(Table {
                        aligns,
                        ..Default::default()
                    });
                }
                Tag::TableHead | Tag::TableRow => {
                    if let Some(t) = &mut b.table {
                        t.rows.push(Vec::new());
                    }
                }
                Tag::TableCell => {
                    if let Some(row) = b.table.as_mut().and_then(|t| t.rows.last_mut()) {
                        row.push(Vec::new());
                    }
                }
                Tag::BlockQuote(_) => {
                    b.end_line();
                    b.quote_depth += 1;
                }
                Tag::List(start) => {
                    b.end_line();
                    b.lists.push(start);
                }
                Tag::Item => {
                    b.end_line();
                    let marker = match b.lists.last_mut() {
                        Some(Some(n)) => {
                            let m = format!("{n}. ");
                            *n += 1;
                            m
                        }
                        _ => "• ".to_string(),
                    };
                    b.pending_item_marker = Some(marker);
                }
                Tag::CodeBlock(kind) => {
                    b.end_line();
                    let lang = match kind {
                        CodeBlockKind::Fenced(info) => {
                            info.split_whitespace().next().unwrap_or("").to_string()
                        }
                        CodeBlockKind::Indented => String::new(),
                    };
                    let label = if lang.is_empty() { "code" } else { &lang };
                    b.out.push(Logical::plain(
                        format!("┌─ {label}"),
                        Style::default()
                            .fg(Color::DarkGray)
                            .add_modifier(Modifier::ITALIC),
                    ));
                    b.code = Some(lang);
                }
                _ => {}
            },
            Event::End(tag) => match tag {
                TagEnd::Heading(_) => {
                    b.styles.pop();
                    b.blank();
                }
                TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => {
                    b.styles.pop();
                }
                TagEnd::Link => {
                    b.styles.pop();
                    // The address is kept: a terminal cannot follow a styled word.
                    if let Some(url) = b.links.pop()
                        && !url.is_empty()
                        && !b.cur_text_ends_with(&url)
                    {
                        b.push_style(|_| Style::default().fg(Color::DarkGray));
                        b.text(&format!(" ({url})"));
                        b.styles.pop();
                    }
                }
                TagEnd::Table => {
                    if let Some(t) = b.table.take() {
                        b.out.extend(t.render(width));
                    }
                    b.blank();
                }
                TagEnd::TableHead => {
                    if let Some(t) = &mut b.table {
                        t.header_rows = t.rows.len();
                    }
                }
                TagEnd::Paragraph => b.blank(),
                TagEnd::BlockQuote(_) => {
                    b.end_line();
                    b.quote_depth = b.quote_depth.saturating_sub(1);
                }
                TagEnd::List(_) => {
                    b.end_line();
                    b.lists.pop();
                    if b.lists.is_empty() {
                        b.blank();
                    }
                }
                TagEnd::Item => b.end_line(),
                TagEnd::CodeBlock => {
                    b.code = None;
                    b.blank();
                }
                _ => {}
            },
            Event::Text(t) => {
                if let Some(lang) = b.code.clone() {
                    let gutter = Span::styled("│ ", Style::default().fg(Color::DarkGray));
                    let diff = matches!(lang.as_str(), "diff" | "patch");
                    for line in t.lines() {
                        let spans = if diff {
                            vec![(line.to_string(), diff_style(line))]
                        } else {
                            highlight::highlight_line(line, &lang)
                        };
                        b.out.push(Logical::prefixed(gutter.clone(), spans));
                    }
                } else {
                    b.text(&t);
                }
            }
            Event::Code(t) => {
                b.push_style(|s| s.fg(Color::Yellow));
                b.text(&t);
                b.styles.pop();
            }
            Event::SoftBreak => b.text(" "),
            Event::HardBreak => b.end_line(),
            Event::Rule => {
                b.end_line();
                b.out.push(Logical::plain(
                    "─".repeat(usize::from(width.min(40))),
                    Style::default().fg(Color::DarkGray),
                ));
            }
            Event::TaskListMarker(done) => b.text(if done { "[x] " } else { "[ ] " }),
            Event::Html(t) | Event::InlineHtml(t) => b.text(&t),
            Event::InlineMath(t) | Event::DisplayMath(t) => b.text(&t),
            Event::FootnoteReference(t) => b.text(&format!("[{t}]")),
        }
    }
    b.end_line();
    while b.out.last().is_some_and(|l| l.spans.is_empty()) {
        b.out.pop();
    }
    for l in b.out {
        wrap(l, width, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(md: &str, width: u16) -> Vec<String> {
        let mut out = Vec::new();
        render_markdown(md, width, &mut out);
        out.iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn renders_lists_code_and_paragraphs() {
        let md = "# Title\n\nSome *text* here.\n\n- one\n- two\n\n```rust\nfn x() {}\n```\n";
        assert_eq!(
            text(md, 40),
            vec![
                "# Title",
                "",
                "Some text here.",
                "",
                "• one",
                "• two",
                "",
                "┌─ rust",
                "│ fn x() {}",
            ]
        );
    }

    #[test]
    fn tables_get_borders_links_keep_their_address_headings_their_level() {
        let md = "## Sub\n\n| a | long header |\n|---|--:|\n| x | 1 |\n\nSee [docs](https://e.x/d) or <https://e.x>.";
        assert_eq!(
            text(md, 40),
            vec![
                "## Sub",
                "",
                "┌───┬─────────────┐",
                "│ a │ long header │",
                "├───┼─────────────┤",
                "│ x │           1 │",
                "└───┴─────────────┘",
                "",
                "See docs (https://e.x/d) or https://e.x.",
            ]
        );
        // Too narrow for the natural widths: cells wrap, nothing is cut.
        let narrow = text("| aaaa bbbb | c |\n|---|---|\n| d | e |", 12);
        assert!(narrow.iter().all(|l| l.chars().count() <= 12), "{narrow:?}");
        assert!(narrow.concat().contains("aaaa") && narrow.concat().contains("bbbb"));
    }

    #[test]
    fn wraps_paragraphs_to_width() {
        let lines = text("aaa bbb ccc ddd", 8);
        assert_eq!(lines, vec!["aaa bbb", "ccc ddd"]);
    }
}
