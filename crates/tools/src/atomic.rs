//! Whole-file replacement inside a capability handle: write a temp file next to the
//! target, fsync it, rename it over the target, fsync the directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cap_std::fs::{Dir, OpenOptions};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces `rel` inside `dir` with `contents`, keeping the old file's permission
/// bits (a plain temp + rename would reset them to the default mode). Returns the
/// new file's metadata.
pub(crate) fn replace_atomically(
    dir: &Dir,
    rel: &Path,
    contents: &[u8],
) -> std::io::Result<cap_std::fs::Metadata> {
    let parent = rel.parent().unwrap_or(Path::new(""));
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let name = rel.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no file name")
    })?;
    let old_perms = match dir.metadata(rel) {
        Ok(m) if m.is_dir() => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "target is a directory",
            ));
        }
        Ok(m) => Some(m.permissions()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let tmp: PathBuf = parent.join(format!(
        ".{}.pods-tmp.{}.{}",
        name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = dir.open_with(&tmp, OpenOptions::new().write(true).create_new(true))?;
        f.write_all(contents)?;
        if let Some(p) = old_perms {
            f.set_permissions(p)?;
        }
        f.sync_all()?;
        // The rename is the commit point: before it the old file is intact and the
        // temp is garbage; after it the new, fsynced content is the file. A crash
        // at any moment leaves the old or the new content, never a mix.
        dir.rename(&tmp, dir, rel)?;
        // fsync the directory so the rename itself survives a power loss.
        // (cap-std opens `Dir`s with O_PATH, which cannot be fsynced; a read-only
        // open of the directory can.)
        let d = dir.open_with(parent, OpenOptions::new().read(true))?;
        d.sync_all()?;
        f.metadata()
    })();
    if result.is_err() {
        let _ = dir.remove_file(&tmp); // best effort; the target is untouched
    }
    result
}
