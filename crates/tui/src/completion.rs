//! What the composer's lists offer (slash commands, `@` files and children, past
//! inputs) and how mentions become attachments or a different recipient.

use protocol::{InputMode, Request};

use crate::app::{App, Popup};
use crate::composer::Attachment;

/// Rows a list shows at most.
pub const LIST_ROWS: usize = 8;

/// One row of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// What is shown.
    pub label: String,
    /// A dim note beside it.
    pub detail: String,
    /// What replaces the word at the cursor (or the whole text, for history).
    pub insert: String,
    /// A command that runs on Enter even though it takes an (optional) argument.
    pub runs_bare: bool,
}

/// The children of the selected Pod, by name.
fn children(app: &App) -> Vec<pod_ids::PodName> {
    let Some(sel) = &app.selected else {
        return Vec::new();
    };
    app.tree
        .pods()
        .filter(|p| p.parent.as_ref() == Some(sel))
        .map(|p| p.name.clone())
        .collect()
}

/// Past inputs newest first, without repeats: this dashboard's history, then the
/// Pod's inputs from its transcript.
fn past_inputs(app: &App) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let from_view = app
        .selected_view()
        .map(|v| {
            v.transcript
                .user_inputs()
                .rev()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for t in app
        .composer
        .history()
        .iter()
        .rev()
        .cloned()
        .chain(from_view)
    {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// The rows of the open list.
pub fn items(app: &App) -> Vec<Item> {
    match &app.popup {
        Popup::None => Vec::new(),
        Popup::Slash { .. } => {
            let text = app.composer.text();
            let word = crate::slash::typing(&text).unwrap_or("");
            crate::slash::matching(word)
                .into_iter()
                .map(|c| Item {
                    label: if c.args.is_empty() {
                        format!("/{}", c.name)
                    } else {
                        format!("/{} {}", c.name, c.args)
                    },
                    detail: c.what.to_string(),
                    insert: if c.args.is_empty() {
                        format!("/{}", c.name)
                    } else {
                        format!("/{} ", c.name)
                    },
                    runs_bare: c.args.starts_with('['),
                })
                .collect()
        }
        Popup::Mention { .. } => {
            let (_, word) = app.composer.current_word();
            let query = word.trim_start_matches('@');
            let mut out: Vec<Item> = children(app)
                .into_iter()
                .filter(|c| crate::files::score(query, c.as_str()).is_some())
                .map(|c| Item {
                    label: format!("@{c}"),
                    detail: "child Pod: write to it".into(),
                    insert: format!("@{c} "),
                    runs_bare: false,
                })
                .collect();
            match app.selected.as_ref().and_then(|s| app.files.get(s)) {
                Some(files) => out.extend(
                    crate::files::best(query, files, LIST_ROWS * 4)
                        .into_iter()
                        .map(|f| Item {
                            label: f.to_string(),
                            detail: String::new(),
                            insert: format!("@{f} "),
                            runs_bare: false,
                        }),
                ),
                None => out.push(Item {
                    label: "listing files…".into(),
                    detail: String::new(),
                    insert: word.clone(),
                    runs_bare: false,
                }),
            }
            out
        }
        Popup::History { query, .. } => {
            let q = query.to_lowercase();
            past_inputs(app)
                .into_iter()
                .filter(|t| t.to_lowercase().contains(&q))
                .map(|t| Item {
                    label: t.replace('\n', " ⏎ "),
                    detail: String::new(),
                    insert: t,
                    runs_bare: false,
                })
                .collect()
        }
    }
}

/// The child named by a leading `@name` in `text`, if the selected Pod has it.
pub fn leading_child(app: &App, text: &str) -> Option<pod_ids::PodName> {
    let first = text.split_whitespace().next()?.strip_prefix('@')?;
    children(app).into_iter().find(|c| c.as_str() == first)
}

/// `@path` words of `text` that name a file the selected Pod can see (listed by
/// the picker, or present on disk relative to its working directory).
pub fn mentioned_files(app: &App, text: &str) -> Vec<Attachment> {
    let listed = app.selected.as_ref().and_then(|s| app.files.get(s));
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let Some(path) = word.strip_prefix('@') else {
            continue;
        };
        let path = path.trim_end_matches([',', '.', ';', ':', ')', '!', '?']);
        if path.is_empty() {
            continue;
        }
        let known =
            listed.is_some_and(|l| l.iter().any(|f| f == path)) || app.resolve_path(path).is_file();
        let a = Attachment::File { path: path.into() };
        if known && !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// The request that sends `text` with `attachments`. The Pod reads each attached
/// file itself, inside its own scope (relative paths against its working directory),
/// and refuses the whole input if one cannot be read.
pub fn send_input(text: String, attachments: Vec<Attachment>) -> Request {
    let path = |p: std::path::PathBuf| p.display().to_string();
    Request::SendInput {
        text,
        mode: InputMode::Queue,
        attachments: attachments
            .into_iter()
            .map(|a| match a {
                Attachment::File { path: p } => protocol::Attachment::File { path: path(p) },
                Attachment::Image { path: p } => protocol::Attachment::Image { path: path(p) },
            })
            .collect(),
    }
}
