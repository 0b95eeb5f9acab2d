//! Path resolution for the file tools: a canonical scope check, then a capability
//! handle (`cap_std::fs::Dir`) on the allowed root, inside which the remainder is
//! opened.
//!
//! Two checks, each closing what the other leaves open:
//! - the canonical check (`scope::canonicalize` + `Scope::access_at`) sees deny
//!   rules and read-only regions *inside* an allowed root, which a handle on the
//!   root cannot express;
//! - the handle refuses any `..` or symlink that leaves the root *at the moment of
//!   use*, so a symlink swapped to point outside between check and open cannot
//!   escape. cap-std enforces this by construction (openat2 `RESOLVE_BENEATH` or
//!   its own component-wise walk), not by string checks.
//!
//! The file tools go one step further than the handle (`crate::beneath`): the
//! remainder is walked with no symlink followed at all, so a symlink swapped in
//! between check and use (even one pointing at a denied region inside the same
//! root) is refused, and every later step works on the fd that walk returned.

use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use rustix::fs::{Mode, OFlags};
use scope::{Access, Scope, canonicalize};

use crate::beneath::{
    ReadError, Regular, open_beneath, open_or_create_dirs, open_root, read_regular,
};
use crate::error::ToolError;

/// A target that passed the scope check, with the allowed root that will confine
/// the actual open.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// Canonical target.
    pub canonical: PathBuf,
    /// Canonical allowed root containing it (the handle is opened here).
    pub root: PathBuf,
    /// `canonical` relative to `root`; `.` when the target is the root itself.
    pub rel: PathBuf,
}

impl Resolved {
    /// Opens the capability handle on the allowed root.
    pub fn open_root(&self) -> Result<Dir, ToolError> {
        Dir::open_ambient_dir(&self.root, ambient_authority())
            .map_err(|e| ToolError::io("open allowed root", &self.root, &e))
    }

    /// Opens the allowed root as a plain `O_PATH` fd for the resolve-once walks.
    pub fn open_root_fd(&self) -> Result<OwnedFd, ToolError> {
        open_root(&self.root).map_err(|e| ToolError::io("open allowed root", &self.root, &e))
    }

