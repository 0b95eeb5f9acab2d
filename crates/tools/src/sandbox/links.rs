//! Hard links leaving a region: files inside it with other names outside it.
//!
//! Landlock decides by the path a file is opened through, so a writable name of
//! an inode makes the inode writable, whatever its other names. A file under a
//! region delegated to a child with a second name in the parent's area (or
//! outside every scope) would let one side write the other's file. The runtime
//! calls [`links_leaving`] at delegation and refuses such a region.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A regular file inside the region whose inode has names outside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkLeaving {
    /// One name of the inode inside the region.
    pub path: PathBuf,
    /// The inode's link count.
    pub links: u64,
    /// How many of its names are inside the region.
    pub inside: u64,
}

/// Regular files under `region` (walked without following symlinks, not crossing
/// into other filesystems: a link cannot cross them) that have more links than
/// names found inside `region`, i.e. a name elsewhere. Unreadable directories are
/// reported as an error: a region that cannot be checked cannot be called clean.
pub fn links_leaving(region: &Path) -> std::io::Result<Vec<LinkLeaving>> {
    let found = scan(&[region.to_owned()], usize::MAX, true)?.unwrap_or_default();
    let mut out: Vec<LinkLeaving> = found
        .into_values()
        .filter(|n| n.inside < n.links)
        .map(|n| LinkLeaving {
            path: n.first,
            links: n.links,
            inside: n.inside,
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Every name under `roots` of a multi-linked regular file that has names
/// outside all of `roots`: what the mount layer makes read-only so the shell
/// cannot write through them. `None` when the roots hold more than `budget`
/// entries (the scan is per shell call, so a huge tree is not walked).
/// Unreadable directories are skipped (their entries cannot be opened by name
/// either).
pub(crate) fn names_leaving(roots: &[PathBuf], budget: usize) -> Option<Vec<PathBuf>> {
    let found = scan(roots, budget, false).ok()??;
    let mut out: Vec<PathBuf> = found
        .into_values()
        .filter(|n| n.inside < n.links)
        .flat_map(|n| n.names)
        .collect();
    out.sort();
    Some(out)
}

/// Names found of one multi-linked inode.
#[derive(Default)]
struct Names {
    first: PathBuf,
    names: Vec<PathBuf>,
    links: u64,
    inside: u64,
}

/// Walks `roots`; `Ok(None)` past `budget` entries. `strict`: an unreadable
/// directory is an error rather than skipped.
fn scan(
    roots: &[PathBuf],
    budget: usize,
    strict: bool,
) -> std::io::Result<Option<HashMap<(u64, u64), Names>>> {
    let mut seen: HashMap<(u64, u64), Names> = HashMap::new();
    let mut visit = |p: &Path, m: &std::fs::Metadata| {
        if m.is_file() && m.nlink() > 1 {
            let n = seen.entry((m.dev(), m.ino())).or_insert_with(|| Names {
                first: p.to_owned(),
                links: m.nlink(),
                ..Names::default()
            });
            n.inside += 1;
            n.names.push(p.to_owned());
        }
    };
    let mut entries = 0usize;
    for root in roots {
        let meta = match std::fs::symlink_metadata(root) {
            Ok(m) => m,
            Err(e) if strict => return Err(e),
            Err(_) => continue,
        };
        if !meta.is_dir() {
            visit(root, &meta);
            continue;
        }
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let list = match std::fs::read_dir(&dir) {
                Ok(l) => l,
                Err(e) if strict => return Err(e),
                Err(_) => continue,
            };
            for entry in list {
                entries += 1;
                if entries > budget {
                    return Ok(None);
                }
                let (path, m) = match entry.and_then(|e| Ok((e.path(), e.metadata()?))) {
                    Ok(x) => x,
                    Err(e) if strict => return Err(e),
                    Err(_) => continue,
                };
                // lstat: symlinks are not followed; other filesystems are not
                // entered (no link crosses them).
                if m.is_dir() {
                    if m.dev() == meta.dev() {
                        stack.push(path);
                    }
                } else {
                    visit(&path, &m);
                }
            }
        }
    }
    Ok(Some(seen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_links_with_a_name_outside_the_region_are_reported() {
        let t = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(t.path()).unwrap();
        let region = base.join("region");
        std::fs::create_dir_all(region.join("sub")).unwrap();
        std::fs::write(base.join("outside"), "x").unwrap();
        std::fs::hard_link(base.join("outside"), region.join("sub/leaves")).unwrap();
        std::fs::write(region.join("a"), "y").unwrap();
        std::fs::hard_link(region.join("a"), region.join("sub/b")).unwrap(); // both inside
        std::fs::write(region.join("single"), "z").unwrap();
        let found = links_leaving(&region).unwrap();
        assert_eq!(
            found,
            vec![LinkLeaving {
                path: region.join("sub/leaves"),
                links: 2,
                inside: 1
            }]
        );
        assert!(links_leaving(&region.join("sub/b")).unwrap().len() == 1);
        // Across several roots: a pair split between two roots stays inside.
        let names = names_leaving(&[region.join("sub"), region.join("a")], 1000).unwrap();
        assert_eq!(names, vec![region.join("sub/leaves")]);
        assert_eq!(names_leaving(std::slice::from_ref(&region), 2), None);
    }
}
