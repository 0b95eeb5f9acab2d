//! `thread.md`: the item's append-only history. Each event is a header line
//!
//! ```text
//! <!-- event: review author: reviewer at: 2026-01-02T15:04:05Z verdict: request-changes artifact: artifacts/review.md round: 1 -->
//! ```
//!
//! followed by a Markdown section (a `###` heading and the body) up to the next
//! header. Header values are single tokens (no spaces), so the header needs no
//! quoting rules; a body line that would read as a header is written with one
//! leading space. Unknown event kinds are kept and skipped, never errors, so an
//! older binary can read a newer thread.

use std::collections::BTreeMap;
use std::fmt;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::meta::{Status, check_token};

/// What opens every event header.
pub const HEADER_OPEN: &str = "<!-- event:";
const HEADER_CLOSE: &str = "-->";

/// Roles of a comment.
pub const ROLES: &[&str] = &["comment", "plan", "decision", "implementation_report"];

/// A review's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The change may be merged.
    Approve,
    /// Blocking: the coder must change something first.
    RequestChanges,
}

impl Verdict {
    /// As written in headers and artifacts.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::RequestChanges => "request-changes",
        }
    }

    /// Parses `approve` / `request-changes`.
    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "approve" => Some(Verdict::Approve),
            "request-changes" => Some(Verdict::RequestChanges),
            _ => None,
        }
    }

    /// Whether the verdict blocks a merge.
    pub fn is_blocking(self) -> bool {
        self == Verdict::RequestChanges
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event of a thread.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    /// `create`, `comment`, `review`, `status`, `assign`, `close`, `merge`, or a
    /// kind this version does not know.
    pub kind: String,
    /// Who wrote it (a Pod name or a person).
    pub author: String,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The other header fields (`role`, `verdict`, `artifact`, `round`, `from`, `to`, ...).
    pub fields: BTreeMap<String, String>,
    /// The section's heading (without `###`).
    pub heading: String,
    /// The section's body.
    pub body: String,
    /// 1-based line of the header in `thread.md`.
    pub line: usize,
}

impl Event {
    /// A new event stamped now.
    pub fn new(
        kind: &str,
        author: &str,
        heading: impl Into<String>,
        body: impl Into<String>,
    ) -> Event {
        Event {
            kind: kind.to_owned(),
            author: author.to_owned(),
            at: crate::meta::timestamp(crate::meta::now()),
            fields: BTreeMap::new(),
            heading: heading.into(),
            body: body.into(),
            line: 0,
        }
    }

