//! [`Store`]: the `work-items/` folder of a repository, and every write to it.
//!
//! Layout: `{open,pending,closed}/<id>/` each with `item.md`, `thread.md`,
//! `artifacts/` and, once closed, `resolution.md`; `.locks/` (git-ignored) holds
//! one lock file per item and one for the store.
//!
//! Every change to an item runs under that item's lock (`.locks/<id>.lock`), which
//! also covers moving its folder, so a writer that found the folder keeps finding
//! it. Creating an item runs under the store lock, which keeps slugs unique. The
//! front matter is the authority on status: a status change appends the event,
//! rewrites `item.md`, then renames the folder (a crash in between leaves a
//! mismatch that `doctor --fix` resolves by moving the folder to the front
//! matter's status).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::durable::{self, LOCK_TIMEOUT, Lock};
use crate::error::{Result, WorkError, io_err};
use crate::id::{ItemId, Slug};
use crate::meta::{self, ItemDoc, ItemMeta, KINDS, PRIORITIES, Status, check_token};
use crate::thread::{self, Event, ROLES, Thread, Verdict};

/// Name of the folder in a repository.
pub const DIR_NAME: &str = "work-items";
/// Lock files (git-ignored).
pub const LOCKS_DIR: &str = ".locks";
/// Where `doctor --fix` moves files that do not belong (never deleted).
pub const QUARANTINE_DIR: &str = ".quarantine";
/// Prefix of an item folder being created (renamed into `open/` when complete).
pub const NEW_PREFIX: &str = ".new-";

/// The files of an item folder.
pub const ITEM_FILE: &str = "item.md";
/// The append-only history.
pub const THREAD_FILE: &str = "thread.md";
/// Written on close.
pub const RESOLUTION_FILE: &str = "resolution.md";
/// Review reports and other outputs.
pub const ARTIFACTS_DIR: &str = "artifacts";

/// What a new item is made of.
#[derive(Debug, Clone, Default)]
pub struct NewItem {
    /// One line.
    pub title: String,
    /// One of [`KINDS`]; default `task`.
    pub kind: Option<String>,
    /// One of [`PRIORITIES`]; default `normal`.
    pub priority: Option<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// The description.
    pub body: String,
    /// Who creates it.
    pub author: String,
}

/// One item as read from disk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// Front matter.
    #[serde(flatten)]
    pub meta: ItemMeta,
    /// Description.
    pub body: String,
    /// Its folder.
    pub dir: PathBuf,
    /// Thread events.
    pub events: Vec<Event>,
    /// Problems in `thread.md` (see `doctor`).
    pub thread_problems: Vec<thread::EventProblem>,
    /// File names in `artifacts/`: the reviews by round (`review.md`,
    /// `review-r2.md`, … `review-r10.md`), then the rest by name.
    pub artifacts: Vec<String>,
    /// `resolution.md`, if the item has one.
    pub resolution: Option<String>,
}

impl Item {
    /// The item's id.
    pub fn id(&self) -> Result<ItemId> {
        ItemId::new(&self.meta.id)
    }

    /// The verdict of its newest review.
    pub fn last_verdict(&self) -> Option<Verdict> {
        self.events
            .iter()
            .rev()
            .find(|e| e.kind == "review")
            .and_then(Event::verdict)
    }
}

/// A folder found under a status folder (not necessarily a valid item).
#[derive(Debug, Clone)]
pub struct Entry {
    /// The status folder it is in.
    pub folder: Status,
    /// The folder name.
    pub name: String,
    /// Its path.
    pub dir: PathBuf,
}

