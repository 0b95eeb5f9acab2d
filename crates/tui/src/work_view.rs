//! The work-items view (issue 15): the items of a repository grouped by status,
//! and one item's thread, description, artifacts, resolution and the Pods that
//! work on it.
//!
//! Pure state and keys. The I/O layer reads the repository through the
//! `work-items` crate ([`WorkQuery`] in, [`WorkSnapshot`] out) on opening, on every
//! item opened and on the discovery tick while the view is open; the view itself
//! never touches the disk. Selection follows the item's folder name, not a row
//! number, so an item that moves from `open/` to `pending/` stays selected.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent};
use pod_ids::PodName;
use work_items::{Item, Status};

use crate::app::{App, DisplayState};

/// What the I/O layer is asked to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkQuery {
    /// Where the view was opened from (a Pod's working directory).
    pub from: PathBuf,
    /// The repository root, once known (else found from `from`).
    pub repo: Option<PathBuf>,
    /// The folder name of the item whose artifacts to read too.
    pub open: Option<String>,
}

/// What one read of a repository's `work-items/` found.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkSnapshot {
    /// The repository root (the main worktree's top, as `pod work` finds it).
    pub repo: PathBuf,
    /// Its `work-items` folder, canonical when it exists (what a Pod's work
    /// grant records).
    pub store: PathBuf,
    /// The listing.
    pub listing: Listing,
    /// The texts of the asked-for item's artifacts.
    pub opened: Option<Opened>,
}

/// The items, or why there are none to show.
#[derive(Debug, Clone, PartialEq)]
pub enum Listing {
    /// The repository has no `work-items/` folder.
    NotInitialised,
    /// The folder could not be read at all.
    Failed(String),
    /// Every folder under `open/`, `pending/`, `closed/`, in display order.
    Items(Vec<WorkRow>),
}

/// One folder under a status folder: an item, or what is wrong with it (a
/// damaged item is shown in place with its error, never hidden).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkRow {
    /// The status folder it is in.
    pub folder: Status,
    /// The folder name (the item's id when valid).
    pub name: String,
    /// The item, or the error reading it.
    pub item: Result<Item, String>,
}

/// An item's artifact texts.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    /// The item's folder name.
    pub name: String,
    /// `(file name, text or error)`, in the item's artifact order.
    pub artifacts: Vec<(String, Result<String, String>)>,
}

/// The item being read.
#[derive(Debug, Clone)]
pub struct OpenItem {
    /// Its folder name.
    pub name: String,
    /// Selected tab (see [`tabs`]).
    pub tab: usize,
    /// First line shown of the tab's content.
    pub scroll: usize,
    /// Largest useful `scroll` at the last render (so scrolling stops at the end).
    pub max_scroll: Cell<usize>,
    /// Rows of the content area at the last render (for paging).
    pub page: Cell<usize>,
}

/// The view's state (held by [`crate::Overlay::Work`]).
#[derive(Debug, Clone)]
pub struct WorkView {
    /// Where it was opened from.
    pub from: PathBuf,
    /// The last read (`None` until the first arrives).
    pub snapshot: Option<WorkSnapshot>,
    /// A read is under way (the tick does not start another).
    pub loading: bool,
    /// The selected row's folder name.
    pub selected: Option<String>,
    /// The item being read, if any.
    pub open: Option<OpenItem>,
    /// Rows of the list at the last render (for paging).
    pub page: Cell<usize>,
}

/// What a key did to the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkKey {
    /// Nothing more.
    Stay,
    /// Read again (an item was opened).
    Load(WorkQuery),
    /// Close the view.
    Close,
    /// Go to the opened item's Nth Pod (0-based, in [`pods_on`] order).
    GoToPod(usize),
}

/// One tab of an opened item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tab {
    /// The thread's events.
    Thread,
    /// `item.md`'s description and front matter.
    Description,
    /// An artifact (file name in `artifacts/`).
    Artifact(String),
    /// `resolution.md`.
    Resolution,
}

/// The tabs of `item`: thread first (what changes), then the description, each
/// artifact (in the store's order: reviews by round), and the resolution once
/// closed.
pub fn tabs(item: &Item) -> Vec<Tab> {
    let mut t = vec![Tab::Thread, Tab::Description];
    t.extend(item.artifacts.iter().cloned().map(Tab::Artifact));
    if item.resolution.is_some() {
        t.push(Tab::Resolution);
    }
    t
}

