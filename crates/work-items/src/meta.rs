//! `item.md`: YAML front matter ([`ItemMeta`]) between `---` lines, then the
//! description in Markdown.
//!
//! The split is hand-written (a dozen lines) because the format is exactly "a first
//! line `---`, YAML, a line `---`"; the YAML itself goes through `serde_norway`, the
//! maintained fork of `serde_yaml`. Each field is checked on its own so an error
//! names the field, and fields we do not know are kept on rewrite.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Result, WorkError};
use crate::id::{ItemId, Slug};

/// Where an item is in its life; also the folder it lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not started.
    Open,
    /// Someone works on it.
    Pending,
    /// Done (or dropped); `resolution.md` says how.
    Closed,
}

impl Status {
    /// All statuses, in folder order.
    pub const ALL: [Status; 3] = [Status::Open, Status::Pending, Status::Closed];

    /// The folder name (and the front matter value).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Pending => "pending",
            Status::Closed => "closed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = WorkError;
    fn from_str(s: &str) -> Result<Status> {
        Status::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                WorkError::Invalid(format!(
                    "status {s:?} is invalid: use open, pending or closed"
                ))
            })
    }
}

/// Item kinds.
pub const KINDS: &[&str] = &["task", "bug", "feature", "chore", "docs", "refactor"];
/// Priorities, most urgent first.
pub const PRIORITIES: &[&str] = &["urgent", "high", "normal", "low"];

/// The front matter of `item.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemMeta {
    /// `YYYYMMDD-HHMMSS-slug`; also the folder name.
    pub id: String,
    /// Short name, unique in the store.
    pub slug: String,
    /// One line.
    pub title: String,
    /// Must match the folder the item is in.
    pub status: Status,
    /// One of [`KINDS`].
    pub kind: String,
    /// One of [`PRIORITIES`].
    pub priority: String,
    /// Free labels (`[a-z0-9._-]`).
    pub labels: Vec<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC; moves with every change to the item.
    pub updated_at: String,
    /// Who works on it (a Pod or a person), if anyone.
    pub assignee: Option<String>,
    /// Fields written by hand or by a newer version: kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_norway::Value>,
}

/// Front matter field names, in the order they are written.
pub const FIELDS: &[&str] = &[
    "id",
    "slug",
    "title",
    "status",
    "kind",
    "priority",
    "labels",
    "created_at",
    "updated_at",
    "assignee",
];

/// A whole `item.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemDoc {
    /// The front matter.
    pub meta: ItemMeta,
    /// The description (Markdown after the front matter).
    pub body: String,
}

/// Now, as written in the store (RFC 3339, UTC, whole seconds).
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0).unwrap_or(t)
}

/// A time as written in the store.
pub fn timestamp(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Checks a label, assignee or author token: `[A-Za-z0-9._@-]`, 1–64 characters.
pub fn check_token(what: &str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(WorkError::Invalid(format!(
            "{what} {s:?} is invalid: use letters, digits, '.', '_', '@' or '-' (at most 64)"
        )))
    }
}

/// Splits `item.md` into its YAML text and body. `None` when the file does not
/// open with a `---` line closed by another.
pub fn split_front_matter(text: &str) -> Option<(&str, &str)> {
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    if let Some(body) = rest.strip_prefix("---\n") {
        return Some(("", body));
    }
    let end = rest
        .find("\n---\n")
        .map(|i| (i, i + 5))
        .or_else(|| rest.strip_suffix("\n---").map(|y| (y.len(), rest.len())))?;
    Some((&rest[..end.0 + 1], &rest[end.1..]))
}

/// One problem with a front matter field (what doctor reports and may repair).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field.
    pub field: &'static str,
    /// Missing, or present with a bad value.
    pub missing: bool,
    /// What is wrong.
    pub message: String,
}

