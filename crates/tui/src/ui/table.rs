//! GFM tables as bordered grids that fit the pane.
//!
//! Columns get their natural width when the table fits; otherwise the width is
//! shared out water-filling style (narrow columns keep their width, wide ones split
//! what is left) and cell text wraps inside its column, so no cell text is cut.

use pulldown_cmark::Alignment;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthStr;

use super::wrap::{Logical, wrap};

/// One cell: styled pieces of inline text.
pub type Cell = Vec<(String, Style)>;

/// A table being collected from parser events.
#[derive(Debug, Default)]
pub struct Table {
    /// Column alignments.
    pub aligns: Vec<Alignment>,
    /// Rows; the first `header_rows` are the head.
    pub rows: Vec<Vec<Cell>>,
    /// Rows of the head (0 or 1).
    pub header_rows: usize,
}

fn border() -> Style {
    Style::default().fg(Color::DarkGray)
}

fn cell_width(c: &Cell) -> usize {
    c.iter().map(|(s, _)| s.width()).sum()
}

/// Column widths that fit `avail` columns of text, or `None` when not even one
/// column per cell fits.
fn widths(natural: &[usize], avail: usize) -> Option<Vec<usize>> {
    let n = natural.len();
    if n == 0 || avail < n {
        return None;
    }
    if natural.iter().sum::<usize>() <= avail {
        return Some(natural.to_vec());
    }
    let mut w = vec![0; n];
    let mut open: Vec<usize> = (0..n).collect();
    let mut left = avail;
    // Water filling: a column narrower than the fair share keeps its width; the
    // rest share what remains equally.
    loop {
        let share = left / open.len().max(1);
        let (small, big): (Vec<usize>, Vec<usize>) =
            open.iter().partition(|&&i| natural[i] <= share);
        if small.is_empty() {
            let extra = left - share * big.len();
            for (k, &i) in big.iter().enumerate() {
                w[i] = share + usize::from(k < extra);
            }
            return Some(w.into_iter().map(|x| x.max(1)).collect());
        }
        for &i in &small {
            w[i] = natural[i];
            left -= natural[i];
        }
        open = big;
        if open.is_empty() {
            return Some(w);
        }
    }
}

fn rule(widths: &[usize], l: &str, m: &str, r: &str) -> Logical {
    let mut s = String::from(l);
    for (i, w) in widths.iter().enumerate() {
        s.push_str(&"─".repeat(w + 2));
        s.push_str(if i + 1 == widths.len() { r } else { m });
    }
    Logical::plain(s, border())
}

fn pad(line: Line<'static>, w: usize, align: Alignment) -> Vec<Span<'static>> {
    let used = line.width();
    let gap = w.saturating_sub(used);
    let (before, after) = match align {
        Alignment::Right => (gap, 0),
        Alignment::Center => (gap / 2, gap - gap / 2),
        _ => (0, gap),
    };
    let mut spans = vec![Span::raw(" ".repeat(before + 1))];
    spans.extend(line.spans);
    spans.push(Span::raw(" ".repeat(after + 1)));
    spans
}

impl Table {
    /// The bordered grid as logical lines no wider than `width` (so wrapping
    /// leaves them as they are).
    pub fn render(self, width: u16) -> Vec<Logical> {
        let ncols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut natural = vec![1; ncols];
        for row in &self.rows {
            for (i, c) in row.iter().enumerate() {
                natural[i] = natural[i].max(cell_width(c));
            }
        }
        // Borders and one space of padding each side of every cell.
        let chrome = ncols * 3 + 1;
        let Some(widths) = widths(&natural, usize::from(width).saturating_sub(chrome)) else {
            return self.fallback();
        };
        let mut out = vec![rule(&widths, "┌", "┬", "┐")];
        let nrows = self.rows.len();
        for (r, row) in self.rows.into_iter().enumerate() {
            let head = r < self.header_rows;
            let wrapped: Vec<Vec<Line<'static>>> = (0..ncols)
                .map(|i| {
                    let mut cell = row.get(i).cloned().unwrap_or_default();
                    if head {
                        for (_, st) in &mut cell {
                            *st = st.add_modifier(Modifier::BOLD);
                        }
                    }
                    let mut lines = Vec::new();
                    wrap(
                        Logical {
                            spans: cell,
                            ..Default::default()
                        },
                        widths[i] as u16,
                        &mut lines,
                    );
                    lines
                })
                .collect();
            let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
            for k in 0..height {
                let mut spans = vec![Span::styled("│", border())];
                for (i, lines) in wrapped.iter().enumerate() {
                    let line = lines.get(k).cloned().unwrap_or_default();
                    let align = self.aligns.get(i).copied().unwrap_or(Alignment::None);
                    spans.extend(pad(line, widths[i], align));
                    spans.push(Span::styled("│", border()));
                }
                out.push(Logical {
                    spans: spans
                        .into_iter()
                        .map(|s| (s.content.into_owned(), s.style))
                        .collect(),
                    ..Default::default()
                });
            }
            if head && r + 1 == self.header_rows && r + 1 < nrows {
                out.push(rule(&widths, "├", "┼", "┤"));
            }
        }
        out.push(rule(&widths, "└", "┴", "┘"));
        out
    }

    /// Too narrow for a grid: one `a │ b │ c` line per row (wrapped as text).
    fn fallback(self) -> Vec<Logical> {
        self.rows
            .into_iter()
            .map(|row| {
                let mut spans = Vec::new();
                for (i, cell) in row.into_iter().enumerate() {
                    if i > 0 {
                        spans.push((" │ ".to_string(), border()));
                    }
                    spans.extend(cell);
                }
                Logical {
                    spans,
                    ..Default::default()
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_fit_and_share_fairly() {
        assert_eq!(widths(&[3, 4], 20), Some(vec![3, 4]));
        assert_eq!(widths(&[3, 40, 40], 23), Some(vec![3, 10, 10]));
        assert_eq!(widths(&[3, 3], 1), None);
        let w = widths(&[50, 50, 2], 31).unwrap();
        assert_eq!(w.iter().sum::<usize>(), 31);
    }
}