/// A Pod (or the assignee) on an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodOnItem {
    /// The Pod's name, or the assignee as written.
    pub name: String,
    /// Its state; `None`: the assignee is not a Pod this machine knows.
    pub state: Option<DisplayState>,
    /// The rights of its work grant (empty: the assignee without a grant).
    pub rights: Vec<String>,
    /// It is the item's assignee.
    pub assignee: bool,
}

/// The Pods whose work grant names `item` in `store`, and the assignee (a Pod
/// with its state, or a person), assignee first.
pub fn pods_on(app: &App, store: &Path, item: &Item) -> Vec<PodOnItem> {
    let assignee = item.meta.assignee.as_deref().filter(|a| !a.is_empty());
    let mut out: Vec<PodOnItem> = app
        .tree
        .pods()
        .filter_map(|p| {
            let w = p.work.as_ref()?;
            (w.item.as_deref() == Some(item.meta.id.as_str()) && w.store == store).then(|| {
                PodOnItem {
                    name: p.name.to_string(),
                    state: Some(app.display_state(&p.name)),
                    rights: w.rights.clone(),
                    assignee: assignee == Some(p.name.as_str()),
                }
            })
        })
        .collect();
    if let Some(a) = assignee
        && !out.iter().any(|p| p.assignee)
    {
        let state = a
            .parse::<PodName>()
            .ok()
            .filter(|n| app.tree.get(n).is_some())
            .map(|n| app.display_state(&n));
        out.push(PodOnItem {
            name: a.to_owned(),
            state,
            rights: Vec::new(),
            assignee: true,
        });
    }
    // Assignee first, then live before stopped, then by name.
    out.sort_by_key(|p| {
        (
            !p.assignee,
            !p.state.is_some_and(DisplayState::is_live),
            p.name.clone(),
        )
    });
    out
}

impl WorkView {
    /// A view opened from `from`, waiting for its first read.
    pub fn new(from: PathBuf) -> WorkView {
        WorkView {
            from,
            snapshot: None,
            loading: true,
            selected: None,
            open: None,
            page: Cell::new(10),
        }
    }

    /// What to read now.
    pub fn query(&self) -> WorkQuery {
        WorkQuery {
            from: self.from.clone(),
            repo: self.snapshot.as_ref().map(|s| s.repo.clone()),
            open: self.open.as_ref().map(|o| o.name.clone()),
        }
    }

    /// The rows, in display order (empty while loading or without items).
    pub fn rows(&self) -> &[WorkRow] {
        match self.snapshot.as_ref().map(|s| &s.listing) {
            Some(Listing::Items(rows)) => rows,
            _ => &[],
        }
    }

    /// Index of the selected row (the first row when the selection is gone).
    pub fn selected_index(&self) -> Option<usize> {
        let rows = self.rows();
        if rows.is_empty() {
            return None;
        }
        Some(
            self.selected
                .as_ref()
                .and_then(|s| rows.iter().position(|r| &r.name == s))
                .unwrap_or(0),
        )
    }

    /// The row of the opened item, if it is still there.
    pub fn open_row(&self) -> Option<&WorkRow> {
        let name = &self.open.as_ref()?.name;
        self.rows().iter().find(|r| &r.name == name)
    }

    /// The Pods on the opened item (see [`pods_on`]).
    pub fn open_pods(&self, app: &App) -> Vec<PodOnItem> {
        match (self.open_row().map(|r| &r.item), &self.snapshot) {
            (Some(Ok(item)), Some(snap)) => pods_on(app, &snap.store, item),
            _ => Vec::new(),
        }
    }

    /// The opened item's artifact `file`: its text, an error, or `None` while
    /// it is being read.
    pub fn artifact(&self, file: &str) -> Option<&Result<String, String>> {
        let opened = self.snapshot.as_ref()?.opened.as_ref()?;
        if Some(&opened.name) != self.open.as_ref().map(|o| &o.name) {
            return None;
        }
        opened
            .artifacts
            .iter()
            .find(|(n, _)| n == file)
            .map(|(_, t)| t)
    }

