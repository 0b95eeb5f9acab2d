//! `doctor`: checks that the `work-items/` folder is consistent, and repairs what
//! can be repaired without losing anything.
//!
//! Safe repairs only: a missing front matter field that can be derived (from the
//! folder name, the folder, or a default), a folder in the wrong status folder
//! (moved to the front matter's status), leftovers of interrupted writes (removed:
//! they were never committed), and stray files (moved to `.quarantine/`, never
//! deleted). Duplicates, malformed events and missing artifacts need a person.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::durable::TMP_SUFFIX;
use crate::error::{Result, io_err};
use crate::id::ItemId;
use crate::meta::{self, ItemDoc, ItemMeta, ParseFailure, Status};
use crate::store::{
    ARTIFACTS_DIR, ITEM_FILE, LOCKS_DIR, NEW_PREFIX, QUARANTINE_DIR, RESOLUTION_FILE, Store,
    THREAD_FILE, move_dir, read_thread,
};

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Stable kind: `missing_field`, `invalid_field`, `no_front_matter`,
    /// `missing_item_file`, `bad_id`, `status_mismatch`, `duplicate_id`,
    /// `duplicate_slug`, `malformed_event`, `missing_thread`, `missing_artifact`,
    /// `missing_resolution`, `stray_file`, `leftover_temp` (and, from the CLI,
    /// `orphan_worktree`, `leftover_branch`).
    pub kind: String,
    /// The file or folder.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
    /// Whether `--fix` can repair it.
    pub fixable: bool,
    /// Whether this run repaired it.
    pub fixed: bool,
}

impl Problem {
    /// A finding.
    pub fn new(kind: &str, path: &Path, message: impl Into<String>, fixable: bool) -> Problem {
        Problem {
            kind: kind.into(),
            path: path.to_path_buf(),
            message: message.into(),
            fixable,
            fixed: false,
        }
    }
}

const ROOT_FILES: &[&str] = &[
    ".gitignore",
    "README.md",
    "config.toml",
    LOCKS_DIR,
    QUARANTINE_DIR,
    "open",
    "pending",
    "closed",
];
const ITEM_FILES: &[&str] = &[ITEM_FILE, THREAD_FILE, RESOLUTION_FILE, ARTIFACTS_DIR];

/// Checks the store; with `fix`, repairs the safe problems (marking them fixed).
pub fn check(store: &Store, fix: bool) -> Result<Vec<Problem>> {
    let mut out = Vec::new();
    root_files(store, fix, &mut out)?;
    let mut ids: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut slugs: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for e in store.entries()? {
        if e.name == ".gitkeep" {
            continue;
        }
        if e.name.ends_with(TMP_SUFFIX) {
            leftover(&e.dir, fix, &mut out)?;
            continue;
        }
        let Ok(id) = ItemId::new(&e.name) else {
            stray(
                store,
                &e.dir,
                "is not an item folder (its name is not an id YYYYMMDD-HHMMSS-slug)",
                fix,
                &mut out,
            )?;
            continue;
        };
        if !e.dir.is_dir() {
            stray(
                store,
                &e.dir,
                "is a file where item folders live",
                fix,
                &mut out,
            )?;
            continue;
        }
        ids.entry(id.to_string()).or_default().push(e.dir.clone());
        slugs
            .entry(id.slug().to_string())
            .or_default()
            .push(e.dir.clone());
        // Repairs of one item happen under its lock, like every other change.
        let _lock = if fix {
            Some(store.lock_item(&id)?)
        } else {
            None
        };
        item(store, &id, e.folder, &e.dir, fix, &mut out)?;
    }
    for (id, dirs) in ids.iter().filter(|(_, d)| d.len() > 1) {
        for d in dirs {
            out.push(Problem::new(
                "duplicate_id",
                d,
                format!("id {id} is used by {} folders", dirs.len()),
                false,
            ));
        }
    }
    for (slug, dirs) in slugs.iter().filter(|(_, d)| d.len() > 1) {
        let distinct: std::collections::BTreeSet<_> =
            dirs.iter().filter_map(|d| d.file_name()).collect();
        if distinct.len() > 1 {
            for d in dirs {
                out.push(Problem::new(
                    "duplicate_slug",
                    d,
                    format!("slug {slug} is used by {} items", distinct.len()),
                    false,
                ));
            }
        }
    }
    Ok(out)
}

