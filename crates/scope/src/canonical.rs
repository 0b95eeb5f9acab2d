//! Canonical paths: made once at ingress, compared byte for byte everywhere after.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::rule::ScopeError;

/// Symlink hops allowed while resolving one path (Linux uses 40 too).
const MAX_SYMLINK_HOPS: usize = 40;

/// An absolute path with no `.`/`..` components whose existing prefix had its
/// symlinks resolved when it was made.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CanonicalPath(PathBuf);

impl CanonicalPath {
    /// Accepts a path that is already in canonical *form* (absolute, no `.`/`..`, no
    /// trailing oddities) without touching the filesystem. For paths that were
    /// canonicalised earlier and stored; user input goes through [`canonicalize`].
    pub fn trusted(path: impl Into<PathBuf>) -> Result<CanonicalPath, ScopeError> {
        let path = path.into();
        if !path.is_absolute() {
            return Err(ScopeError::Relative { path });
        }
        if path
            .components()
            .any(|c| matches!(c, Component::CurDir | Component::ParentDir))
        {
            return Err(ScopeError::NotCanonical { path });
        }
        check_bytes(&path)?;
        // Rebuilding from components drops doubled and trailing slashes, so two
        // spellings of one canonical path cannot compare unequal.
        Ok(CanonicalPath(path.components().collect()))
    }

    /// The path.
    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// The parent, if any (the root has none).
    pub fn parent(&self) -> Option<&Path> {
        self.0.parent()
    }
}

impl AsRef<Path> for CanonicalPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl fmt::Display for CanonicalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.display(), f)
    }
}

impl fmt::Debug for CanonicalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<'de> Deserialize<'de> for CanonicalPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = PathBuf::deserialize(d)?;
        CanonicalPath::trusted(p).map_err(serde::de::Error::custom)
    }
}

/// Canonicalises user input (ARCHITECTURE §4): the path must be absolute; `.` is
/// dropped; symlinks in the existing prefix are resolved (also dangling ones, by
/// following their target); `..` inside the existing prefix goes to the physical
/// parent; the first missing component and everything after it are appended
/// literally; a `..` in that missing tail cannot be resolved and is rejected.
///
/// std's `fs::canonicalize` is not enough on its own: it fails on any missing
/// component, and scopes routinely name files that do not exist yet.
pub fn canonicalize(path: impl AsRef<Path>) -> Result<CanonicalPath, ScopeError> {
    let input = path.as_ref();
    if !input.is_absolute() {
        return Err(ScopeError::Relative {
            path: input.to_owned(),
        });
    }
    let mut pending: Vec<OsString> = Vec::new();
    push_components(input, &mut pending, input)?;
    pending.reverse(); // a stack: next component on top

    let mut cur = PathBuf::from("/");
    let mut missing_from: Option<usize> = None; // depth where the tail stopped existing
    let mut hops = 0;
    while let Some(comp) = pending.pop() {
        if comp == ".." {
            if missing_from.is_some() {
                return Err(ScopeError::DotDotEscape {
                    path: input.to_owned(),
                });
            }
            cur.pop(); // `cur` is physical, so its lexical parent is the real parent
            continue;
        }
        let next = cur.join(&comp);
        if missing_from.is_some() {
            cur = next;
            continue;
        }
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(ScopeError::SymlinkLoop {
                        path: input.to_owned(),
                    });
                }
                let target = std::fs::read_link(&next).map_err(|e| io_err(&next, e))?;
                let mut expanded = Vec::new();
                push_components(&target, &mut expanded, input)?;
                if target.is_absolute() {
                    cur = PathBuf::from("/");
                }
                pending.extend(expanded.into_iter().rev());
            }
            Ok(_) => cur = next,
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.kind() == io::ErrorKind::NotADirectory =>
            {
                missing_from = Some(cur.components().count());
                cur = next;
            }
            Err(e) => return Err(io_err(&next, e)),
        }
    }
    // Checked on the result: a symlink's target can bring in what the input lacked.
    check_bytes(&cur).map_err(|e| match e {
        ScopeError::InvalidBytes { problem, .. } => ScopeError::InvalidBytes {
            path: input.to_owned(),
            problem,
        },
        other => other,
    })?;
    Ok(CanonicalPath(cur))
}

/// Only paths that survive JSON (UTF-8) and `open` (no NUL) are scope paths.
fn check_bytes(path: &Path) -> Result<(), ScopeError> {
    let problem = match path.to_str() {
        None => "is not valid UTF-8",
        Some(s) if s.contains('\0') => "contains a NUL byte",
        Some(_) => return Ok(()),
    };
    Err(ScopeError::InvalidBytes {
        path: path.to_owned(),
        problem,
    })
}

fn push_components(p: &Path, out: &mut Vec<OsString>, input: &Path) -> Result<(), ScopeError> {
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => out.push("..".into()),
            Component::Normal(n) => out.push(n.to_owned()),
            Component::Prefix(_) => {
                return Err(ScopeError::NotCanonical {
                    path: input.to_owned(),
                });
            }
        }
    }
    Ok(())
}