/// Parses `item.md`. Every field problem is collected, not only the first.
pub fn parse(text: &str) -> Result<ItemDoc, ParseFailure> {
    let (yaml, body) = split_front_matter(text).ok_or(ParseFailure::NoFrontMatter)?;
    let map: serde_norway::Mapping = if yaml.trim().is_empty() {
        serde_norway::Mapping::new()
    } else {
        serde_norway::from_str(yaml).map_err(|e| ParseFailure::Yaml(e.to_string()))?
    };
    let mut problems = Vec::new();
    let get = |k: &str| map.get(k).filter(|v| !v.is_null());
    let string = |k: &'static str, problems: &mut Vec<FieldProblem>| -> Option<String> {
        match get(k) {
            None => {
                problems.push(FieldProblem {
                    field: k,
                    missing: true,
                    message: format!("field `{k}` is missing"),
                });
                None
            }
            Some(serde_norway::Value::String(s)) => Some(s.clone()),
            Some(_) => {
                problems.push(FieldProblem {
                    field: k,
                    missing: false,
                    message: format!("field `{k}` must be a string"),
                });
                None
            }
        }
    };
    let id = string("id", &mut problems);
    let slug = string("slug", &mut problems);
    let title = string("title", &mut problems);
    let status = string("status", &mut problems);
    let kind = string("kind", &mut problems);
    let priority = string("priority", &mut problems);
    let created_at = string("created_at", &mut problems);
    let updated_at = string("updated_at", &mut problems);
    let bad = |field: &'static str, message: String| FieldProblem {
        field,
        missing: false,
        message,
    };
    if let Some(v) = &id
        && let Err(e) = ItemId::new(v)
    {
        problems.push(bad("id", e.to_string()));
    }
    if let Some(v) = &slug
        && let Err(e) = Slug::new(v)
    {
        problems.push(bad("slug", e.to_string()));
    }
    if let (Some(i), Some(s)) = (&id, &slug)
        && ItemId::new(i).is_ok_and(|i| i.slug().as_str() != s)
    {
        problems.push(bad(
            "slug",
            format!("slug {s:?} is not the slug of id {i:?}"),
        ));
    }
    if title
        .as_deref()
        .is_some_and(|t| t.trim().is_empty() || t.contains('\n'))
    {
        problems.push(bad("title", "title must be one non-empty line".into()));
    }
    let status = status.and_then(|s| match s.parse::<Status>() {
        Ok(s) => Some(s),
        Err(e) => {
            problems.push(bad("status", e.to_string()));
            None
        }
    });
    if let Some(k) = &kind
        && !KINDS.contains(&k.as_str())
    {
        problems.push(bad(
            "kind",
            format!("kind {k:?} is invalid: use one of {}", KINDS.join(", ")),
        ));
    }
    if let Some(p) = &priority
        && !PRIORITIES.contains(&p.as_str())
    {
        problems.push(bad(
            "priority",
            format!(
                "priority {p:?} is invalid: use one of {}",
                PRIORITIES.join(", ")
            ),
        ));
    }
    for (field, v) in [("created_at", &created_at), ("updated_at", &updated_at)] {
        if let Some(v) = v
            && OffsetDateTime::parse(v, &Rfc3339).is_err()
        {
            problems.push(bad(field, format!("{field} {v:?} is not an RFC 3339 time")));
        }
    }
    let labels = match map.get("labels") {
        None => {
            problems.push(FieldProblem {
                field: "labels",
                missing: true,
                message: "field `labels` is missing".into(),
            });
            Vec::new()
        }
        Some(v) => match serde_norway::from_value::<Option<Vec<String>>>(v.clone()) {
            Ok(l) => {
                let l = l.unwrap_or_default();
                for x in &l {
                    if let Err(e) = check_token("label", x) {
                        problems.push(bad("labels", e.to_string()));
                    }
                }
                l
            }
            Err(_) => {
                problems.push(bad("labels", "labels must be a list of strings".into()));
                Vec::new()
            }
        },
    };
    let assignee = match map.get("assignee") {
        None => {
            problems.push(FieldProblem {
                field: "assignee",
                missing: true,
                message: "field `assignee` is missing (use `assignee: null`)".into(),
            });
            None
        }
        Some(serde_norway::Value::Null) => None,
        Some(serde_norway::Value::String(s)) => Some(s.clone()),
        Some(_) => {
            problems.push(bad("assignee", "assignee must be a string or null".into()));
            None
        }
    };
    let extra: BTreeMap<String, serde_norway::Value> = map
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.clone())))
        .filter(|(k, _)| !FIELDS.contains(&k.as_str()))
        .collect();
    match (
        id, slug, title, status, kind, priority, created_at, updated_at,
    ) {
        (
            Some(id),
            Some(slug),
            Some(title),
            Some(status),
            Some(kind),
            Some(priority),
            Some(created_at),
            Some(updated_at),
        ) if problems.is_empty() => Ok(ItemDoc {
            meta: ItemMeta {
                id,
                slug,
                title,
                status,
                kind,
                priority,
                labels,
                created_at,
                updated_at,
                assignee,
                extra,
            },
            body: body.strip_prefix('\n').unwrap_or(body).to_owned(),
        }),
        _ => Err(ParseFailure::Fields {
            problems,
            map,
            body: body.strip_prefix('\n').unwrap_or(body).to_owned(),
        }),
    }
}

