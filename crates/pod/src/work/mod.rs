//! Work items in the Pod runtime (ARCHITECTURE §15): the grant that lets a Pod
//! write to one item ([`WorkGrant`]), the model-facing `work_*` tools
//! ([`tools`]), git worktrees and branches of items ([`git`]) and the workflow
//! that runs coder and reviewer Pods on an item ([`flow`]).
//!
//! The format and every write to `work-items/` belong to the `work-items` crate;
//! this module decides *who* may ask for which write.

pub mod flow;
pub mod git;
pub mod tools;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a Pod may do to its item through the `work_*` tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkRight {
    /// `work_comment`.
    Comment,
    /// `work_review` (writes `artifacts/review*.md` and the verdict event).
    Review,
    /// `work_status` (open or pending; closing is the merge's).
    Status,
}

impl WorkRight {
    /// Parses `comment`, `review` or `status`.
    pub fn parse(s: &str) -> anyhow::Result<WorkRight> {
        match s {
            "comment" => Ok(WorkRight::Comment),
            "review" => Ok(WorkRight::Review),
            "status" => Ok(WorkRight::Status),
            _ => anyhow::bail!("work right {s:?} is invalid: use comment, review or status"),
        }
    }
}

/// The narrow grant a Pod holds on the work-item store, kept in its manifest (so a
/// restore keeps it): read every item, and write to `item` only — its thread, and
/// with [`WorkRight::Review`] its `artifacts/` — only through the `work_*` tools,
/// whichever status folder the item is in. It is not file scope: the Pod's file
/// tools and shell still cannot write anywhere in `work-items/`, and two Pods may
/// hold a grant on one item (a coder comments while a reviewer reviews) because
/// every write goes through the item's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkGrant {
    /// The `work-items` folder (canonical).
    pub store: PathBuf,
    /// The id of the item the Pod may write to (`None`: read only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// What it may do there.
    #[serde(default)]
    pub rights: Vec<WorkRight>,
}

impl WorkGrant {
    /// Whether the grant allows `right` on item `id`.
    pub fn allows(&self, id: &str, right: WorkRight) -> bool {
        self.item.as_deref() == Some(id) && self.rights.contains(&right)
    }
}

/// The repository root of `dir`: the *main* worktree's top level even when `dir` is
/// inside a linked worktree (items live in the main tree), else the nearest
/// ancestor holding `work-items/`, else `dir`.
pub fn repo_root(dir: &Path) -> PathBuf {
    if let Some(common) = git::common_dir(dir)
        && let Some(top) = common.parent()
        && common.file_name().is_some_and(|n| n == ".git")
    {
        return top.to_path_buf();
    }
    dir.ancestors()
        .find(|a| a.join(work_items::DIR_NAME).is_dir())
        .unwrap_or(dir)
        .to_path_buf()
}

/// The grant for item `item` (id or slug) of the repository around `cwd`.
pub fn grant_for(cwd: &Path, item: &str, rights: &[String]) -> anyhow::Result<WorkGrant> {
    let repo = repo_root(cwd);
    let store = work_items::Store::open(repo.join(work_items::DIR_NAME))?;
    let id = store.resolve(item)?;
    let root = scope::canonicalize(store.root())?.as_path().to_path_buf();
    let mut rights = rights
        .iter()
        .map(|r| WorkRight::parse(r))
        .collect::<anyhow::Result<Vec<_>>>()?;
    rights.sort();
    rights.dedup();
    Ok(WorkGrant {
        store: root,
        item: Some(id.to_string()),
        rights,
    })
}
