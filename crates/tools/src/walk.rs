//! The directory walk shared by `glob` and `grep`: `.gitignore`-aware (ripgrep's
//! `ignore` crate), never descending into `.git`, `target` or `node_modules`, never
//! following symlinks, and never entering a region the scope denies.
//!
//! Bounded like every reader (issue 19): the `ignore` crate opens each
//! directory's `.gitignore`/`.ignore` (and a repository's `.git` pointer file and
//! `.git/info/exclude`) itself, blocking and without a size limit, following
//! symlinks. A FIFO there would hang the walk, a link to `/dev/zero` grow it
//! without end. So before the walk enters a directory its ignore files are
//! checked with `lstat` (missing, or a regular file of at most
//! [`IGNORE_FILE_MAX_BYTES`]); a directory failing the check is skipped and
//! reported. Residual: a file swapped between that `lstat` and the crate's open.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ignore::WalkBuilder;
use scope::Scope;

/// Largest ignore file the walk lets the `ignore` crate read.
pub const IGNORE_FILE_MAX_BYTES: u64 = 1024 * 1024;

/// Directories the walk skipped, with the reason (shared with the walk's threads).
pub(crate) type SkippedDirs = Arc<Mutex<Vec<(PathBuf, String)>>>;

/// Why the ignore files of `dir` are unsafe for the `ignore` crate to read, if
/// they are.
fn unsafe_ignore_file(dir: &Path) -> Option<String> {
    let check = |p: PathBuf| -> Option<String> {
        match std::fs::symlink_metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(format!("{}: {e}", p.display())),
            Ok(m) if m.is_file() && m.len() <= IGNORE_FILE_MAX_BYTES => None,
            Ok(m) if m.is_file() => Some(format!(
                "{} is over {IGNORE_FILE_MAX_BYTES} bytes",
                p.display()
            )),
            Ok(_) => Some(format!(
                "{} is not a regular file (symlink, FIFO, socket or device)",
                p.display()
            )),
        }
    };
    let git = dir.join(".git");
    let git_files = match std::fs::symlink_metadata(&git) {
        Ok(m) if m.is_dir() => vec![git.join("info/exclude")],
        _ => vec![git],
    };
    [dir.join(".gitignore"), dir.join(".ignore")]
        .into_iter()
        .chain(git_files)
        .find_map(check)
}

/// Directory names never walked: VCS internals and build/dependency output, which
/// dwarf the source and are rarely what the model is looking for.
pub const SKIPPED_DIRS: &[&str] = &[".git", "target", "node_modules"];

/// A walker over `base` (canonical) with the shared filters.
///
/// Symlinks are not followed, so every path the walk yields is physical, i.e.
/// canonical, and `scope.can_read` on it is exact. Hidden files are included (a
/// model often needs `.github/` or `.cargo/config.toml`); `.gitignore` applies even
/// outside a git repository.
///
/// Directories skipped because of their ignore files are pushed to the returned
/// list. If `base` or one of its ancestors has such a file, the walk reads no
/// ignore files of that kind at all (base) or none of the ancestors' (parents).
pub(crate) fn walker(base: &Path, scope: &Scope) -> (WalkBuilder, SkippedDirs) {
    let mut b = WalkBuilder::new(base);
    b.hidden(false)
        .follow_links(false)
        .require_git(false)
        .git_global(false);
    let skipped_dirs: SkippedDirs = Arc::default();
    if let Some(why) = unsafe_ignore_file(base) {
        b.git_ignore(false)
            .ignore(false)
            .git_exclude(false)
            .parents(false);
        push(
            &skipped_dirs,
            base,
            format!("ignore files not applied: {why}"),
        );
    } else if base
        .ancestors()
        .skip(1)
        .any(|a| unsafe_ignore_file(a).is_some())
    {
        b.parents(false);
    }
    let scope = scope.clone();
    let skipped = skipped_dirs.clone();
    b.filter_entry(move |e| {
        let is_dir = e.file_type().is_some_and(|t| t.is_dir());
        let by_name = is_dir
            && e.file_name()
                .to_str()
                .is_some_and(|n| SKIPPED_DIRS.contains(&n));
        if by_name || !scope.can_read(e.path()) {
            return false;
        }
        // Checked before the walk descends (and the crate reads them).
        if is_dir && let Some(why) = unsafe_ignore_file(e.path()) {
            push(&skipped, e.path(), why);
            return false;
        }
        true
    });
    (b, skipped_dirs)
}

fn push(list: &SkippedDirs, dir: &Path, why: String) {
    let mut l = list.lock().unwrap_or_else(|p| p.into_inner());
    l.push((dir.to_owned(), why));
}