/// The `work-items/` folder of one repository.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store at `root` (the `work-items` folder itself), which must exist.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        if !root.join(Status::Open.as_str()).is_dir() {
            return Err(WorkError::NotInitialised(root));
        }
        Ok(Store { root })
    }

    /// Creates the layout at `root` if missing (idempotent) and opens it.
    pub fn init(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        for s in Status::ALL {
            let d = root.join(s.as_str());
            std::fs::create_dir_all(&d).map_err(io_err("create", &d))?;
            // Empty folders are not kept by git.
            let keep = d.join(".gitkeep");
            if !keep.exists() {
                durable::write_atomic(&keep, b"")?;
            }
        }
        let locks = root.join(LOCKS_DIR);
        std::fs::create_dir_all(&locks).map_err(io_err("create", &locks))?;
        let ignore = root.join(".gitignore");
        if !ignore.exists() {
            durable::write_atomic(
                &ignore,
                format!("{LOCKS_DIR}/\n{QUARANTINE_DIR}/\n").as_bytes(),
            )?;
        }
        Ok(Store { root })
    }

    /// The `work-items` folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self, name: &str) -> Result<Lock> {
        let d = self.root.join(LOCKS_DIR);
        std::fs::create_dir_all(&d).map_err(io_err("create", &d))?;
        Lock::acquire(&d.join(format!("{name}.lock")), LOCK_TIMEOUT)
    }

    /// Takes item `id`'s lock (held by every change to it; doctor's repairs too).
    pub fn lock_item(&self, id: &ItemId) -> Result<Lock> {
        self.lock(id.as_str())
    }

    /// Every folder under the status folders, whatever is in it (doctor's view).
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for folder in Status::ALL {
            let d = self.root.join(folder.as_str());
            let rd = match std::fs::read_dir(&d) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("read", &d)(e)),
            };
            for ent in rd {
                let ent = ent.map_err(io_err("read", &d))?;
                let name = ent.file_name().to_string_lossy().into_owned();
                out.push(Entry {
                    folder,
                    name,
                    dir: ent.path(),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Item folders (names that are valid ids), oldest first.
    fn item_entries(&self) -> Result<Vec<(ItemId, Entry)>> {
        Ok(self
            .entries()?
            .into_iter()
            .filter(|e| e.dir.is_dir())
            .filter_map(|e| ItemId::new(&e.name).ok().map(|id| (id, e)))
            .collect())
    }

    /// Resolves an id or a slug to an id.
    pub fn resolve(&self, name: &str) -> Result<ItemId> {
        let mut ids: Vec<ItemId> = self
            .item_entries()?
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| id.as_str() == name || id.slug().as_str() == name)
            .collect();
        ids.dedup();
        match ids.len() {
            0 => Err(WorkError::NotFound(name.to_owned())),
            1 => Ok(ids.remove(0)),
            count => Err(WorkError::Ambiguous {
                name: name.to_owned(),
                count,
            }),
        }
    }

    /// The folder of item `id` now (callers that go on to change it hold its lock).
    pub fn locate(&self, id: &ItemId) -> Result<PathBuf> {
        let found: Vec<PathBuf> = Status::ALL
            .iter()
            .map(|s| self.root.join(s.as_str()).join(id.as_str()))
            .filter(|p| p.is_dir())
            .collect();
        match found.len() {
            0 => Err(WorkError::NotFound(id.to_string())),
            1 => Ok(found.into_iter().next().unwrap_or_default()),
            count => Err(WorkError::Ambiguous {
                name: id.to_string(),
                count,
            }),
        }
    }

    /// Reads item `name` (id or slug).
    pub fn load(&self, name: &str) -> Result<Item> {
        let id = self.resolve(name)?;
        self.load_dir(&self.locate(&id)?)
    }

    /// Reads the item in `dir`.
    pub fn load_dir(&self, dir: &Path) -> Result<Item> {
        let doc = read_doc(dir)?;
        let t = read_thread(dir)?;
        let mut artifacts = list_files(&dir.join(ARTIFACTS_DIR))?;
        artifacts.sort_by_cached_key(|n| (artifact_round(n).unwrap_or(usize::MAX), n.clone()));
        let rp = dir.join(RESOLUTION_FILE);
        let resolution = match std::fs::read_to_string(&rp) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err("read", &rp)(e)),
        };
        Ok(Item {
            meta: doc.meta,
            body: doc.body,
            dir: dir.to_path_buf(),
            events: t.events,
            thread_problems: t.problems,
            artifacts,
            resolution,
        })
    }

    /// Every readable item (optionally only those with one of `statuses`), oldest
    /// first, and the errors of those that could not be read.
    pub fn list(&self, statuses: &[Status]) -> Result<(Vec<Item>, Vec<WorkError>)> {
        let mut items = Vec::new();
        let mut errors = Vec::new();
        for (_, e) in self.item_entries()? {
            if !statuses.is_empty() && !statuses.contains(&e.folder) {
                continue;
            }
            match self.load_dir(&e.dir) {
                Ok(i) => items.push(i),
                Err(err) => errors.push(err),
            }
        }
        Ok((items, errors))
    }

    /// Creates an item in `open/` with a `create` event.
    pub fn create(&self, new: &NewItem) -> Result<Item> {
        let title = new.title.trim();
        if title.is_empty() || title.contains('\n') {
            return Err(WorkError::Invalid(
                "the title must be one non-empty line".into(),
            ));
        }
        check_token("author", &new.author)?;
        let kind = new.kind.clone().unwrap_or_else(|| "task".into());
        if !KINDS.contains(&kind.as_str()) {
            return Err(WorkError::Invalid(format!(
                "kind {kind:?} is invalid: use one of {}",
                KINDS.join(", ")
            )));
        }
        let priority = new.priority.clone().unwrap_or_else(|| "normal".into());
        if !PRIORITIES.contains(&priority.as_str()) {
            return Err(WorkError::Invalid(format!(
                "priority {priority:?} is invalid: use one of {}",
                PRIORITIES.join(", ")
            )));
        }
        for l in &new.labels {
            check_token("label", l)?;
        }
        let base = Slug::from_title(title)?;
        let _store = self.lock("store")?;
        let taken: Vec<String> = self
            .item_entries()?
            .into_iter()
            .map(|(id, _)| id.slug().as_str().to_owned())
            .collect();
        let mut slug = base.clone();
        let mut n = 2;
        while taken.iter().any(|t| t == slug.as_str()) {
            slug = Slug::new(&format!("{base}-{n}"))?;
            n += 1;
        }
        let now = meta::now();
        let id = ItemId::at(now, &slug);
        let stamp = meta::timestamp(now);
        let doc = ItemDoc {
            meta: ItemMeta {
                id: id.to_string(),
                slug: slug.to_string(),
                title: title.to_owned(),
                status: Status::Open,
                kind,
                priority,
                labels: new.labels.clone(),
                created_at: stamp.clone(),
                updated_at: stamp,
                assignee: None,
                extra: Default::default(),
            },
            body: new.body.clone(),
        };
        // Built beside the status folders and renamed in whole: a crash leaves
        // either no item or a complete one (and a `.new-*` folder doctor removes).
        let tmp = self.root.join(format!("{NEW_PREFIX}{id}"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io_err("remove", &tmp))?;
        }
        std::fs::create_dir_all(tmp.join(ARTIFACTS_DIR)).map_err(io_err("create", &tmp))?;
        durable::write_atomic(&tmp.join(ITEM_FILE), meta::render(&doc).as_bytes())?;
        let ev = Event::new("create", &new.author, format!("created: {title}"), "");
        durable::append(&tmp.join(THREAD_FILE), &ev.render())?;
        durable::write_atomic(&tmp.join(ARTIFACTS_DIR).join(".gitkeep"), b"")?;
        let dir = self.root.join(Status::Open.as_str()).join(id.as_str());
        std::fs::create_dir_all(self.root.join(Status::Open.as_str()))
            .map_err(io_err("create", &dir))?;
        std::fs::rename(&tmp, &dir).map_err(io_err("move into place", &dir))?;
        durable::sync_dir(&self.root)?;
        durable::sync_dir(self.root.join(Status::Open.as_str()).as_path())?;
        self.load_dir(&dir)
    }

    /// Runs `f` on item `name` under its lock with its folder and front matter;
    /// `f` returns the event to append (if any) and whether the front matter
    /// changed. The event goes first, then `item.md` with a new `updated_at`.
    fn change<T>(
        &self,
        name: &str,
        f: impl FnOnce(&Path, &mut ItemDoc, &Thread) -> Result<(Option<Event>, T)>,
    ) -> Result<(Option<Event>, T)> {
        let id = self.resolve(name)?;
        let _lock = self.lock_item(&id)?;
        let dir = self.locate(&id)?;
        let mut doc = read_doc(&dir)?;
        let t = read_thread(&dir)?;
        let (ev, out) = f(&dir, &mut doc, &t)?;
        if let Some(ev) = &ev {
            thread::check_event(ev).map_err(WorkError::Invalid)?;
            durable::append(&dir.join(THREAD_FILE), &ev.render())?;
            doc.meta.updated_at = ev.at.clone();
        }
        durable::write_atomic(&dir.join(ITEM_FILE), meta::render(&doc).as_bytes())?;
        // The front matter says where the folder belongs.
        let want = self.root.join(doc.meta.status.as_str()).join(id.as_str());
        if want != dir {
            move_dir(&dir, &want)?;
        }
        Ok((ev, out))
    }

    /// Appends a comment with `role` (one of [`ROLES`]).
    pub fn comment(&self, name: &str, author: &str, role: &str, body: &str) -> Result<Event> {
        if !ROLES.contains(&role) {
            return Err(WorkError::Invalid(format!(
                "role {role:?} is invalid: use one of {}",
                ROLES.join(", ")
            )));
        }
        if body.trim().is_empty() {
            return Err(WorkError::Invalid("the comment is empty".into()));
        }
        let ev =
            Event::new("comment", author, format!("{role} by {author}"), body).with("role", role);
        self.append(name, ev)
    }

    /// Appends any event (checked first) and touches `updated_at`.
    pub fn append(&self, name: &str, ev: Event) -> Result<Event> {
        check_token("author", &ev.author)?;
        let (ev, ()) = self.change(name, |_, _, _| Ok((Some(ev), ())))?;
        ev.ok_or_else(|| WorkError::Invalid("no event".into()))
    }

    /// Writes a review report for the next round (`artifacts/review.md`, then
    /// `review-r2.md`, ...) opening with its verdict, and the `review` event that
    /// references it; both under the item lock, so a retried review after a crash
    /// rewrites the same round instead of adding one.
    pub fn review(
        &self,
        name: &str,
        author: &str,
        verdict: Verdict,
        report: &str,
    ) -> Result<Event> {
        self.review_round(name, author, verdict, report, None)
    }

    /// [`Store::review`], refused unless the review would be round `only` (when
    /// given): checked under the item lock, so a reviewer of round N that runs
    /// again after a crash (or calls twice at once) cannot add a second verdict.
    pub fn review_round(
        &self,
        name: &str,
        author: &str,
        verdict: Verdict,
        report: &str,
        only: Option<usize>,
    ) -> Result<Event> {
        check_token("author", author)?;
        let report = strip_verdict_line(report, verdict)?;
        let (ev, ()) = self.change(name, |dir, _, t| {
            let round = t.reviews().count() + 1;
            if let Some(n) = only.filter(|n| *n != round) {
                return Err(WorkError::Invalid(format!(
                    "this review may only be round {n}, but the item is at round {round} (round {n} {}); no second verdict is written",
                    if n < round { "is already reviewed" } else { "is not reached yet" }
                )));
            }
            let file = artifact_name(round);
            let text = format!("Verdict: {verdict}\n\n{}\n", report.trim_end());
            let adir = dir.join(ARTIFACTS_DIR);
            std::fs::create_dir_all(&adir).map_err(io_err("create", &adir))?;
            durable::write_atomic(&adir.join(&file), text.as_bytes())?;
            let ev = Event::new(
                "review",
                author,
                format!("review round {round}: {verdict}"),
                summary(&report),
            )
            .with("verdict", verdict.as_str())
            .with("artifact", format!("{ARTIFACTS_DIR}/{file}"))
            .with("round", round.to_string());
            Ok((Some(ev), ()))
        })?;
        ev.ok_or_else(|| WorkError::Invalid("no event".into()))
    }

    /// Moves the item to `to` with a `status` event; `None` if it already is there.
    pub fn set_status(&self, name: &str, author: &str, to: Status) -> Result<Option<Event>> {
        check_token("author", author)?;
        if to == Status::Closed {
            return self.close(name, author, "").map(Some);
        }
        let (ev, ()) = self.change(name, |_, doc, _| {
            let from = doc.meta.status;
            if from == to {
                return Ok((None, ()));
            }
            doc.meta.status = to;
            let ev = Event::new("status", author, format!("status: {from} → {to}"), "")
                .with("from", from.as_str())
                .with("to", to.as_str());
            Ok((Some(ev), ()))
        })?;
        Ok(ev)
    }

    /// Sets the assignee with an `assign` event.
    pub fn assign(&self, name: &str, author: &str, assignee: &str) -> Result<Event> {
        check_token("author", author)?;
        check_token("assignee", assignee)?;
        let (ev, ()) = self.change(name, |_, doc, _| {
            doc.meta.assignee = Some(assignee.to_owned());
            let ev = Event::new("assign", author, format!("assigned to {assignee}"), "")
                .with("assignee", assignee);
            Ok((Some(ev), ()))
        })?;
        ev.ok_or_else(|| WorkError::Invalid("no event".into()))
    }

    /// Closes the item: `resolution.md`, a `close` event, folder `closed/`.
    pub fn close(&self, name: &str, author: &str, resolution: &str) -> Result<Event> {
        check_token("author", author)?;
        let text = if resolution.trim().is_empty() {
            "Closed."
        } else {
            resolution.trim()
        };
        let (ev, ()) = self.change(name, |dir, doc, _| {
            let from = doc.meta.status;
            if from == Status::Closed {
                return Err(WorkError::Invalid(format!(
                    "{} is already closed",
                    doc.meta.id
                )));
            }
            durable::write_atomic(&dir.join(RESOLUTION_FILE), format!("{text}\n").as_bytes())?;
            doc.meta.status = Status::Closed;
            let ev = Event::new("close", author, "closed", text).with("from", from.as_str());
            Ok((Some(ev), ()))
        })?;
        ev.ok_or_else(|| WorkError::Invalid("no event".into()))
    }

    /// Rewrites the front matter of the item in `dir` (doctor's repairs; the
    /// caller holds the item lock).
    pub fn rewrite_doc(&self, dir: &Path, doc: &ItemDoc) -> Result<()> {
        durable::write_atomic(&dir.join(ITEM_FILE), meta::render(doc).as_bytes())
    }
}

