//! Scope paths: arbitrary bytes as a path given at ingress (`canonicalize`, run
//! against a directory with symlink loops, dangling and absolute links and links to
//! `..`), and as a stored rule (JSON, re-checked for canonical form on load).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use scope::{Access, CanonicalPath, ScopeError, ScopeRule, canonicalize};

use crate::fuzz::Target;

/// Canonicalisation against a fixture of awkward symlinks.
pub struct ScopePaths {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl ScopePaths {
    /// The fixture: `a/b/`, a file `f`, and links `up -> ..`, `self -> .`,
    /// `loop1 <-> loop2`, `dangling -> missing/x`, `abs -> {root}/a`,
    /// `file_link -> f`.
    pub fn new() -> anyhow::Result<ScopePaths> {
        use std::os::unix::fs::symlink;
        let dir = crate::targets::scratch_dir()?;
        // Canonical itself, so the fixture's own prefix has no symlinks.
        let root = std::fs::canonicalize(dir.path())?;
        std::fs::create_dir_all(root.join("a/b"))?;
        std::fs::write(root.join("f"), b"x")?;
        symlink("..", root.join("a/up"))?;
        symlink(".", root.join("self"))?;
        symlink("loop2", root.join("loop1"))?;
        symlink("loop1", root.join("loop2"))?;
        symlink("missing/x", root.join("dangling"))?;
        symlink(root.join("a"), root.join("abs"))?;
        symlink("f", root.join("file_link"))?;
        Ok(ScopePaths { _dir: dir, root })
    }
}

impl Target for ScopePaths {
    fn name(&self) -> &'static str {
        "scope-paths"
    }

    fn corpus(&self) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = [
            "a/b/c",
            "a/up/a/b/../..",
            "self/self/a",
            "dangling/y",
            "abs/b/new/file",
            "file_link/x",
            "./a//b/",
        ]
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
        out.push(br#"{"path":"/w/src","access":"write","recursive":true}"#.to_vec());
        out.push(br#"{"path":"/","access":"read","recursive":false}"#.to_vec());
        out
    }

    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            b"/",
            b"..",
            b".",
            b"loop1",
            b"up",
            b"abs",
            b"\0",
            b"//",
            b"dangling",
        ]
    }

    fn accepts(&self, input: &[u8]) -> bool {
        if input.starts_with(b"{") {
            serde_json::from_slice::<ScopeRule>(input).is_ok()
        } else {
            canonicalize(self.root.join(OsStr::from_bytes(input))).is_ok()
        }
    }

    fn check(&self, input: &[u8], knob: u64) -> Result<(), String> {
        if input.starts_with(b"{") {
            return stored_rule(input);
        }
        let raw = Path::new(OsStr::from_bytes(input));
        // Half the inputs inside the fixture, half as given (relative, `/proc`, ...).
        // Kernel trees are left out: their links change under us (`/proc/self/fd`).
        let volatile = ["/proc", "/sys", "/dev"].iter().any(|v| raw.starts_with(v));
        let path = if knob.is_multiple_of(2) || volatile {
            self.root.join(raw.strip_prefix("/").unwrap_or(raw))
        } else {
            raw.to_path_buf()
        };
        match canonicalize(&path) {
            Ok(c) => canonical_form(c.as_path()).and_then(|()| {
                let again = canonicalize(c.as_path())
                    .map_err(|e| format!("canonical {c:?} does not canonicalise again: {e}"))?;
                if again != c {
                    return Err(format!("not idempotent: {c:?} then {again:?}"));
                }
                no_symlink_in_existing_prefix(c.as_path())?;
                let rule = ScopeRule::trusted(c.as_path(), Access::Write, knob & 2 == 0)
                    .map_err(|e| format!("a canonical path is refused as trusted: {e}"))?;
                let json = serde_json::to_vec(&rule).map_err(|e| e.to_string())?;
                let back: ScopeRule = serde_json::from_slice(&json)
                    .map_err(|e| format!("a stored rule does not load: {e}"))?;
                if back != rule {
                    return Err("a stored rule changes on load".into());
                }
                Ok(())
            }),
            Err(e) => clear_error(&e),
        }
    }
}

fn stored_rule(input: &[u8]) -> Result<(), String> {
    match serde_json::from_slice::<ScopeRule>(input) {
        Ok(rule) => canonical_form(rule.path.as_path()),
        Err(e) if e.to_string().contains("column") => Ok(()),
        Err(e) => Err(format!("unclear error: {e}")),
    }
}

fn canonical_form(p: &Path) -> Result<(), String> {
    if !p.is_absolute() {
        return Err(format!("canonical path {p:?} is relative"));
    }
    if p.components()
        .any(|c| matches!(c, Component::CurDir | Component::ParentDir))
    {
        return Err(format!("canonical path {p:?} has '.' or '..'"));
    }
    if p.to_str().is_none_or(|s| s.contains('\0')) {
        return Err(format!(
            "canonical path {p:?} cannot be stored (not UTF-8, or a NUL)"
        ));
    }
    if CanonicalPath::trusted(p).is_err() {
        return Err(format!("canonical path {p:?} fails the stored-form check"));
    }
    Ok(())
}

/// Every existing ancestor of a canonical path is a real directory (or the last
/// component a real file), never a symlink.
fn no_symlink_in_existing_prefix(p: &Path) -> Result<(), String> {
    for anc in p.ancestors() {
        if let Ok(meta) = std::fs::symlink_metadata(anc)
            && meta.file_type().is_symlink()
        {
            return Err(format!("canonical {p:?} goes through the symlink {anc:?}"));
        }
    }
    Ok(())
}

fn clear_error(e: &ScopeError) -> Result<(), String> {
    let text = e.to_string();
    if text.contains("scope path") || text.starts_with("cannot resolve scope path") {
        Ok(())
    } else {
        Err(format!("unclear error: {text}"))
    }
}
