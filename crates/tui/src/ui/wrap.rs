//! Word wrapping of styled text to a width.
//!
//! Hand-written rather than `textwrap` because we wrap *styled spans* and need the
//! resulting line count up front (ratatui's `Paragraph` wraps internally and only
//! reports line counts behind an unstable feature); the renderer caches the wrapped
//! lines per entry, so wrapping runs once per entry and width.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// A logical line: styled pieces plus the prefix for its first and following rows.
#[derive(Debug, Clone, Default)]
pub struct Logical {
    /// Prefix of the first row (bullet, quote bar, gutter).
    pub first_prefix: Vec<Span<'static>>,
    /// Prefix of continuation rows (usually the first prefix's width in spaces).
    pub rest_prefix: Vec<Span<'static>>,
    /// Content.
    pub spans: Vec<(String, Style)>,
}

impl Logical {
    /// A line of one styled piece with no prefix.
    pub fn plain(text: impl Into<String>, style: Style) -> Logical {
        Logical {
            spans: vec![(text.into(), style)],
            ..Default::default()
        }
    }

    /// A line with the same prefix on every row.
    pub fn prefixed(prefix: Span<'static>, spans: Vec<(String, Style)>) -> Logical {
        Logical {
            first_prefix: vec![prefix.clone()],
            rest_prefix: vec![prefix],
            spans,
        }
    }
}

fn prefix_width(p: &[Span<'static>]) -> usize {
    p.iter().map(|s| s.width()).sum()
}

/// Wraps `logical` to `width` columns, breaking at spaces where possible and inside
/// words only when a word is longer than a row.
pub fn wrap(logical: Logical, width: u16, out: &mut Vec<Line<'static>>) {
    let width = usize::from(width.max(1));
    let mut row: Vec<Span<'static>> = logical.first_prefix.clone();
    let mut col = prefix_width(&logical.first_prefix);
    let rest_w = prefix_width(&logical.rest_prefix);
    let mut cur = String::new();
    let mut cur_style = Style::default();
    // The last space position on this row: (index into row spans incl. cur, byte
    // offset in that span's text) is complex with styled spans; instead we break
    // at word granularity: words are pushed whole when they fit.
    let flush_cur = |row: &mut Vec<Span<'static>>, cur: &mut String, style: Style| {
        if !cur.is_empty() {
            row.push(Span::styled(std::mem::take(cur), style));
        }
    };
    let mut emitted_any = false;
    for (text, style) in logical.spans {
        // Control characters have no cell width (a tab would misalign the grid,
        // an escape could drive the terminal): tabs become spaces, others go.
        let text = if text.chars().any(char::is_control) {
            text.chars()
                .filter_map(|c| match c {
                    '\t' => Some("    ".to_string()),
                    c if c.is_control() => None,
                    c => Some(c.to_string()),
                })
                .collect()
        } else {
            text
        };
        if style != cur_style {
            flush_cur(&mut row, &mut cur, cur_style);
            cur_style = style;
        }
        for word in split_keep_spaces(&text) {
            let w: usize = word.chars().map(|c| c.width().unwrap_or(0)).sum();
            let is_space = word.starts_with(' ');
            if col + w <= width {
                cur.push_str(word);
                col += w;
                continue;
            }
            if is_space {
                // A space at the break point is dropped.
                flush_cur(&mut row, &mut cur, cur_style);
                out.push(Line::from(std::mem::take(&mut row)));
                emitted_any = true;
                row = logical.rest_prefix.clone();
                col = rest_w;
                continue;
            }
            // Word does not fit: new row if this row has content beyond the prefix.
            let row_has_content = col
                > if emitted_any {
                    rest_w
                } else {
                    prefix_width(&logical.first_prefix)
                };
            if row_has_content && w <= width.saturating_sub(rest_w) {
                flush_cur(&mut row, &mut cur, cur_style);
                trim_end(&mut row);
                out.push(Line::from(std::mem::take(&mut row)));
                emitted_any = true;
                row = logical.rest_prefix.clone();
                col = rest_w;
                cur.push_str(word);
                col += w;
                continue;
            }
            // Hard-break a long word character by character.
            for ch in word.chars() {
                let cw = ch.width().unwrap_or(0);
                if col + cw > width && col > rest_w {
                    flush_cur(&mut row, &mut cur, cur_style);
                    out.push(Line::from(std::mem::take(&mut row)));
                    emitted_any = true;
                    row = logical.rest_prefix.clone();
                    col = rest_w;
                }
                cur.push(ch);
                col += cw;
            }
        }
    }
    flush_cur(&mut row, &mut cur, cur_style);
    out.push(Line::from(row));
}

/// Drops trailing spaces of a finished row (the space before a wrapped word).
fn trim_end(row: &mut [Span<'static>]) {
    if let Some(last) = row.last_mut() {
        let t = last.content.trim_end_matches(' ');
        if t.len() != last.content.len() {
            last.content = t.to_string().into();
        }
    }
}

/// Splits into alternating runs of spaces and non-spaces, keeping both.
fn split_keep_spaces(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = s;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let space = rest.starts_with(' ');
        let end = rest
            .find(|c: char| (c == ' ') != space)
            .unwrap_or(rest.len());
        let (a, b) = rest.split_at(end);
        rest = b;
        Some(a)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line<'static>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn wraps_at_spaces_and_breaks_long_words() {
        let mut out = Vec::new();
        wrap(
            Logical::plain("hello world this is long", Style::default()),
            11,
            &mut out,
        );
        assert_eq!(text(&out), vec!["hello world", "this is", "long"]);
        let mut out = Vec::new();
        wrap(Logical::plain("abcdefghij", Style::default()), 4, &mut out);
        assert_eq!(text(&out), vec!["abcd", "efgh", "ij"]);
        let mut out = Vec::new();
        wrap(
            Logical::plain("a\tb\u{1b}[2J", Style::default()),
            40,
            &mut out,
        );
        assert_eq!(
            text(&out),
            vec!["a    b[2J"],
            "tabs expand, escapes are dropped"
        );
    }

    #[test]
    fn continuation_rows_get_the_rest_prefix() {
        let mut out = Vec::new();
        let l = Logical {
            first_prefix: vec![Span::raw("- ")],
            rest_prefix: vec![Span::raw("  ")],
            spans: vec![("one two three".into(), Style::default())],
        };
        wrap(l, 9, &mut out);
        assert_eq!(text(&out), vec!["- one two", "  three"]);
    }
}