fn root_files(store: &Store, fix: bool, out: &mut Vec<Problem>) -> Result<()> {
    let rd = std::fs::read_dir(store.root()).map_err(io_err("read", store.root()))?;
    for ent in rd {
        let ent = ent.map_err(io_err("read", store.root()))?;
        let name = ent.file_name().to_string_lossy().into_owned();
        let path = ent.path();
        if ROOT_FILES.contains(&name.as_str()) {
            continue;
        }
        if name.starts_with(NEW_PREFIX) || name.ends_with(TMP_SUFFIX) {
            leftover(&path, fix, out)?;
        } else {
            stray(store, &path, "does not belong in work-items/", fix, out)?;
        }
    }
    Ok(())
}

fn leftover(path: &Path, fix: bool, out: &mut Vec<Problem>) -> Result<()> {
    let mut p = Problem::new(
        "leftover_temp",
        path,
        "left over from an interrupted write",
        true,
    );
    if fix {
        if path.is_dir() {
            std::fs::remove_dir_all(path).map_err(io_err("remove", path))?;
        } else {
            std::fs::remove_file(path).map_err(io_err("remove", path))?;
        }
        p.fixed = true;
    }
    out.push(p);
    Ok(())
}

fn stray(store: &Store, path: &Path, why: &str, fix: bool, out: &mut Vec<Problem>) -> Result<()> {
    let mut p = Problem::new("stray_file", path, why, true);
    if fix {
        let rel = path.strip_prefix(store.root()).unwrap_or(path);
        let dest = store.root().join(QUARANTINE_DIR).join(rel);
        let dest = unused(&dest);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io_err("create", parent))?;
        }
        std::fs::rename(path, &dest).map_err(io_err("move to quarantine", path))?;
        p.message = format!("{why}; moved to {}", dest.display());
        p.fixed = true;
    }
    out.push(p);
    Ok(())
}

fn unused(p: &Path) -> PathBuf {
    let mut cand = p.to_path_buf();
    let mut n = 1;
    while cand.exists() {
        let mut s = p.as_os_str().to_owned();
        s.push(format!(".{n}"));
        cand = PathBuf::from(s);
        n += 1;
    }
    cand
}

