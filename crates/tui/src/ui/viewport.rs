//! The transcript viewport: which rendered lines are on screen.
//!
//! Cost invariant (issue 8): work per frame depends on the visible rows, not the
//! transcript length. The position is an anchor `(entry, lines of it hidden below
//! the bottom edge)`, so finding the visible lines walks back from the anchor only
//! until the viewport is full, rendering (or reusing the cached rendering of) just
//! those entries. No total height is ever computed; do not add a scrollbar that
//! needs one without a height index that is updated incrementally.

use ratatui::text::Line;

use super::ViewFlags;
use super::entry_lines::render_entry;
use crate::transcript_model::{Entry, Rendered};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Anchor {
    entry: usize,
    hidden_below: usize,
}

/// Scroll position of one transcript.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scroll {
    /// `None`: follow the bottom (new output scrolls into view).
    anchor: Option<Anchor>,
    /// Lines to move at the next render (negative: up), applied where widths are known.
    pending: i64,
    /// Jump to the top at the next render.
    top: bool,
}

impl Scroll {
    /// Scrolls by `lines` (negative: up).
    pub fn by(&mut self, lines: i32) {
        self.pending += i64::from(lines);
    }

    /// Jumps to the first line.
    pub fn to_top(&mut self) {
        self.top = true;
        self.pending = 0;
    }

    /// Jumps to the bottom and follows new output.
    pub fn to_bottom(&mut self) {
        *self = Scroll::default();
    }

    /// Whether new output scrolls into view.
    pub fn is_following(&self) -> bool {
        self.anchor.is_none() && !self.top && self.pending >= 0
    }
}

/// The entry's lines at this width and flags, rendered only if the cache misses.
fn lines_of(entries: &mut [Entry], i: usize, width: u16, flags: ViewFlags) -> &[Line<'static>] {
    let e = &mut entries[i];
    let fresh = matches!(&e.rendered, Some(r) if r.width == width && r.flags == flags.bits());
    if !fresh {
        e.rendered = Some(Rendered {
            width,
            flags: flags.bits(),
            lines: render_entry(&e.kind, width, flags),
        });
    }
    e.rendered.as_ref().map_or(&[], |r| &r.lines)
}

fn height(entries: &mut [Entry], i: usize, width: u16, flags: ViewFlags) -> usize {
    lines_of(entries, i, width, flags).len()
}

/// Fills the viewport from the first line down; returns the lines and the anchor
/// of its bottom edge.
fn fill_from_top(
    entries: &mut [Entry],
    width: u16,
    rows: usize,
    flags: ViewFlags,
) -> (Vec<Line<'static>>, Option<Anchor>) {
    let mut out = Vec::with_capacity(rows);
    for i in 0..entries.len() {
        let lines = lines_of(entries, i, width, flags);
        let take = (rows - out.len()).min(lines.len());
        out.extend_from_slice(&lines[..take]);
        if out.len() == rows {
            let hidden_below = lines.len() - take;
            let at_end = i + 1 == entries.len() && hidden_below == 0;
            return (
                out,
                (!at_end).then_some(Anchor {
                    entry: i,
                    hidden_below,
                }),
            );
        }
    }
    (out, None)
}

