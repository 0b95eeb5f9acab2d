//! Reading a repository's work items for the work-items view, through the
//! `work-items` crate (its format and locking stay there; this only reads).

use std::path::{Path, PathBuf};

use work_items::store::ARTIFACTS_DIR;
use work_items::{DIR_NAME, Store, WorkError};

use crate::work_view::{Listing, Opened, WorkQuery, WorkRow, WorkSnapshot};

/// Artifacts larger than this are shown cut (a review report is a few KiB; a
/// stray log must not stall the view).
const ARTIFACT_MAX: u64 = 256 * 1024;

/// The repository root of `dir` the way `pod work` finds it: the *main*
/// worktree's top level when `dir` is in a git repository (a coder Pod's cwd is a
/// linked worktree, but its items live in the main tree), else the nearest
/// ancestor holding `work-items/`, else `dir`. Runs git once per opened view.
fn repo_root(dir: &Path) -> PathBuf {
    let common = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(common) = common
        && common.file_name().is_some_and(|n| n == ".git")
        && let Some(top) = common.parent()
    {
        return top.to_path_buf();
    }
    dir.ancestors()
        .find(|a| a.join(DIR_NAME).is_dir())
        .unwrap_or(dir)
        .to_path_buf()
}

/// One read: every folder under the status folders (a damaged item keeps its
/// place with its error), and the artifact texts of the item `q.open`.
pub fn load(q: &WorkQuery) -> WorkSnapshot {
    let repo = q.repo.clone().unwrap_or_else(|| repo_root(&q.from));
    let root = repo.join(DIR_NAME);
    // Work grants record the canonical store path; compare like with like.
    let store_path = std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
    let mut opened = None;
    let listing = match Store::open(&root) {
        Err(WorkError::NotInitialised(_)) => Listing::NotInitialised,
        Err(e) => Listing::Failed(e.to_string()),
        Ok(store) => match store.entries() {
            Err(e) => Listing::Failed(e.to_string()),
            Ok(entries) => {
                let mut rows: Vec<WorkRow> = entries
                    .into_iter()
                    // `.gitkeep` and other dot files are the layout's, not items.
                    .filter(|e| !e.name.starts_with('.') && e.dir.is_dir())
                    .map(|e| WorkRow {
                        folder: e.folder,
                        // The row says which item; the error keeps the file name.
                        item: store.load_dir(&e.dir).map_err(|err| {
                            err.to_string()
                                .replace(&format!("{}/", e.dir.display()), "")
                        }),
                        name: e.name,
                    })
                    .collect();
                // Open, pending, closed (the enum's order); oldest first within.
                rows.sort_by(|a, b| (a.folder, &a.name).cmp(&(b.folder, &b.name)));
                opened = q.open.as_ref().and_then(|name| {
                    let row = rows.iter().find(|r| &r.name == name)?;
                    let item = row.item.as_ref().ok()?;
                    Some(Opened {
                        name: name.clone(),
                        artifacts: item
                            .artifacts
                            .iter()
                            .map(|a| {
                                (
                                    a.clone(),
                                    read_capped(&item.dir.join(ARTIFACTS_DIR).join(a)),
                                )
                            })
                            .collect(),
                    })
                });
                Listing::Items(rows)
            }
        },
    };
    WorkSnapshot {
        repo,
        store: store_path,
        listing,
        opened,
    }
}

/// `path` as text, at most [`ARTIFACT_MAX`] bytes of it (saying so when cut).
fn read_capped(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let f =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    f.take(ARTIFACT_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let cut = bytes.len() as u64 > ARTIFACT_MAX;
    bytes.truncate(ARTIFACT_MAX as usize);
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if cut {
        text.push_str(&format!(
            "\n\n… cut at {} KiB: read the whole file at {}",
            ARTIFACT_MAX / 1024,
            path.display()
        ));
    }
    Ok(text)
}