/// `review.md` for round 1, `review-rN.md` after.
pub fn artifact_name(round: usize) -> String {
    if round <= 1 {
        "review.md".into()
    } else {
        format!("review-r{round}.md")
    }
}

/// The round whose review `name` is (the inverse of [`artifact_name`]).
fn artifact_round(name: &str) -> Option<usize> {
    if name == "review.md" {
        return Some(1);
    }
    let n: usize = name
        .strip_prefix("review-r")?
        .strip_suffix(".md")?
        .parse()
        .ok()?;
    (n >= 2).then_some(n)
}

/// The first paragraph of a report, for the thread (the whole report is the artifact).
fn summary(report: &str) -> String {
    let first = report.trim().split("\n\n").next().unwrap_or("").trim();
    let mut s: String = first.chars().take(500).collect();
    if s.len() < first.len() {
        s.push('…');
    }
    s
}

/// A report may open with its own `Verdict:` line; it must then agree.
fn strip_verdict_line(report: &str, verdict: Verdict) -> Result<String> {
    let trimmed = report.trim_start();
    if let Some(rest) = trimmed.strip_prefix("Verdict:") {
        let (first, tail) = rest.split_once('\n').unwrap_or((rest, ""));
        let said = first.trim().to_ascii_lowercase().replace(' ', "-");
        if Verdict::parse(&said) != Some(verdict) {
            return Err(WorkError::Invalid(format!(
                "the report opens with `Verdict: {}` but the review gives {verdict}",
                first.trim()
            )));
        }
        return Ok(tail.trim_start_matches('\n').to_owned());
    }
    if report.trim().is_empty() {
        return Err(WorkError::Invalid("the review report is empty".into()));
    }
    Ok(report.to_owned())
}