fn io_err(path: &Path, e: io::Error) -> ScopeError {
    ScopeError::Io {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// Regression (fuzzing, issue 17): a non-UTF-8 path passed ingress and then could
    /// not be stored (the registry called its table corrupt); a NUL in a missing
    /// tail was stored and failed at every later open.
    #[test]
    fn paths_that_cannot_be_stored_or_opened_are_refused() {
        use std::os::unix::ffi::OsStrExt;
        let bad = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/\xff/x"));
        let e = canonicalize(bad).unwrap_err();
        assert!(matches!(e, ScopeError::InvalidBytes { .. }), "{e:?}");
        assert!(e.to_string().contains("not valid UTF-8"), "{e}");
        let nul = "/nonexistent-pods-dir/a\0b";
        let e = canonicalize(nul).unwrap_err();
        assert!(e.to_string().contains("NUL"), "{e}");
        assert!(CanonicalPath::trusted(nul).is_err());
        let dir = tempfile::tempdir().unwrap();
        symlink(bad, dir.path().join("l")).unwrap();
        let through = dir.path().join("l");
        assert!(matches!(
            canonicalize(&through),
            Err(ScopeError::InvalidBytes { .. })
        ));
    }

    #[test]
    fn relative_paths_are_rejected() {
        assert!(matches!(
            canonicalize("src/a"),
            Err(ScopeError::Relative { .. })
        ));
        assert!(matches!(
            CanonicalPath::trusted("a"),
            Err(ScopeError::Relative { .. })
        ));
    }

    #[test]
    fn missing_tail_is_appended_and_dotdot_in_it_rejected() {
        let t = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(t.path()).unwrap();
        let p = canonicalize(root.join("new/./file.rs")).unwrap();
        assert_eq!(p.as_path(), root.join("new/file.rs"));
        let e = canonicalize(root.join("new/../../etc")).unwrap_err();
        assert!(matches!(e, ScopeError::DotDotEscape { .. }), "{e}");
    }

    #[test]
    fn dotdot_in_existing_prefix_goes_to_the_physical_parent() {
        let t = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(root.join("w/a")).unwrap();
        std::fs::create_dir_all(root.join("elsewhere/deep")).unwrap();
        assert_eq!(
            canonicalize(root.join("w/a/./../b")).unwrap().as_path(),
            root.join("w/b")
        );
        // through a symlink, `..` is the parent of the target, not of the link
        symlink(root.join("elsewhere/deep"), root.join("w/link")).unwrap();
        assert_eq!(
            canonicalize(root.join("w/link/../x")).unwrap().as_path(),
            root.join("elsewhere/x")
        );
    }

    #[test]
    fn symlink_inside_scope_pointing_outside_resolves_outside() {
        let t = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(root.join("w")).unwrap();
        std::fs::create_dir_all(root.join("outside")).unwrap();
        symlink(root.join("outside"), root.join("w/escape")).unwrap();
        let p = canonicalize(root.join("w/escape/secret")).unwrap();
        assert_eq!(p.as_path(), root.join("outside/secret"));
        // dangling links are followed too
        symlink(root.join("nowhere/x"), root.join("w/dangling")).unwrap();
        assert_eq!(
            canonicalize(root.join("w/dangling")).unwrap().as_path(),
            root.join("nowhere/x")
        );
        // relative link targets resolve against the link's directory
        symlink("../outside", root.join("w/rel")).unwrap();
        assert_eq!(
            canonicalize(root.join("w/rel/f")).unwrap().as_path(),
            root.join("outside/f")
        );
    }

    #[test]
    fn symlink_loops_are_an_error() {
        let t = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(t.path()).unwrap();
        symlink(root.join("b"), root.join("a")).unwrap();
        symlink(root.join("a"), root.join("b")).unwrap();
        assert!(matches!(
            canonicalize(root.join("a/x")),
            Err(ScopeError::SymlinkLoop { .. })
        ));
    }

    #[test]
    fn trusted_normalises_slashes_and_rejects_dots() {
        assert_eq!(
            CanonicalPath::trusted("/a//b/").unwrap().as_path(),
            Path::new("/a/b")
        );
        assert!(CanonicalPath::trusted("/a/../b").is_err());
        assert!(serde_json::from_str::<CanonicalPath>("\"/a/../b\"").is_err());
        // `.` is harmless lexically and is normalised away
        assert_eq!(
            CanonicalPath::trusted("/a/./b").unwrap().as_path(),
            Path::new("/a/b")
        );
    }

    proptest::proptest! {
        #[test]
        fn canonicalisation_is_idempotent(parts in proptest::collection::vec(
            proptest::sample::select(vec!["a", "b", "link", "up", "missing", ".", "..", "loop"]), 0..7)) {
            let t = tempfile::tempdir().unwrap();
            let root = std::fs::canonicalize(t.path()).unwrap();
            std::fs::create_dir_all(root.join("a/b")).unwrap();
            symlink(root.join("a/b"), root.join("a/link")).unwrap();
            symlink("..", root.join("a/up")).unwrap();
            symlink(root.join("a/loop"), root.join("a/loop")).unwrap();
            let mut p = root.join("a");
            for c in &parts { p.push(c); }
            if let Ok(once) = canonicalize(&p) {
                let twice = canonicalize(once.as_path()).unwrap();
                proptest::prop_assert_eq!(&once, &twice);
                proptest::prop_assert_eq!(CanonicalPath::trusted(once.as_path().to_owned()).unwrap(), once);
            }
        }
    }
}