    /// Installs a read; returns whether anything shown changed. A read made for
    /// another opened item keeps the artifact texts already shown.
    pub fn install(&mut self, mut snap: WorkSnapshot) -> bool {
        self.loading = false;
        let open = self.open.as_ref().map(|o| o.name.clone());
        if snap.opened.as_ref().map(|o| &o.name) != open.as_ref() {
            snap.opened = self
                .snapshot
                .as_ref()
                .and_then(|s| s.opened.clone())
                .filter(|o| Some(&o.name) == open.as_ref());
        }
        if self.snapshot.as_ref() == Some(&snap) {
            return false;
        }
        self.snapshot = Some(snap);
        // An opened item that is gone (removed by hand) closes to the list.
        if self.open.is_some() && self.open_row().is_none() {
            self.open = None;
        }
        if self.selected.is_none() {
            self.selected = self.rows().first().map(|r| r.name.clone());
        }
        true
    }

    fn move_selection(&mut self, delta: isize) {
        let Some(i) = self.selected_index() else {
            return;
        };
        let rows = self.rows();
        let next = (i as isize + delta).clamp(0, rows.len() as isize - 1) as usize;
        self.selected = Some(rows[next].name.clone());
    }

    /// Handles a key.
    pub fn key(&mut self, key: KeyEvent) -> WorkKey {
        if self.open.is_some() {
            return self.item_key(key);
        }
        let page = self.page.get().max(1) as isize;
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => return WorkKey::Close,
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::PageUp => self.move_selection(-page),
            KeyCode::PageDown => self.move_selection(page),
            KeyCode::Home | KeyCode::Char('g') => self.move_selection(isize::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.move_selection(isize::MAX / 2),
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => {
                let Some(i) = self.selected_index() else {
                    return WorkKey::Stay;
                };
                let name = self.rows()[i].name.clone();
                self.selected = Some(name.clone());
                self.open = Some(OpenItem {
                    name,
                    tab: 0,
                    scroll: 0,
                    max_scroll: Cell::new(0),
                    page: Cell::new(10),
                });
                self.loading = true;
                return WorkKey::Load(self.query());
            }
            _ => {}
        }
        WorkKey::Stay
    }

    fn item_key(&mut self, key: KeyEvent) -> WorkKey {
        let ntabs = self
            .open_row()
            .and_then(|r| r.item.as_ref().ok())
            .map_or(1, |i| tabs(i).len());
        let Some(open) = self.open.as_mut() else {
            return WorkKey::Stay;
        };
        // `max_scroll` is from the last frame; End goes past it so content that
        // arrived since is reached too (the renderer clamps).
        let max = open.max_scroll.get();
        let page = open.page.get().max(1);
        open.scroll = open.scroll.min(max);
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') | KeyCode::Backspace => self.open = None,
            KeyCode::Tab | KeyCode::Right | KeyCode::Char('l') => {
                open.tab = (open.tab + 1) % ntabs;
                open.scroll = 0;
            }
            KeyCode::BackTab | KeyCode::Left | KeyCode::Char('h') => {
                open.tab = (open.tab + ntabs - 1) % ntabs;
                open.scroll = 0;
            }
            KeyCode::Up | KeyCode::Char('k') => open.scroll = open.scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => open.scroll = (open.scroll + 1).min(max),
            KeyCode::PageUp => open.scroll = open.scroll.saturating_sub(page),
            KeyCode::PageDown | KeyCode::Char(' ') => open.scroll = (open.scroll + page).min(max),
            KeyCode::Home | KeyCode::Char('g') => open.scroll = 0,
            KeyCode::End | KeyCode::Char('G') => open.scroll = usize::MAX,
            KeyCode::Char(d @ '1'..='9') => {
                return WorkKey::GoToPod(usize::from(d as u8 - b'1'));
            }
            _ => {}
        }
        WorkKey::Stay
    }
}

/// `2026-01-02T15:04:05Z` as `2026-01-02 15:04` (stamps are UTC; the seconds add
/// nothing on screen).
pub fn short_time(at: &str) -> String {
    match at.get(..16) {
        Some(head) if at.as_bytes().get(10) == Some(&b'T') => head.replacen('T', " ", 1),
        _ => at.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_time_drops_seconds_and_keeps_odd_stamps() {
        assert_eq!(short_time("2026-01-02T15:04:05Z"), "2026-01-02 15:04");
        assert_eq!(short_time("yesterday"), "yesterday");
    }
}
