//! The composer: a multi-line input with history.
//!
//! Hand-written instead of `tui-textarea` because that crate tracks its own ratatui
//! version (it lagged 0.30 when this was written) and we need only insert, delete,
//! cursor moves, paste and history.

use std::path::PathBuf;

/// A file sent along with a message; the Pod reads it (and checks its scope)
/// itself. Same shape as the protocol's `send_input.attachments` items.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Attachment {
    /// A text file the model sees as a reference (path plus content, capped).
    File {
        /// Path (relative paths are relative to the Pod's cwd).
        path: PathBuf,
    },
    /// An image the model looks at.
    Image {
        /// Path.
        path: PathBuf,
    },
}

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
    /// Files attached to the next message (`/image`, pasted images).
    attachments: Vec<Attachment>,
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

    /// Attaches a file to the next message (once).
    pub fn attach(&mut self, a: Attachment) {
        if !self.attachments.contains(&a) {
            self.attachments.push(a);
        }
    }

    /// The attachments of the next message.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    /// Takes the attachments out (for sending).
    pub fn take_attachments(&mut self) -> Vec<Attachment> {
        std::mem::take(&mut self.attachments)
    }

    /// The inputs sent from this composer, oldest first.
    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// The word the cursor is in or just after: `(column where it starts, word)`.
    pub fn current_word(&self) -> (usize, String) {
        let line = self.lines.get(self.row).map_or("", String::as_str);
        let before: Vec<char> = line.chars().take(self.col).collect();
        let start = before
            .iter()
            .rposition(|c| c.is_whitespace())
            .map_or(0, |i| i + 1);
        (start, before[start..].iter().collect())
    }

    /// Replaces the word at the cursor (see [`Composer::current_word`]) with `with`.
    pub fn replace_current_word(&mut self, with: &str) {
        self.ensure();
        let (start, _) = self.current_word();
        let line = &mut self.lines[self.row];
        let a = byte_at(line, start);
        let b = byte_at(line, self.col);
        line.replace_range(a..b, with);
        self.col = start + with.chars().count();
    }

    /// Clears the text and attachments (not recorded in history).
    pub fn clear(&mut self) {
        self.lines = vec![String::new()];
        self.row = 0;
        self.col = 0;
        self.attachments.clear();
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
    fn the_word_at_the_cursor_is_replaced() {
        let mut c = Composer::new();
        c.insert_str("look at @src/li");
        assert_eq!(c.current_word(), (8, "@src/li".to_string()));
        c.replace_current_word("@src/lib.rs ");
        assert_eq!(c.text(), "look at @src/lib.rs ");
        assert_eq!(c.cursor(), (0, 20));
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