    /// Adds a header field.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Event {
        self.fields.insert(key.to_owned(), value.into());
        self
    }

    /// A header field.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// The verdict of a review event.
    pub fn verdict(&self) -> Option<Verdict> {
        (self.kind == "review")
            .then(|| self.field("verdict").and_then(Verdict::parse))
            .flatten()
    }

    /// The text appended to `thread.md` for this event (header, heading, body,
    /// blank line).
    pub fn render(&self) -> String {
        let mut out = format!(
            "{HEADER_OPEN} {} author: {} at: {}",
            self.kind, self.author, self.at
        );
        for (k, v) in &self.fields {
            out.push_str(&format!(" {k}: {v}"));
        }
        out.push_str(" -->\n");
        out.push_str(&format!("### {}\n", self.heading.replace('\n', " ")));
        let body = self.body.trim_matches('\n');
        if !body.is_empty() {
            out.push('\n');
            for line in body.lines() {
                // A body line must never read as the next event's header.
                if line.trim_start().starts_with(HEADER_OPEN) {
                    out.push(' ');
                }
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push('\n');
        out
    }
}

/// A problem found while reading a thread.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventProblem {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A parsed thread: the well-formed events and the problems found.
#[derive(Debug, Clone, Default)]
pub struct Thread {
    /// Events in file order (malformed headers are not among them).
    pub events: Vec<Event>,
    /// Malformed headers, text before the first event, a torn last line.
    pub problems: Vec<EventProblem>,
}

impl Thread {
    /// The review events, oldest first.
    pub fn reviews(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(|e| e.kind == "review")
    }

    /// The verdict of the newest review.
    pub fn last_verdict(&self) -> Option<Verdict> {
        self.events
            .iter()
            .rev()
            .find(|e| e.kind == "review")
            .and_then(Event::verdict)
    }
}

/// Parses `thread.md`.
pub fn parse(text: &str) -> Thread {
    let mut t = Thread::default();
    let mut current: Option<Event> = None;
    let mut section: Vec<&str> = Vec::new();
    let mut outside_reported = false;
    let lines: Vec<&str> = text.split('\n').collect();
    let n = lines.len();
    for (i, line) in lines.iter().enumerate() {
        let lineno = i + 1;
        if i + 1 == n {
            if !line.is_empty() {
                t.problems.push(EventProblem {
                    line: lineno,
                    message: "the last line has no newline (a torn write?)".into(),
                });
            }
            break;
        }
        if line.starts_with(HEADER_OPEN) {
            if let Some(e) = current.take() {
                t.events.push(finish(e, &section));
            }
            section.clear();
            outside_reported = true;
            match parse_header(line) {
                Ok(mut e) => {
                    e.line = lineno;
                    match check_event(&e) {
                        Ok(()) => current = Some(e),
                        Err(message) => t.problems.push(EventProblem {
                            line: lineno,
                            message,
                        }),
                    }
                }
                Err(message) => t.problems.push(EventProblem {
                    line: lineno,
                    message,
                }),
            }
        } else if current.is_some() {
            section.push(line);
        } else if !line.trim().is_empty() && !outside_reported {
            // Text before the first event; a malformed header's own section is
            // not reported a second time.
            t.problems.push(EventProblem {
                line: lineno,
                message: "text outside any event (every section must follow an `<!-- event: ... -->` header)".into(),
            });
            outside_reported = true;
        }
    }
    if let Some(e) = current.take() {
        t.events.push(finish(e, &section));
    }
    t
}

fn finish(mut e: Event, section: &[&str]) -> Event {
    let mut lines = section.iter();
    let mut heading = String::new();
    let mut rest: Vec<&str> = Vec::new();
    for l in lines.by_ref() {
        if let Some(h) = l.strip_prefix("### ") {
            heading = h.to_owned();
            break;
        }
        if !l.trim().is_empty() {
            rest.push(l);
            break;
        }
    }
    rest.extend(lines);
    e.heading = heading;
    e.body = rest
        .iter()
        .map(|l| {
            l.strip_prefix(' ')
                .filter(|s| s.starts_with(HEADER_OPEN))
                .unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim_matches('\n')
        .to_owned();
    e
}

fn parse_header(line: &str) -> Result<Event, String> {
    let inner = line
        .strip_prefix(HEADER_OPEN)
        .and_then(|s| s.trim_end().strip_suffix(HEADER_CLOSE))
        .ok_or("event header does not end with `-->` on the same line")?;
    let mut tokens = inner.split_whitespace();
    let kind = tokens.next().ok_or("event header has no kind")?;
    if !kind
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-')
    {
        return Err(format!("event kind {kind:?} is invalid"));
    }
    let mut fields = BTreeMap::new();
    while let Some(key) = tokens.next() {
        let key = key
            .strip_suffix(':')
            .filter(|k| !k.is_empty())
            .ok_or_else(|| format!("expected `key:` in the event header, found {key:?}"))?;
        let value = tokens
            .next()
            .ok_or_else(|| format!("field `{key}` has no value"))?;
        if fields.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(format!("field `{key}` appears twice"));
        }
    }
    let author = fields
        .remove("author")
        .ok_or("event header has no `author:`")?;
    let at = fields.remove("at").ok_or("event header has no `at:`")?;
    Ok(Event {
        kind: kind.to_owned(),
        author,
        at,
        fields,
        heading: String::new(),
        body: String::new(),
        line: 0,
    })
}

/// Checks an event's fields; unknown kinds pass (kept and skipped).
pub fn check_event(e: &Event) -> Result<(), String> {
    check_token("author", &e.author).map_err(|x| x.to_string())?;
    if OffsetDateTime::parse(&e.at, &Rfc3339).is_err() {
        return Err(format!("`at: {}` is not an RFC 3339 time", e.at));
    }
    for (k, v) in &e.fields {
        if v.is_empty() || v.chars().any(char::is_whitespace) || v.contains("--") && k != "artifact"
        {
            return Err(format!("field `{k}` has an invalid value {v:?}"));
        }
    }
    let need = |k: &str| {
        e.field(k)
            .ok_or_else(|| format!("a {} event needs `{k}:`", e.kind))
    };
    let status = |k: &str| -> Result<(), String> {
        need(k)?
            .parse::<Status>()
            .map(|_| ())
            .map_err(|x| x.to_string())
    };
    match e.kind.as_str() {
        "comment" => {
            let r = need("role")?;
            if !ROLES.contains(&r) {
                return Err(format!(
                    "comment role {r:?} is invalid: use one of {}",
                    ROLES.join(", ")
                ));
            }
        }
        "review" => {
            let v = need("verdict")?;
            Verdict::parse(v).ok_or_else(|| {
                format!("verdict {v:?} is invalid: use approve or request-changes")
            })?;
            let a = need("artifact")?;
            if !a.starts_with("artifacts/") || a.contains("..") || a[10..].contains('/') {
                return Err(format!(
                    "artifact {a:?} must be a file directly in artifacts/"
                ));
            }
            need("round")?
                .parse::<u32>()
                .map_err(|_| "round must be a number".to_owned())?;
        }
        "status" => {
            status("from")?;
            status("to")?;
        }
        "assign" => {
            check_token("assignee", need("assignee")?).map_err(|x| x.to_string())?;
        }
        "close" => status("from")?,
        "merge" => {
            need("branch")?;
            need("validation")?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn events_round_trip_with_a_hostile_body() {
        let e = Event::new(
            "comment",
            "alice",
            "plan",
            "step 1\n<!-- event: close author: x at: y -->\nstep 2",
        )
        .with("role", "plan");
        let text = format!(
            "{}{}",
            e.render(),
            Event::new("create", "bob", "created", "").render()
        );
        let t = parse(&text);
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        assert_eq!(t.events.len(), 2);
        assert_eq!(t.events[0].body, e.body);
        assert_eq!(t.events[0].heading, "plan");
        assert_eq!(t.events[0].field("role"), Some("plan"));
        assert_eq!(
            t.events[1].line,
            text.lines().position(|l| l.contains("bob")).unwrap() + 1
        );
    }

    #[test]
    fn malformed_headers_are_reported_with_their_line() {
        let ok = Event::new("create", "a", "created", "x").render();
        let text = format!(
            "{ok}<!-- event: review author: r at: 2026-01-02T00:00:00Z verdict: maybe artifact: artifacts/review.md round: 1 -->\n### r\n\n<!-- event: comment author: a -->\n<!-- event: comment author: a at: now role: plan -->\n<!-- event: comment author: a at: 2026-01-02T00:00:00Z role: plan\n{ok}torn"
        );
        let t = parse(&text);
        let lines: Vec<usize> = t.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![6, 9, 10, 11, 17], "{:?}", t.problems);
        assert_eq!(t.events.len(), 2);
    }

    #[test]
    fn unknown_kinds_are_kept_not_errors() {
        let text = Event::new("celebrate", "a", "yay", "")
            .with("mood", "great")
            .render();
        let t = parse(&text);
        assert!(t.problems.is_empty());
        assert_eq!(t.events[0].kind, "celebrate");
    }

    #[test]
    fn last_verdict_is_the_newest_review() {
        let r = |v: Verdict, n: u32| {
            Event::new("review", "r", "review", "")
                .with("verdict", v.as_str())
                .with("artifact", "artifacts/review.md")
                .with("round", n.to_string())
                .render()
        };
        let t = parse(&format!(
            "{}{}",
            r(Verdict::RequestChanges, 1),
            r(Verdict::Approve, 2)
        ));
        assert_eq!(t.last_verdict(), Some(Verdict::Approve));
    }
}