fn item(
    store: &Store,
    id: &ItemId,
    folder: Status,
    dir: &Path,
    fix: bool,
    out: &mut Vec<Problem>,
) -> Result<()> {
    // Files in the item folder.
    let rd = std::fs::read_dir(dir).map_err(io_err("read", dir))?;
    let mut names = Vec::new();
    for ent in rd {
        let ent = ent.map_err(io_err("read", dir))?;
        names.push((ent.file_name().to_string_lossy().into_owned(), ent.path()));
    }
    for (name, path) in &names {
        if name.ends_with(TMP_SUFFIX) {
            leftover(path, fix, out)?;
        } else if !ITEM_FILES.contains(&name.as_str()) {
            stray(
                store,
                path,
                "does not belong in an item folder (item.md, thread.md, resolution.md, artifacts/)",
                fix,
                out,
            )?;
        }
    }
    let adir = dir.join(ARTIFACTS_DIR);
    if let Ok(rd) = std::fs::read_dir(&adir) {
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.ends_with(TMP_SUFFIX) {
                leftover(&ent.path(), fix, out)?;
            }
        }
    }
    // Front matter.
    let ip = dir.join(ITEM_FILE);
    let mut status = None;
    match std::fs::read_to_string(&ip) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            out.push(Problem::new(
                "missing_item_file",
                &ip,
                "the item has no item.md",
                false,
            ));
        }
        Err(e) => return Err(io_err("read", &ip)(e)),
        Ok(text) => match meta::parse(&text) {
            Ok(doc) => {
                if doc.meta.id != id.as_str() {
                    out.push(Problem::new(
                        "bad_id",
                        &ip,
                        format!(
                            "front matter id {:?} is not the folder name {id}",
                            doc.meta.id
                        ),
                        false,
                    ));
                }
                status = Some(doc.meta.status);
            }
            Err(ParseFailure::Fields {
                problems,
                map,
                body,
            }) => {
                let repairable = problems.iter().all(|p| p.missing && p.field != "title");
                let mut fixed = false;
                if fix && repairable {
                    let doc = derive(id, folder, &map, body);
                    store.rewrite_doc(dir, &doc)?;
                    status = Some(doc.meta.status);
                    fixed = true;
                }
                for p in problems {
                    let kind = if p.missing {
                        "missing_field"
                    } else {
                        "invalid_field"
                    };
                    let mut pr = Problem::new(kind, &ip, p.message, repairable);
                    pr.fixed = fixed;
                    out.push(pr);
                }
            }
            Err(f) => out.push(Problem::new("no_front_matter", &ip, f.describe(), false)),
        },
    }
    if let Some(s) = status
        && s != folder
    {
        let want = store.root().join(s.as_str()).join(id.as_str());
        let fixable = !want.exists();
        let mut p = Problem::new(
            "status_mismatch",
            dir,
            format!("front matter says {s} but the folder is in {folder}/"),
            fixable,
        );
        if fix && fixable {
            move_dir(dir, &want)?;
            p.message.push_str(&format!("; moved to {s}/"));
            p.fixed = true;
        }
        out.push(p);
    }
    let dir = &match status {
        Some(s) if fix && s != folder && !dir.exists() => {
            store.root().join(s.as_str()).join(id.as_str())
        }
        _ => dir.to_path_buf(),
    };
    // Thread.
    let tp = dir.join(THREAD_FILE);
    if !tp.exists() {
        out.push(Problem::new(
            "missing_thread",
            &tp,
            "the item has no thread.md",
            false,
        ));
    } else {
        let t = read_thread(dir)?;
        for pr in &t.problems {
            out.push(Problem::new(
                "malformed_event",
                &tp,
                format!("line {}: {}", pr.line, pr.message),
                false,
            ));
        }
        for ev in &t.events {
            if let Some(a) = ev.field("artifact")
                && !dir.join(a).is_file()
            {
                out.push(Problem::new(
                    "missing_artifact",
                    &dir.join(a),
                    format!(
                        "line {}: the {} event references {a}, which does not exist",
                        ev.line, ev.kind
                    ),
                    false,
                ));
            }
        }
    }
    if folder == Status::Closed
        && status == Some(Status::Closed)
        && !dir.join(RESOLUTION_FILE).exists()
    {
        out.push(Problem::new(
            "missing_resolution",
            dir,
            "a closed item has no resolution.md",
            false,
        ));
    }
    Ok(())
}

/// A front matter with every missing field filled from what is known.
fn derive(id: &ItemId, folder: Status, map: &serde_norway::Mapping, body: String) -> ItemDoc {
    let get = |k: &str| map.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let created = get("created_at").unwrap_or_else(|| meta::timestamp(id.created_at()));
    let extra = map
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.clone())))
        .filter(|(k, _)| !meta::FIELDS.contains(&k.as_str()))
        .collect();
    ItemDoc {
        meta: ItemMeta {
            id: get("id").unwrap_or_else(|| id.to_string()),
            slug: get("slug").unwrap_or_else(|| id.slug().to_string()),
            title: get("title").unwrap_or_default(),
            status: get("status").and_then(|s| s.parse().ok()).unwrap_or(folder),
            kind: get("kind").unwrap_or_else(|| "task".into()),
            priority: get("priority").unwrap_or_else(|| "normal".into()),
            labels: map
                .get("labels")
                .and_then(|v| serde_norway::from_value::<Option<Vec<String>>>(v.clone()).ok())
                .flatten()
                .unwrap_or_default(),
            updated_at: get("updated_at").unwrap_or_else(|| created.clone()),
            created_at: created,
            assignee: get("assignee"),
            extra,
        },
        body,
    }
}