/// The visible lines of `entries` in a viewport of `rows` × `width`, applying and
/// normalising any pending scroll in `scroll`.
pub fn visible_lines(
    entries: &mut [Entry],
    scroll: &mut Scroll,
    width: u16,
    rows: u16,
    flags: ViewFlags,
) -> Vec<Line<'static>> {
    let rows = usize::from(rows);
    if entries.is_empty() || rows == 0 || width == 0 {
        return Vec::new();
    }
    if std::mem::take(&mut scroll.top) {
        let (lines, anchor) = fill_from_top(entries, width, rows, flags);
        scroll.anchor = anchor;
        scroll.pending = 0;
        return lines;
    }
    let last = entries.len() - 1;
    let mut a = scroll.anchor.unwrap_or(Anchor {
        entry: last,
        hidden_below: 0,
    });
    a.entry = a.entry.min(last);
    let mut pending = std::mem::take(&mut scroll.pending);
    // Up: hide more of the anchor entry, moving to earlier entries as they run out.
    while pending < 0 {
        let h = height(entries, a.entry, width, flags);
        let room = h.saturating_sub(a.hidden_below + 1);
        let step = room.min(pending.unsigned_abs() as usize);
        if step > 0 {
            a.hidden_below += step;
            pending += step as i64;
        } else if a.entry == 0 {
            break;
        } else {
            a.entry -= 1;
            a.hidden_below = 0;
            pending += 1;
        }
    }
    // Down: reveal hidden lines, moving to later entries.
    while pending > 0 {
        if a.hidden_below > 0 {
            let step = a.hidden_below.min(pending as usize);
            a.hidden_below -= step;
            pending -= step as i64;
        } else if a.entry < last {
            a.entry += 1;
            let h = height(entries, a.entry, width, flags);
            a.hidden_below = h.saturating_sub(1);
            pending -= 1;
        } else {
            break;
        }
    }
    let following = a.entry == last && a.hidden_below == 0;
    scroll.anchor = (!following).then_some(a);
    // Collect backwards from the anchor until the viewport is full.
    let mut chunks: Vec<&[Line<'static>]> = Vec::new();
    let mut have = 0;
    let mut i = a.entry;
    let mut hidden = a.hidden_below;
    // Two passes because `lines_of` borrows mutably: first make sure the needed
    // entries are rendered and count them, then borrow them all immutably.
    let first_needed = loop {
        let h = height(entries, i, width, flags);
        have += h.saturating_sub(hidden);
        hidden = 0;
        if have >= rows || i == 0 {
            break i;
        }
        i -= 1;
    };
    if have < rows && !following {
        // Scrolled past the top: pin the first line to the top instead.
        let (lines, anchor) = fill_from_top(entries, width, rows, flags);
        scroll.anchor = anchor;
        return lines;
    }
    for (j, e) in entries[first_needed..=a.entry].iter().enumerate() {
        let lines = e.rendered.as_ref().map_or(&[][..], |r| &r.lines[..]);
        if first_needed + j == a.entry {
            chunks.push(&lines[..lines.len().saturating_sub(a.hidden_below)]);
        } else {
            chunks.push(lines);
        }
    }
    let total: usize = chunks.iter().map(|c| c.len()).sum();
    let skip = total.saturating_sub(rows);
    chunks
        .into_iter()
        .flat_map(|c| c.iter())
        .skip(skip)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript_model::{EntryKind, Transcript};

    fn transcript(n: usize) -> Transcript {
        let mut t = Transcript::new();
        for i in 0..n {
            // Client notes render as two lines: the text and a blank.
            t.push(EntryKind::Client(format!("e{i}")));
        }
        t
    }

    fn texts(lines: &[Line<'static>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                l.spans
                    .iter()
                    .map(|s| s.content.as_ref())
                    .collect::<String>()
            })
            .filter(|s| !s.is_empty())
            .collect()
    }

    #[test]
    fn follows_the_bottom_and_scrolls_both_ways() {
        let mut t = transcript(10);
        let mut s = Scroll::default();
        let f = ViewFlags::default();
        let v = visible_lines(t.entries_mut(), &mut s, 20, 4, f);
        assert_eq!(texts(&v), ["· e8", "· e9"]);
        assert!(s.is_following());
        s.by(-2);
        let v = visible_lines(t.entries_mut(), &mut s, 20, 4, f);
        assert_eq!(texts(&v), ["· e7", "· e8"]);
        assert!(!s.is_following());
        // New output does not move a scrolled view.
        t.push(EntryKind::Client("e10".into()));
        let v = visible_lines(t.entries_mut(), &mut s, 20, 4, f);
        assert_eq!(texts(&v), ["· e7", "· e8"]);
        s.by(100);
        let v = visible_lines(t.entries_mut(), &mut s, 20, 4, f);
        assert_eq!(texts(&v), ["· e9", "· e10"]);
        assert!(s.is_following());
    }

    #[test]
    fn top_and_overscroll_pin_the_first_line() {
        let mut t = transcript(10);
        let mut s = Scroll::default();
        let f = ViewFlags::default();
        s.to_top();
        let v = visible_lines(t.entries_mut(), &mut s, 20, 4, f);
        assert_eq!(texts(&v), ["· e0", "· e1"]);
        s.by(-50);
        let v = visible_lines(t.entries_mut(), &mut s, 20, 4, f);
        assert_eq!(texts(&v), ["· e0", "· e1"]);
        s.by(2);
        let v = visible_lines(t.entries_mut(), &mut s, 20, 4, f);
        assert_eq!(texts(&v), ["· e1", "· e2"]);
    }

    #[test]
    fn only_visible_entries_are_rendered() {
        let mut t = transcript(1000);
        let mut s = Scroll::default();
        visible_lines(t.entries_mut(), &mut s, 20, 10, ViewFlags::default());
        let rendered = t.entries().iter().filter(|e| e.rendered.is_some()).count();
        assert!(
            rendered <= 6,
            "rendered {rendered} entries for a 10-row view"
        );
    }
}