/// Reads and parses `item.md` in `dir`.
pub fn read_doc(dir: &Path) -> Result<ItemDoc> {
    let p = dir.join(ITEM_FILE);
    let text = std::fs::read_to_string(&p).map_err(io_err("read", &p))?;
    meta::parse(&text).map_err(|f| f.into_error(&p))
}

/// Reads and parses `thread.md` in `dir` (a missing file is an empty thread).
pub fn read_thread(dir: &Path) -> Result<Thread> {
    let p = dir.join(THREAD_FILE);
    match std::fs::read_to_string(&p) {
        Ok(s) => Ok(thread::parse(&s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Thread::default()),
        Err(e) => Err(io_err("read", &p)(e)),
    }
}

/// The visible file names in `dir` (none when it is missing), in directory order.
fn list_files(dir: &Path) -> Result<Vec<String>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read", dir)(e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(io_err("read", dir))?;
        let n = e.file_name().to_string_lossy().into_owned();
        if !n.starts_with('.') {
            out.push(n);
        }
    }
    Ok(out)
}

/// Renames an item folder into another status folder; refuses to replace one.
pub fn move_dir(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        return Err(WorkError::Invalid(format!(
            "cannot move {} to {}: it exists (run `pod work doctor`)",
            from.display(),
            to.display()
        )));
    }
    let parent = to
        .parent()
        .ok_or_else(|| WorkError::Invalid(format!("{} has no parent", to.display())))?;
    std::fs::create_dir_all(parent).map_err(io_err("create", parent))?;
    std::fs::rename(from, to).map_err(io_err("move", from))?;
    durable::sync_dir(parent)?;
    if let Some(p) = from.parent() {
        durable::sync_dir(p)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_rounds_read_back_from_artifact_names() {
        for round in [1, 2, 10, 12] {
            assert_eq!(artifact_round(&artifact_name(round)), Some(round));
        }
        for other in [
            "review-r1.md",
            "review-rx.md",
            "reviewer.md",
            "notes.md",
            "review.txt",
        ] {
            assert_eq!(artifact_round(other), None, "{other}");
        }
    }
}