    /// The target's file name and its parent directory's fd, walked once from the
    /// root without following symlinks. Every later step on the target (read,
    /// temp file, rename, cleanup) is relative to this fd.
    pub fn open_parent(&self) -> Result<(OwnedFd, OsString), ToolError> {
        self.open_parent_with(|dir, rel| {
            open_beneath(dir, rel, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
                .map_err(|e| self.err("open the parent directory of", &e))
        })
    }

    /// Like [`Resolved::open_parent`], creating missing parent directories; each
    /// one created must itself be writable in `scope` (a non-recursive deny on an
    /// ancestor forbids creating its direct children even though the target below
    /// is not covered).
    pub fn open_or_create_parent(&self, scope: &Scope) -> Result<(OwnedFd, OsString), ToolError> {
        self.open_parent_with(|dir, rel| {
            open_or_create_dirs(dir, rel, |prefix| {
                check_access(scope, &self.root.join(prefix), Access::Write)
                    .map_err(CreateError::Tool)
            })
            .map_err(|e| match e {
                CreateError::Tool(e) => e,
                CreateError::Io(e) => self.err("create the parent directory of", &e),
            })
        })
    }

    fn open_parent_with(
        &self,
        open: impl FnOnce(BorrowedFd<'_>, &Path) -> Result<OwnedFd, ToolError>,
    ) -> Result<(OwnedFd, OsString), ToolError> {
        let (Some(name), Some(parent)) = (self.rel.file_name(), self.rel.parent()) else {
            return Err(ToolError::Io {
                op: "write",
                path: self.canonical.clone(),
                message: "it is a directory (the allowed root itself)".into(),
            });
        };
        let root = self.open_root_fd()?;
        Ok((open(root.as_fd(), parent)?, name.to_owned()))
    }

    /// Reads the target, which must be a regular file of at most `limit` bytes
    /// (see `beneath::read_regular`: non-blocking open, type checked on the opened
    /// fd, at most `limit + 1` bytes read). `rel` is the target relative to `dir`.
    pub fn read_bounded(
        &self,
        dir: impl AsFd,
        rel: &Path,
        limit: u64,
        tool: &'static str,
        hint: &'static str,
    ) -> Result<Regular, ToolError> {
        read_regular(dir.as_fd(), rel, limit).map_err(|e| match e {
            ReadError::Io(e) => self.err("read", &e),
            ReadError::NotRegular(kind) => ToolError::Io {
                op: "read",
                path: self.canonical.clone(),
                message: format!(
                    "it is not a regular file but {kind}; {tool} only reads regular files{}",
                    if kind == "a directory" {
                        " (use list_dir or glob)"
                    } else {
                        ""
                    }
                ),
            },
            ReadError::TooLarge(size) => ToolError::TooLarge {
                path: self.canonical.clone(),
                size,
                limit,
                tool,
                hint,
            },
        })
    }

    /// Maps an error from an operation inside the handle: cap-std reports an
    /// attempted escape as `PermissionDenied` ("a path led outside of the
    /// filesystem"); the resolve-once walk as `EXDEV` (a `..` out of the root) or
    /// `ELOOP` (a symlink, which a canonical path cannot contain: it was swapped in
    /// after the check).
    pub fn err(&self, op: &'static str, e: &std::io::Error) -> ToolError {
        if e.raw_os_error() == Some(libc::ELOOP) || e.raw_os_error() == Some(libc::EXDEV) {
            ToolError::Escape {
                path: self.canonical.clone(),
                root: self.root.clone(),
                message: "a symlink or `..` appeared on the path after the scope check; it is not followed".into(),
            }
        } else if e.kind() == std::io::ErrorKind::PermissionDenied {
            ToolError::Escape {
                path: self.canonical.clone(),
                root: self.root.clone(),
                message: e.to_string(),
            }
        } else {
            ToolError::io(op, &self.canonical, e)
        }
    }
}

/// A failure while creating parent directories: the scope refused one, or I/O.
enum CreateError {
    Tool(ToolError),
    Io(std::io::Error),
}

impl From<ToolError> for CreateError {
    fn from(e: ToolError) -> CreateError {
        CreateError::Tool(e)
    }
}

impl From<std::io::Error> for CreateError {
    fn from(e: std::io::Error) -> CreateError {
        CreateError::Io(e)
    }
}

/// Resolves `input` (absolute, or relative to `cwd`) and checks that `scope` grants
/// `need` at the canonical target. Writing below a `.pods` component is refused
/// unless the allow rule itself lies inside it (the user granted that directory):
/// a project's configuration is the user's to change, never a Pod's (the walk
/// that follows opens exactly these components, no symlink followed).
pub(crate) fn resolve(
    scope: &Scope,
    cwd: &Path,
    input: &str,
    need: Access,
) -> Result<Resolved, ToolError> {
    let joined = cwd.join(input);
    let canonical = canonicalize(&joined)
        .map_err(|e| ToolError::BadPath {
            path: joined.clone(),
            message: e.to_string(),
        })?
        .as_path()
        .to_owned();
    check_access(scope, &canonical, need)?;
    // The most specific allow with enough access: the tightest handle.
    let root = scope
        .allow
        .iter()
        .filter(|r| r.access >= need && r.covers(&canonical))
        .map(|r| r.path.as_path())
        .max_by_key(|p| p.components().count())
        .ok_or_else(|| refusal(scope, &canonical, need))?
        .to_owned();
    let (root, rel) = match canonical.strip_prefix(&root) {
        // A rule naming a single file: the handle must be a directory, so it is
        // opened on the parent and the canonical check above did the narrowing.
        Ok(r) if r.as_os_str().is_empty() && !root.is_dir() => {
            match (root.parent(), root.file_name()) {
                (Some(parent), Some(name)) => (parent.to_owned(), PathBuf::from(name)),
                _ => return Err(refusal(scope, &canonical, need)),
            }
        }
        Ok(r) if r.as_os_str().is_empty() => (root.clone(), PathBuf::from(".")),
        Ok(r) => (root.clone(), r.to_owned()),
        Err(_) => return Err(refusal(scope, &canonical, need)),
    };
    if need == Access::Write
        && rel
            .components()
            .any(|c| c.as_os_str() == crate::PROJECT_CONFIG_DIR)
    {
        return Err(ToolError::OutOfScope {
            path: canonical,
            access: need,
            reason: format!(
                "{} directories hold project configuration, which no Pod writes unless the user grants that directory itself (--write DIR/{})",
                crate::PROJECT_CONFIG_DIR,
                crate::PROJECT_CONFIG_DIR
            ),
        });
    }
    Ok(Resolved {
        canonical,
        root,
        rel,
    })
}

/// Errors unless `scope` grants `need` at the canonical `path`.
pub(crate) fn check_access(scope: &Scope, path: &Path, need: Access) -> Result<(), ToolError> {
    match scope.access_at(path) {
        Some(a) if a >= need => Ok(()),
        _ => Err(refusal(scope, path, need)),
    }
}

/// Why `scope` refuses `need` at `path`, naming the rule responsible.
fn refusal(scope: &Scope, path: &Path, need: Access) -> ToolError {
    let reason = if let Some(d) = scope
        .deny
        .iter()
        .filter(|d| d.covers(path))
        .min_by_key(|d| d.access)
    {
        match d.access {
            Access::Read => format!("the path is denied to this Pod (deny {d})"),
            Access::Write => format!(
                "the path is read-only for this Pod (deny {d}; a region delegated to a child Pod is read-only for its parent)"
            ),
        }
    } else if let Some(a) = scope.allow.iter().find(|a| a.covers(path)) {
        format!("the path is read-only for this Pod (allow {a})")
    } else {
        "the path is outside this Pod's scope".to_owned()
    };
    ToolError::OutOfScope {
        path: path.to_owned(),
        access: need,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scope::ScopeRule;
    use std::os::unix::fs::symlink;

    #[test]
    fn handle_refuses_a_symlink_leading_out_of_the_root_even_without_the_check() {
        // The race case: the scope check passed for `w/link/f` while `link` pointed
        // inside; by the time of the open it points outside. Opening through the
        // handle must fail by construction.
        let t = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(base.join("w/inside")).unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        std::fs::write(base.join("outside/f"), "secret").unwrap();
        symlink(base.join("outside"), base.join("w/link")).unwrap();
        let r = Resolved {
            canonical: base.join("w/link/f"),
            root: base.join("w"),
            rel: PathBuf::from("link/f"),
        };
        let dir = r.open_root().unwrap();
        let e = dir.read("link/f").unwrap_err();
        assert!(matches!(r.err("read", &e), ToolError::Escape { .. }), "{e}");
        // `..` is refused the same way
        let e = dir.read("../outside/f").unwrap_err();
        assert!(matches!(r.err("read", &e), ToolError::Escape { .. }), "{e}");
        // while a relative symlink staying inside works
        std::fs::write(base.join("w/inside/g"), "ok").unwrap();
        symlink("inside", base.join("w/in")).unwrap();
        assert_eq!(dir.read("in/g").unwrap(), b"ok");
    }

    #[test]
    fn refusal_names_the_rule() {
        let s = Scope {
            allow: vec![ScopeRule::trusted("/w", Access::Write, true).unwrap()],
            deny: vec![ScopeRule::trusted("/w/ro", Access::Write, true).unwrap()],
        };
        let e = check_access(&s, Path::new("/w/ro/x"), Access::Write).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("/w/ro/x") && msg.contains("read-only"),
            "{msg}"
        );
        let e = check_access(&s, Path::new("/elsewhere"), Access::Read).unwrap_err();
        assert!(e.to_string().contains("outside this Pod's scope"), "{e}");
    }
}
