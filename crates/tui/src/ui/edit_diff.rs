//! The diff of an `edit_file` / `write_file` call: line numbers, up to three lines
//! of context, syntax colour.
//!
//! The call's arguments hold the replaced and the new text but not where they are
//! in the file; `edit_file`'s result does: it quotes the edited region with line
//! numbers (`{:>6}\t{line}`, the tool's own format) and a few lines around it. The
//! number of the first new line is found there, the context lines are taken from
//! there, and the body is a line diff of old against new (`similar`).

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::highlight::highlight_line;
use super::wrap::Logical;

/// Lines of unchanged text shown around a change.
pub const CONTEXT: usize = 3;

/// One row of a rendered diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffRow {
    /// Line number in the file (`None`: unknown).
    pub number: Option<usize>,
    /// `'+'`, `'-'` or `' '`.
    pub sign: char,
    /// The line's text.
    pub text: String,
}

/// The numbered lines quoted in an `edit_file` result.
fn quoted_lines(output: &str) -> Vec<(usize, &str)> {
    output
        .lines()
        .filter_map(|l| {
            let (n, text) = l.split_once('\t')?;
            Some((n.trim().parse().ok()?, text))
        })
        .collect()
}

/// `(old, new)` texts of an edit-like call (`old` empty for a whole-file write).
pub fn edit_texts(args: &serde_json::Map<String, Value>) -> Option<(String, String)> {
    let get = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_string);
    for (old, new) in [
        ("old_string", "new_string"),
        ("old", "new"),
        ("old_text", "new_text"),
        ("search", "replace"),
    ] {
        if let (Some(o), Some(n)) = (get(old), get(new)) {
            return Some((o, n));
        }
    }
    get("content").map(|c| (String::new(), c))
}

/// The rows of the diff of `old` → `new`, numbered and with context where the
/// tool's `output` says where the edit landed.
pub fn diff_rows(old: &str, new: &str, output: Option<&str>) -> Vec<DiffRow> {
    let quoted = output.map(quoted_lines).unwrap_or_default();
    let new_first = new.lines().next();
    // A write (no old text) starts at line 1; an edit starts where its first new
    // line is quoted (for a pure deletion: after the leading context).
    let start = if old.is_empty() {
        Some(1)
    } else {
        match new_first {
            Some(first) => quoted.iter().find(|(_, t)| *t == first).map(|(n, _)| *n),
            None => quoted
                .first()
                .map(|(n, _)| n + CONTEXT.min(quoted.len() / 2)),
        }
    };
    let mut rows = Vec::new();
    if let Some(start) = start {
        let before: Vec<&(usize, &str)> = quoted.iter().filter(|(n, _)| *n < start).collect();
        for (n, t) in before.iter().rev().take(CONTEXT).rev() {
            rows.push(DiffRow {
                number: Some(*n),
                sign: ' ',
                text: t.to_string(),
            });
        }
    }
    let diff = TextDiff::from_lines(old, new);
    for change in diff.iter_all_changes() {
        let (sign, idx) = match change.tag() {
            ChangeTag::Delete => ('-', change.old_index()),
            ChangeTag::Insert => ('+', change.new_index()),
            ChangeTag::Equal => (' ', change.new_index()),
        };
        rows.push(DiffRow {
            number: start.zip(idx).map(|(s, i)| s + i),
            sign,
            text: change.value().trim_end_matches(['\n', '\r']).to_string(),
        });
    }
    if let Some(start) = start
        && !old.is_empty()
    {
        let last_new = start + new.lines().count();
        for (n, t) in quoted.iter().filter(|(n, _)| *n >= last_new).take(CONTEXT) {
            rows.push(DiffRow {
                number: Some(*n),
                sign: ' ',
                text: t.to_string(),
            });
        }
    }
    rows
}

/// The language of a path, for colouring (its extension).
pub fn lang_of(path: &str) -> &str {
    path.rsplit_once('.').map_or("", |(_, ext)| ext)
}

/// Styled logical lines of `rows`: `  12 + code` with the sign coloured, the code
/// highlighted, changed lines tinted.
pub fn styled(rows: &[DiffRow], lang: &str, gutter: &Span<'static>) -> Vec<Logical> {
    let width = rows
        .iter()
        .filter_map(|r| r.number)
        .max()
        .map_or(0, |n| n.to_string().len());
    rows.iter()
        .map(|r| {
            let (sign_style, tint) = match r.sign {
                '+' => (
                    Style::default().fg(Color::Green),
                    Some(Color::Rgb(18, 48, 18)),
                ),
                '-' => (
                    Style::default().fg(Color::Red),
                    Some(Color::Rgb(58, 18, 18)),
                ),
                _ => (Style::default().fg(Color::DarkGray), None),
            };
            let number = match r.number {
                Some(n) if width > 0 => format!("{n:>width$} "),
                _ if width > 0 => " ".repeat(width + 1),
                _ => String::new(),
            };
            let mut spans = vec![
                (number, Style::default().fg(Color::DarkGray)),
                (
                    format!("{} ", r.sign),
                    sign_style.add_modifier(Modifier::BOLD),
                ),
            ];
            for (text, mut st) in highlight_line(&r.text, lang) {
                if let Some(bg) = tint {
                    st = st.bg(bg);
                }
                if r.sign == ' ' {
                    st = st.add_modifier(Modifier::DIM);
                }
                spans.push((text, st));
            }
            Logical::prefixed(gutter.clone(), spans)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(rows: &[DiffRow]) -> Vec<String> {
        rows.iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r.number.map_or("?".into(), |n| n.to_string()),
                    r.sign,
                    r.text
                )
            })
            .collect()
    }

    #[test]
    fn an_edit_is_numbered_from_the_quoted_region_with_context() {
        let output = "Edited /p/a.rs: replaced 1 occurrence. Lines 7-14 now read:\n     7\tl7\n     8\tl8\n     9\tl9\n    10\tnew a\n    11\tnew b\n    12\tl12\n    13\tl13\n    14\tl14\n";
        let rows = diff_rows("old a\nnew b", "new a\nnew b", Some(output));
        assert_eq!(
            show(&rows),
            [
                "7   l7",
                "8   l8",
                "9   l9",
                "10 - old a",
                "10 + new a",
                "11   new b",
                "12   l12",
                "13   l13",
                "14   l14"
            ]
        );
    }

    #[test]
    fn a_write_is_numbered_from_one_and_unknown_places_have_no_numbers() {
        let rows = diff_rows("", "a\nb", Some("Created /p/x (3 bytes, 2 lines)"));
        assert_eq!(show(&rows), ["1 + a", "2 + b"]);
        let rows = diff_rows("x", "y", None);
        assert_eq!(show(&rows), ["? - x", "? + y"]);
    }
}
