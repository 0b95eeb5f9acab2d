//! The git commands behind worktrees, branches and merges of work items: plain
//! `git` processes (the repository's own configuration, hooks and credentials
//! apply, as when the user types them), each failure reported with git's stderr.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Runs `git -C dir ARGS`, returning trimmed stdout; a failure carries stderr.
pub fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .with_context(|| format!("cannot run git in {}", dir.display()))?;
    if !out.status.success() {
        bail!(
            "git {} failed in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
}

/// The repository's common git dir (absolute), if `dir` is in a repository.
pub fn common_dir(dir: &Path) -> Option<PathBuf> {
    git(
        dir,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    )
    .ok()
    .map(PathBuf::from)
}

/// An item's own folder, `.worktrees/<slug>`: the write scope of its `pod work
/// run` lead, which holds the worktree inside it. A Pod delegates only a strict
/// part of its write scope (ARCHITECTURE §4), so the lead needs a folder strictly
/// around the worktree it hands to the coder.
pub fn item_dir(repo: &Path, slug: &str) -> PathBuf {
    repo.join(".worktrees").join(slug)
}

/// Folder of an item's worktree, `.worktrees/<slug>/<slug>` (the last part names
/// git's admin dir of the worktree, so it stays the slug).
pub fn worktree_path(repo: &Path, slug: &str) -> PathBuf {
    item_dir(repo, slug).join(slug)
}

/// Removes `.worktrees/<slug>` the safe way: `git worktree remove` (which refuses
/// a worktree with changes) on the worktree inside it, or on the folder itself
/// when it is a worktree (made by hand), then the folder if it is empty.
pub fn remove_item_dir(repo: &Path, dir: &Path) -> anyhow::Result<()> {
    let inner = dir.join(dir.file_name().unwrap_or_default());
    for wt in [&inner, &dir.to_path_buf()] {
        if wt.join(".git").exists() {
            git(repo, &["worktree", "remove", &wt.to_string_lossy()])?;
        }
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot remove {}", dir.display()))),
    }
}

/// Branch of an item.
pub fn branch_name(slug: &str) -> String {
    format!("work/{slug}")
}

/// Whether `branch` exists.
pub fn branch_exists(repo: &Path, branch: &str) -> bool {
    git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ],
    )
    .is_ok()
}

/// Branches `work/*`, without the prefix.
pub fn work_branches(repo: &Path) -> Vec<String> {
    git(
        repo,
        &[
            "for-each-ref",
            "--format=%(refname:short)",
            "refs/heads/work/",
        ],
    )
    .map(|s| {
        s.lines()
            .filter_map(|l| l.strip_prefix("work/"))
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// Changes in the main tree that a merge must not run over: everything `git
/// status` reports except `work-items/` (the items' own files change all along)
/// and `.worktrees/`.
pub fn dirty_paths(repo: &Path) -> anyhow::Result<Vec<String>> {
    let s = git(repo, &["status", "--porcelain", "--untracked-files=all"])?;
    Ok(s.lines()
        .filter_map(|l| l.get(3..))
        .filter(|p| !p.starts_with("work-items/") && !p.starts_with(".worktrees/"))
        .map(str::to_owned)
        .collect())
}

/// Runs git on an item's worktree the way the coder cannot redirect: with the git
/// dir the *main* repository keeps for it (`<common>/worktrees/<name>`), never the
/// worktree's `.git` file, which lies inside the coder's write scope (pointed at a
/// directory of its own, it would bring a config whose `core.fsmonitor` or aliases
/// run commands as the user, outside any sandbox). fsmonitor is off for the same
/// reason.
pub fn in_worktree(repo: &Path, wt: &Path, args: &[&str]) -> anyhow::Result<String> {
    let common = common_dir(repo)
        .ok_or_else(|| anyhow::anyhow!("{} is not a git repository", repo.display()))?;
    let name = wt
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("{} has no name", wt.display()))?;
    let admin = common.join("worktrees").join(name);
    // The admin dir records where its worktree is; it must be this one.
    let recorded = std::fs::read_to_string(admin.join("gitdir"))
        .with_context(|| format!("{} is not a worktree of {}", wt.display(), repo.display()))?;
    let expected = wt.join(".git");
    if Path::new(recorded.trim()) != expected {
        bail!(
            "the worktree admin dir {} belongs to {}, not {}",
            admin.display(),
            recorded.trim(),
            wt.display()
        );
    }
    let git_dir = format!("--git-dir={}", admin.display());
    let work_tree = format!("--work-tree={}", wt.display());
    let mut full: Vec<&str> = vec![&git_dir, &work_tree, "-c", "core.fsmonitor=false"];
    full.extend_from_slice(args);
    git(wt, &full)
}