/// Why `item.md` could not be read as an item.
#[derive(Debug, Clone)]
pub enum ParseFailure {
    /// No `---` … `---` block at the top.
    NoFrontMatter,
    /// The YAML does not parse.
    Yaml(String),
    /// Fields missing or invalid; the parsed mapping and body are kept for repair.
    Fields {
        /// Each problem.
        problems: Vec<FieldProblem>,
        /// What did parse.
        map: serde_norway::Mapping,
        /// The description.
        body: String,
    },
}

impl ParseFailure {
    /// One line per problem.
    pub fn describe(&self) -> String {
        match self {
            ParseFailure::NoFrontMatter => "no front matter (the file must open with a `---` line, YAML, and a closing `---` line)".into(),
            ParseFailure::Yaml(e) => format!("front matter is not valid YAML: {e}"),
            ParseFailure::Fields { problems, .. } => {
                problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; ")
            }
        }
    }

    /// As a store error about `path`.
    pub fn into_error(self, path: &Path) -> WorkError {
        WorkError::format(path, self.describe())
    }
}

/// Renders `item.md`: front matter in [`FIELDS`] order, then extra fields, then
/// the body.
pub fn render(doc: &ItemDoc) -> String {
    let m = &doc.meta;
    let mut map = serde_norway::Mapping::new();
    let s = |v: &str| serde_norway::Value::String(v.to_owned());
    map.insert(s("id"), s(&m.id));
    map.insert(s("slug"), s(&m.slug));
    map.insert(s("title"), s(&m.title));
    map.insert(s("status"), s(m.status.as_str()));
    map.insert(s("kind"), s(&m.kind));
    map.insert(s("priority"), s(&m.priority));
    map.insert(
        s("labels"),
        serde_norway::Value::Sequence(m.labels.iter().map(|l| s(l)).collect()),
    );
    map.insert(s("created_at"), s(&m.created_at));
    map.insert(s("updated_at"), s(&m.updated_at));
    map.insert(
        s("assignee"),
        m.assignee.as_deref().map_or(serde_norway::Value::Null, s),
    );
    for (k, v) in &m.extra {
        map.insert(s(k), v.clone());
    }
    let yaml = serde_norway::to_string(&map).unwrap_or_default();
    let mut out = format!("---\n{yaml}---\n");
    if !doc.body.is_empty() {
        // One blank line after the front matter; parse takes exactly one off.
        out.push('\n');
        out.push_str(&doc.body);
        if !doc.body.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> ItemDoc {
        ItemDoc {
            meta: ItemMeta {
                id: "20260102-150405-fix-login".into(),
                slug: "fix-login".into(),
                title: "Fix: login fails with \"quotes\"".into(),
                status: Status::Open,
                kind: "bug".into(),
                priority: "high".into(),
                labels: vec!["auth".into()],
                created_at: "2026-01-02T15:04:05Z".into(),
                updated_at: "2026-01-02T15:04:05Z".into(),
                assignee: None,
                extra: BTreeMap::new(),
            },
            body: "Steps to reproduce.\n".into(),
        }
    }

    #[test]
    fn render_then_parse_is_identity() {
        let doc = sample();
        let text = render(&doc);
        assert!(
            text.starts_with("---\nid: 20260102-150405-fix-login\n"),
            "{text}"
        );
        let back = parse(&text).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn unknown_fields_survive_a_rewrite() {
        let text = render(&sample()).replace("assignee: null\n", "assignee: null\nestimate: 3\n");
        let doc = parse(&text).unwrap();
        assert!(render(&doc).contains("estimate: 3\n"));
    }

    #[test]
    fn every_bad_field_is_named() {
        let text = render(&sample())
            .replace("priority: high\n", "")
            .replace("status: open", "status: done");
        let ParseFailure::Fields { problems, .. } = parse(&text).unwrap_err() else {
            panic!("expected field problems");
        };
        let fields: Vec<_> = problems.iter().map(|p| (p.field, p.missing)).collect();
        assert_eq!(fields, vec![("priority", true), ("status", false)]);
    }

    #[test]
    fn no_front_matter_is_its_own_failure() {
        assert!(matches!(
            parse("# just markdown\n"),
            Err(ParseFailure::NoFrontMatter)
        ));
        assert!(matches!(
            parse("---\nid: [\n---\n"),
            Err(ParseFailure::Yaml(_))
        ));
    }
}
