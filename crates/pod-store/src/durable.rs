//! The few durable filesystem steps: private directories, directory fsync, and the
//! atomic replacement of a record file.
//!
//! Hand-written rather than `tempfile::NamedTempFile::persist` because we want a
//! fixed temp name (`metadata.json.tmp`, only ever written under the per-Pod lock):
//! a writer killed mid-write leaves at most one stale temp per Pod, which the next
//! write truncates, instead of a new randomly named file per crash.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Result, io_err};

/// Creates `dir` and missing ancestors with mode 0700; fsyncs the parent of a
/// newly created `dir` so its entry survives a crash (a file fsynced into a
/// directory whose own entry was lost would be lost with it).
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<bool> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(dir)
                .map_err(io_err("create directory", dir))?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
            Ok(true)
        }
        Err(e) => Err(io_err("create directory", dir)(e)),
    }
}

/// fsyncs a directory, making renames and creations inside it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

/// Replaces `path` with `bytes` atomically via `tmp` (same directory): write,
/// fsync, rename, fsync the directory. The caller must hold the per-Pod lock, so
/// `tmp` has a single writer.
///
/// Crash safety: the rename is the commit point; before it the old file is intact
/// (the temp is invisible to readers, who only open `path`), after it the complete,
/// fsynced new content is in place. The directory fsync makes the rename itself
/// survive power loss before we report success.
pub(crate) fn replace_atomically(path: &Path, tmp: &Path, bytes: &[u8]) -> Result<()> {
    // truncate(true): a temp left by a writer killed mid-write is garbage from an
    // uncommitted update; we own it now (lock held) and overwrite it.
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(tmp)
        .map_err(io_err("create temp file", tmp))?;
    // `mode` only applies at creation; a stale temp keeps its old mode otherwise.
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io_err("chmod 0600", tmp))?;
    f.write_all(bytes).map_err(io_err("write", tmp))?;
    // Data must be on disk before the rename publishes it, or a crash could leave
    // the new name pointing at an empty file.
    f.sync_all().map_err(io_err("fsync", tmp))?;
    drop(f);
    fs::rename(tmp, path).map_err(io_err("rename into place", path))?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaced_file_is_private_and_complete() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("metadata.json");
        let t = d.path().join("metadata.json.tmp");
        fs::write(
            &t,
            "stale garbage from a killed writer, longer than the new one",
        )
        .unwrap();
        replace_atomically(&p, &t, b"{}").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"{}");
        assert!(!t.exists(), "temp is renamed away");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn private_dirs_are_0700() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b");
        assert!(ensure_private_dir(&p).unwrap());
        assert!(!ensure_private_dir(&p).unwrap());
        for dir in [d.path().join("a"), p] {
            let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", dir.display());
        }
    }
}
