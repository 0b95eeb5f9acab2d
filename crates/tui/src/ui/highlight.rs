//! Syntax colouring for fenced code blocks.
//!
//! Decision: a small lexical highlighter (comments, strings, numbers, keywords of
//! the common languages) instead of `syntect`/`two-face`. Syntect needs either
//! Oniguruma (a C build) or fancy-regex plus multi-megabyte syntax dumps; on the
//! 2-core build machine that is minutes of compile time and megabytes of binary for
//! colouring that, in a dashboard, only has to make code blocks readable. The output
//! of this module is cached per entry like all rendered lines, so its speed is
//! irrelevant; only its correctness on odd input (never panics, never loses text)
//! matters, and the tests check that.

use ratatui::style::{Color, Modifier, Style};

const KEYWORDS: &[&str] = &[
    // Rust
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "Self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while", // Python / JS / Go / shell extras
    "def",
    "class",
    "import",
    "from",
    "lambda",
    "None",
    "True",
    "False",
    "elif",
    "with",
    "yield",
    "function",
    "var",
    "null",
    "undefined",
    "new",
    "this",
    "export",
    "package",
    "func",
    "go",
    "defer",
    "chan",
    "interface",
    "then",
    "fi",
    "do",
    "done",
    "esac",
    "case",
    "echo",
    "try",
    "catch",
    "finally",
    "raise",
    "except",
    "pass",
    "not",
    "and",
    "or",
    "is",
];

/// Style of keywords.
fn keyword() -> Style {
    Style::default().fg(Color::Magenta)
}
fn string() -> Style {
    Style::default().fg(Color::Green)
}
fn comment() -> Style {
    Style::default()
        .fg(Color::DarkGray)
        .add_modifier(Modifier::ITALIC)
}
fn number() -> Style {
    Style::default().fg(Color::Yellow)
}
/// Style of code text that is nothing special.
pub fn plain() -> Style {
    Style::default().fg(Color::Cyan)
}

/// Whether `lang` uses `#` comments.
fn hash_comments(lang: &str) -> bool {
    matches!(
        lang,
        "py" | "python" | "sh" | "bash" | "shell" | "zsh" | "toml" | "yaml" | "yml" | "ruby" | "rb"
    )
}

/// Colours one line of code in language `lang` (the fence's info string).
pub fn highlight_line(line: &str, lang: &str) -> Vec<(String, Style)> {
    let hash = hash_comments(lang);
    let mut out: Vec<(String, Style)> = Vec::new();
    let mut push = |s: &str, st: Style| {
        if s.is_empty() {
            return;
        }
        match out.last_mut() {
            Some((t, last)) if *last == st => t.push_str(s),
            _ => out.push((s.to_string(), st)),
        }
    };
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < line.len() {
        let rest = &line[i..];
        if rest.starts_with("//")
            || (hash && rest.starts_with('#'))
            || rest.starts_with("--") && lang == "sql"
        {
            push(rest, comment());
            break;
        }
        let c = bytes[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            // A string runs to the matching quote (skipping escapes) or line end.
            let mut j = i + 1;
            while j < line.len() {
                if bytes[j] == b'\\' {
                    j += 2;
                    continue;
                }
                if bytes[j] == c {
                    j += 1;
                    break;
                }
                j += 1;
            }
            let j = j.min(line.len());
            // Apostrophes in Rust lifetimes (`'a`) would swallow the line; accept it:
            // colour only, never text, is at stake.
            let end = next_boundary(line, j);
            push(&line[i..end], string());
            i = end;
            continue;
        }
        if c.is_ascii_digit() {
            let end = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '.' || ch == '_'))
                .map_or(line.len(), |e| i + e);
            push(&line[i..end], number());
            i = end;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let end = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .map_or(line.len(), |e| i + e);
            let word = &line[i..end];
            let st = if KEYWORDS.contains(&word) {
                keyword()
            } else {
                plain()
            };
            push(word, st);
            i = end;
            continue;
        }
        let end = next_boundary(line, i + 1);
        push(&line[i..end], plain());
        i = end;
    }
    out
}

/// The first char boundary at or after `i` (so slicing never splits a character).
fn next_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i.min(s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(v: &[(String, Style)]) -> String {
        v.iter().map(|(s, _)| s.as_str()).collect()
    }

    #[test]
    fn never_loses_text_and_colours_the_parts() {
        for (line, lang) in [
            ("fn main() { let x = \"hé\\\"llo\"; } // done", "rust"),
            ("x = 'unterminated", "python"),
            ("# comment ünïcode", "sh"),
            ("日本語 42.5 'a", "rust"),
            ("", "rust"),
        ] {
            let out = highlight_line(line, lang);
            assert_eq!(joined(&out), line);
        }
        let out = highlight_line("fn x // c", "rust");
        assert_eq!(out[0], ("fn".to_string(), keyword()));
        assert_eq!(out.last().map(|p| p.1), Some(comment()));
    }
}
