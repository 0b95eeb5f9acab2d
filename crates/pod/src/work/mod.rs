//! Work items in the Pod runtime (ARCHITECTURE §15): the grant that lets a Pod
//! write to one item ([`WorkGrant`]), the model-facing `work_*` tools
//! ([`tools`]), git worktrees and branches of items ([`git`]) and the workflow
//! that runs coder and reviewer Pods on an item ([`flow`], and [`lead`]: the
//! deterministic driver of a `pod work run` lead Pod).
//!
//! The format and every write to `work-items/` belong to the `work-items` crate;
//! this module decides *who* may ask for which write.

pub mod flow;
pub mod git;
pub mod lead;
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
    /// With [`WorkRight::Review`]: the one review (round number) this grant may
    /// write. A reviewer of round N resumed after a crash can then not add a
    /// second verdict: the store refuses a review whose round is not this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<usize>,
}

impl WorkGrant {
    /// Whether the grant allows `right` on item `id`.
    pub fn allows(&self, id: &str, right: WorkRight) -> bool {
        self.item.as_deref() == Some(id) && self.rights.contains(&right)
    }

    /// The grant a parent holding `self` may hand a child: same store and item,
    /// rights a subset of ours, and a review round only where ours allows it.
    /// Anything wider is refused, naming what.
    pub fn delegate(&self, ask: &WorkDelegation) -> Result<WorkGrant, String> {
        let Some(ours) = self.item.as_deref() else {
            return Err("work: your work grant is read-only; you cannot delegate one".into());
        };
        if let Some(item) = ask.item.as_deref() {
            let resolved = work_items::Store::open(&self.store)
                .and_then(|s| s.resolve(item))
                .map_err(|e| format!("work: {e}"))?;
            if resolved.to_string() != ours {
                return Err(format!(
                    "work: item {item:?} is not yours to delegate: your grant is on {ours}"
                ));
            }
        }
        let mut rights = Vec::new();
        for r in &ask.rights {
            let r = WorkRight::parse(r).map_err(|e| format!("work: {e}"))?;
            if !self.rights.contains(&r) {
                return Err(format!(
                    "work: right {r:?} is more than yours ({:?}) on {ours}",
                    self.rights
                ));
            }
            rights.push(r);
        }
        rights.sort();
        rights.dedup();
        let round = match (self.round, ask.round) {
            (Some(mine), Some(r)) if mine != r => {
                return Err(format!(
                    "work: you may write review round {mine} only, not {r}"
                ));
            }
            (mine, r) => r.or(mine),
        };
        let round = round.filter(|_| rights.contains(&WorkRight::Review));
        Ok(WorkGrant {
            store: self.store.clone(),
            item: Some(ours.to_owned()),
            rights,
            round,
        })
    }
}

/// What a parent asks for when it gives a child part of its work grant
/// (`spawn_pod`'s `work`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkDelegation {
    /// The item (id or slug; default: the parent's).
    #[serde(default)]
    pub item: Option<String>,
    /// `comment`, `review`, `status`: a subset of the parent's.
    #[serde(default)]
    pub rights: Vec<String>,
    /// With `review`: the only review round the child may write.
    #[serde(default)]
    pub round: Option<usize>,
}

/// Marks a Pod as the lead of `pod work run` (ARCHITECTURE §15): its driver is the
/// deterministic code in [`lead`], not a model. Kept in the manifest and the
/// grant, so a restore runs the same workflow and a hand edit cannot add one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// The item's id.
    pub item: String,
    /// Most reviews before the run ends blocking.
    pub rounds: usize,
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
        round: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(store: &work_items::Store, title: &str) -> String {
        store
            .create(&work_items::NewItem {
                title: title.into(),
                kind: None,
                priority: None,
                labels: vec![],
                body: String::new(),
                author: "t".into(),
            })
            .unwrap()
            .meta
            .id
            .to_string()
    }

    #[test]
    fn a_child_gets_at_most_its_parents_work_grant() {
        let d = tempfile::tempdir().unwrap();
        let store = work_items::Store::init(d.path().join("work-items")).unwrap();
        let mine = item(&store, "Mine");
        let other = item(&store, "Other");
        let parent = WorkGrant {
            store: store.root().to_path_buf(),
            item: Some(mine.clone()),
            rights: vec![WorkRight::Comment, WorkRight::Review],
            round: None,
        };
        let ask = |item: Option<&str>, rights: &[&str], round| WorkDelegation {
            item: item.map(str::to_owned),
            rights: rights.iter().map(|r| r.to_string()).collect(),
            round,
        };
        // A subset, by slug or by default; the round kept only with `review`.
        let g = parent
            .delegate(&ask(Some("mine"), &["review"], Some(2)))
            .unwrap();
        assert_eq!(
            (g.item.as_deref(), g.rights.as_slice(), g.round),
            (Some(mine.as_str()), &[WorkRight::Review][..], Some(2))
        );
        let g = parent.delegate(&ask(None, &["comment"], Some(2))).unwrap();
        assert_eq!(
            (g.rights.as_slice(), g.round),
            (&[WorkRight::Comment][..], None)
        );
        // Wider: another item, a right the parent lacks, another round.
        let e = parent
            .delegate(&ask(Some(&other), &["comment"], None))
            .unwrap_err();
        assert!(e.contains("not yours") && e.contains(&mine), "{e}");
        let e = parent.delegate(&ask(None, &["status"], None)).unwrap_err();
        assert!(e.contains("Status") && e.contains("more than yours"), "{e}");
        let narrow = WorkGrant {
            round: Some(1),
            ..parent.clone()
        };
        let e = narrow
            .delegate(&ask(None, &["review"], Some(2)))
            .unwrap_err();
        assert!(e.contains("round 1 only"), "{e}");
        let read_only = WorkGrant {
            item: None,
            ..parent
        };
        assert!(read_only.delegate(&ask(None, &[], None)).is_err());
    }
}
