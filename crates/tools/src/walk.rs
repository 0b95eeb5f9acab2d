//! The directory walk shared by `glob` and `grep`: `.gitignore`-aware (ripgrep's
//! `ignore` crate), never descending into `.git`, `target` or `node_modules`, never
//! following symlinks, and never entering a region the scope denies.

use std::path::Path;

use ignore::WalkBuilder;
use scope::Scope;

/// Directory names never walked: VCS internals and build/dependency output, which
/// dwarf the source and are rarely what the model is looking for.
pub const SKIPPED_DIRS: &[&str] = &[".git", "target", "node_modules"];

/// A walker over `base` (canonical) with the shared filters.
///
/// Symlinks are not followed, so every path the walk yields is physical, i.e.
/// canonical, and `scope.can_read` on it is exact. Hidden files are included (a
/// model often needs `.github/` or `.cargo/config.toml`); `.gitignore` applies even
/// outside a git repository.
pub(crate) fn walker(base: &Path, scope: &Scope) -> WalkBuilder {
    let mut b = WalkBuilder::new(base);
    b.hidden(false)
        .follow_links(false)
        .require_git(false)
        .git_global(false);
    let scope = scope.clone();
    b.filter_entry(move |e| {
        let skipped = e.file_type().is_some_and(|t| t.is_dir())
            && e.file_name()
                .to_str()
                .is_some_and(|n| SKIPPED_DIRS.contains(&n));
        !skipped && scope.can_read(e.path())
    });
    b
}
