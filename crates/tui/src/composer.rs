//! The composer: a multi-line input with history.
//!
//! Hand-written instead of `tui-textarea` because that crate tracks its own ratatui
//! version (it lagged 0.30 when this was written) and we need only insert, delete,
//! cursor moves, paste and history.

/// Multi-line text input. The cursor is `(row, col)` in characters.
#[derive(Debug, Clone, Default)]
pub struct Composer {
    lines: Vec<String>,
    row: usize,
    col: usize,
    history: Vec<String>,
    /// Index into `history` while browsing it (`None`: editing a fresh draft).
    browsing: Option<usize>,
    /// The draft put aside while browsing history.
    draft: Option<String>,
}

fn byte_at(s: &str, col: usize) -> usize {
    s.char_indices().nth(col).map_or(s.len(), |(i, _)| i)
}

impl Composer {
    /// An empty composer.
    pub fn new() -> Composer {
        Composer {
            lines: vec![String::new()],
            ..Default::default()
        }
    }

    fn ensure(&mut self) {
        if self.lines.is_empty() {
            self.lines.push(String::new());
        }
    }

    /// The text.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// The lines.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// Cursor `(row, col)` in characters.
    pub fn cursor(&self) -> (usize, usize) {
        (self.row, self.col)
    }

    /// Whether there is no text.
    pub fn is_empty(&self) -> bool {
        self.lines.iter().all(|l| l.is_empty())
    }

    /// Replaces the text, cursor at the end.
    pub fn set_text(&mut self, text: &str) {
        self.lines = text.split('\n').map(str::to_string).collect();
        self.ensure();
        self.row = self.lines.len() - 1;
        self.col = self.lines[self.row].chars().count();
    }

    /// Takes the text out (for sending) and records it in the history.
    pub fn take(&mut self) -> String {
        let text = self.text();
        if !text.trim().is_empty() && self.history.last() != Some(&text) {
            self.history.push(text.clone());
        }
        self.lines = vec![String::new()];
        self.row = 0;
        self.col = 0;
        self.browsing = None;
        self.draft = None;
        text
    }

    /// Clears the text (not recorded in history).
    pub fn clear(&mut self) {
        self.lines = vec![String::new()];
        self.row = 0;
        self.col = 0;
    }

    /// Inserts one character.
    pub fn insert_char(&mut self, c: char) {
        self.ensure();
        let line = &mut self.lines[self.row];
        let at = byte_at(line, self.col);
        line.insert(at, c);
        self.col += 1;
    }

    /// Splits the line at the cursor.
    pub fn newline(&mut self) {
        self.ensure();
        let line = &mut self.lines[self.row];
        let at = byte_at(line, self.col);
        let rest = line.split_off(at);
        self.lines.insert(self.row + 1, rest);
        self.row += 1;
        self.col = 0;
    }

    /// Inserts pasted text; `\r\n` and `\r` become newlines, tabs four spaces.
    pub fn insert_str(&mut self, s: &str) {
        let norm = s.replace("\r\n", "\n").replace('\r', "\n");
        for c in norm.chars() {
            match c {
                '\n' => self.newline(),
                '\t' => (0..4).for_each(|_| self.insert_char(' ')),
                c if c.is_control() => {}
                c => self.insert_char(c),
            }
        }
    }

    /// Deletes the character before the cursor (joining lines at column 0).
    pub fn backspace(&mut self) {
        self.ensure();
        if self.col > 0 {
            let line = &mut self.lines[self.row];
            let at = byte_at(line, self.col - 1);
            line.remove(at);
            self.col -= 1;
        } else if self.row > 0 {
            let line = self.lines.remove(self.row);
            self.row -= 1;
            self.col = self.lines[self.row].chars().count();
            self.lines[self.row].push_str(&line);
        }
    }

    /// Deletes the character under the cursor.
    pub fn delete(&mut self) {
        self.ensure();
        let len = self.lines[self.row].chars().count();
        if self.col < len {
            let line = &mut self.lines[self.row];
            let at = byte_at(line, self.col);
            line.remove(at);
        } else if self.row + 1 < self.lines.len() {
            let next = self.lines.remove(self.row + 1);
            self.lines[self.row].push_str(&next);
        }
    }

    /// Cursor left.
    pub fn left(&mut self) {
        if self.col > 0 {
            self.col -= 1;
        } else if self.row > 0 {
            self.row -= 1;
            self.col = self.lines[self.row].chars().count();
        }
    }

    /// Cursor right.
    pub fn right(&mut self) {
        let len = self.lines.get(self.row).map_or(0, |l| l.chars().count());
        if self.col < len {
            self.col += 1;
        } else if self.row + 1 < self.lines.len() {
            self.row += 1;
            self.col = 0;
        }
    }

    /// Start of line.
    pub fn home(&mut self) {
        self.col = 0;
    }

    /// End of line.
    pub fn end(&mut self) {
        self.col = self.lines.get(self.row).map_or(0, |l| l.chars().count());
    }

    /// Up: previous line, or at the first line the previous history entry.
    pub fn up(&mut self) {
        if self.row > 0 {
            self.row -= 1;
            self.clamp_col();
            return;
        }
        let next = match self.browsing {
            None if !self.history.is_empty() => self.history.len() - 1,
            Some(i) if i > 0 => i - 1,
            _ => return,
        };
        if self.browsing.is_none() {
            self.draft = Some(self.text());
        }
        self.browsing = Some(next);
        let text = self.history[next].clone();
        self.set_text(&text);
    }

    /// Down: next line, or at the last line the next history entry (then the draft).
    pub fn down(&mut self) {
        if self.row + 1 < self.lines.len() {
            self.row += 1;
            self.clamp_col();
            return;
        }
        let Some(i) = self.browsing else { return };
        if i + 1 < self.history.len() {
            self.browsing = Some(i + 1);
            let text = self.history[i + 1].clone();
            self.set_text(&text);
        } else {
            self.browsing = None;
            let draft = self.draft.take().unwrap_or_default();
            self.set_text(&draft);
        }
    }

    fn clamp_col(&mut self) {
        self.col = self.col.min(self.lines[self.row].chars().count());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editing_multiline_and_paste() {
        let mut c = Composer::new();
        c.insert_str("héllo\r\nwörld");
        assert_eq!(c.text(), "héllo\nwörld");
        assert_eq!(c.cursor(), (1, 5));
        c.home();
        c.backspace();
        assert_eq!(c.text(), "héllowörld");
        c.newline();
        c.left();
        c.delete();
        assert_eq!(c.text(), "héllowörld");
    }

    #[test]
    fn history_browses_and_restores_the_draft() {
        let mut c = Composer::new();
        c.insert_str("first");
        assert_eq!(c.take(), "first");
        c.insert_str("second");
        c.take();
        c.insert_str("draft");
        c.up();
        assert_eq!(c.text(), "second");
        c.up();
        assert_eq!(c.text(), "first");
        c.up();
        assert_eq!(c.text(), "first");
        c.down();
        c.down();
        assert_eq!(c.text(), "draft");
    }
}
