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
    let root = std::fs::symlink_metadata(region)?;
    let mut seen: HashMap<(u64, u64), (PathBuf, u64, u64)> = HashMap::new();
    let mut visit = |p: &Path, m: &std::fs::Metadata| {
        if m.is_file() && m.nlink() > 1 {
            let e = seen
                .entry((m.dev(), m.ino()))
                .or_insert_with(|| (p.to_owned(), m.nlink(), 0));
            e.2 += 1;
        }
    };
    if root.is_dir() {
        let mut stack = vec![region.to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let m = entry.metadata()?; // lstat: symlinks are not followed
                if m.is_dir() {
                    if m.dev() == root.dev() {
                        stack.push(entry.path());
                    }
                } else {
                    visit(&entry.path(), &m);
                }
            }
        }
    } else {
        visit(region, &root);
    }
    let mut out: Vec<LinkLeaving> = seen
        .into_values()
        .filter(|(_, links, inside)| inside < links)
        .map(|(path, links, inside)| LinkLeaving {
            path,
            links,
            inside,
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
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
    }
}
