//! Regions of the filesystem tree and their set algebra.
//!
//! A region is the set of paths a rule covers: a whole subtree, a directory with its
//! direct children, or one path (which only arises as an intersection). All tests are
//! component-wise through `Path::starts_with`, so `/src` never contains `/srcx`.

use std::path::Path;

use crate::rule::ScopeRule;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Region<'a> {
    /// The path and everything below it.
    Tree(&'a Path),
    /// The path and its direct children.
    Dir(&'a Path),
    /// Exactly one path.
    Point(&'a Path),
}

impl<'a> Region<'a> {
    pub(crate) fn contains(&self, p: &Path) -> bool {
        match *self {
            Region::Tree(r) => p.starts_with(r),
            Region::Dir(r) => p == r || p.parent() == Some(r),
            Region::Point(r) => p == r,
        }
    }

    /// Subset test. A subtree is never inside a `Dir` or `Point`, because its
    /// descendants are unbounded; that is conservative for files, exact for dirs.
    pub(crate) fn contains_region(&self, o: &Region<'_>) -> bool {
        match (*self, *o) {
            (Region::Tree(a), Region::Tree(b) | Region::Dir(b) | Region::Point(b)) => {
                b.starts_with(a)
            }
            (Region::Dir(a), Region::Dir(b)) => a == b,
            (Region::Dir(_), Region::Point(b)) => self.contains(b),
            (Region::Point(a), Region::Point(b)) => a == b,
            (Region::Dir(_) | Region::Point(_), Region::Tree(_))
            | (Region::Point(_), Region::Dir(_)) => false,
        }
    }

    /// The intersection, when not empty.
    pub(crate) fn intersect(&self, o: &Region<'a>) -> Option<Region<'a>> {
        use Region::*;
        match (*self, *o) {
            (Point(p), r) | (r, Point(p)) => r.contains(p).then_some(Point(p)),
            (Tree(a), Tree(b)) => {
                if b.starts_with(a) {
                    Some(Tree(b))
                } else if a.starts_with(b) {
                    Some(Tree(a))
                } else {
                    None
                }
            }
            (Tree(t), Dir(d)) | (Dir(d), Tree(t)) => {
                if d.starts_with(t) {
                    Some(Dir(d))
                } else if t.parent() == Some(d) {
                    Some(Point(t)) // the subtree root is one of the dir's children
                } else {
                    None
                }
            }
            (Dir(a), Dir(b)) => {
                if a == b {
                    Some(Dir(a))
                } else if a.parent() == Some(b) {
                    Some(Point(a))
                } else if b.parent() == Some(a) {
                    Some(Point(b))
                } else {
                    None
                }
            }
        }
    }

    /// Whether the union of `cover` contains this whole region. Only a single rule
    /// can cover a `Tree` or `Dir` (their children are unbounded), so checking rules
    /// one by one is exact.
    pub(crate) fn covered_by_any<'b>(
        &self,
        cover: impl IntoIterator<Item = &'b ScopeRule>,
    ) -> bool {
        cover.into_iter().any(|r| r.region().contains_region(self))
    }
}

/// Whether two rules' regions share at least one path (access is ignored).
pub fn overlaps(a: &ScopeRule, b: &ScopeRule) -> bool {
    a.region().intersect(&b.region()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{Access, ScopeRule};

    fn r(p: &str, rec: bool) -> ScopeRule {
        ScopeRule::trusted(p, Access::Write, rec).unwrap()
    }

    #[test]
    fn src_does_not_cover_srcx() {
        assert!(!r("/src", true).covers(Path::new("/srcx")));
        assert!(!r("/src", true).covers(Path::new("/srcx/a")));
        assert!(r("/src", true).covers(Path::new("/src/a/b")));
        assert!(!overlaps(&r("/src", true), &r("/srcx", true)));
    }

    #[test]
    fn non_recursive_covers_path_and_direct_children_only() {
        let d = r("/w", false);
        assert!(d.covers(Path::new("/w")));
        assert!(d.covers(Path::new("/w/a")));
        assert!(!d.covers(Path::new("/w/a/b")));
        assert!(overlaps(&d, &r("/w/a", true))); // shares /w/a itself
        assert!(!overlaps(&d, &r("/w/a/b", true)));
        assert!(overlaps(&r("/w/a", false), &d));
        assert!(!overlaps(&r("/w/a", false), &r("/w/b", false)));
    }
}
