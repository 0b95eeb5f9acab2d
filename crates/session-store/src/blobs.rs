//! Content-addressed blobs beside the logs (`{sessions}/blobs/{sha256}`): image bytes
//! that log entries refer to by hash, so a segment stays small and an image attached
//! twice, or carried into a fork or a compacted segment, is stored once.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Result, StoreError, io_err};
use crate::layout::{create_private, sync_dir};

/// Where blobs live under the sessions root.
pub(crate) fn dir(root: &Path) -> PathBuf {
    root.join("blobs")
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Stores `bytes` under their hash (nothing to do when already stored) and returns
/// the hash. The blob appears whole or not at all: a unique temp file is fsynced
/// and renamed into place, so two writers of the same bytes cannot interleave.
pub(crate) fn put(root: &Path, bytes: &[u8]) -> Result<String> {
    let sha = sha256_hex(bytes);
    let dir = dir(root);
    let path = dir.join(&sha);
    if path.exists() {
        // A fresh mtime tells a concurrent sweep this blob is in use again, even
        // before the entry naming it is appended.
        let _ = fs::File::open(&path).and_then(|f| f.set_modified(std::time::SystemTime::now()));
        return Ok(sha);
    }
    fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(".{sha}.{}.{nanos}.tmp", std::process::id()));
    let mut f = create_private(&tmp, false)?;
    let written = f
        .write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io_err("write", &tmp))
        .and_then(|()| fs::rename(&tmp, &path).map_err(io_err("rename into place", &path)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    sync_dir(&dir)?;
    Ok(sha)
}

/// The bytes stored under `sha`, checked against it; `None` when absent. A blob
/// whose content does not match its name is corruption, reported as such.
pub(crate) fn get(root: &Path, sha: &str) -> Result<Option<Vec<u8>>> {
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let path = dir(root).join(sha);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("read", &path)(e)),
    };
    if sha256_hex(&bytes) != sha {
        return Err(StoreError::Corrupt {
            path,
            line: 0,
            reason: "blob content does not match its hash".into(),
        });
    }
    Ok(Some(bytes))
}

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Blobs (and stale temp files) removed.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// Removes the blobs no segment file mentions and stale temp files, both only when
/// untouched for `min_age` (a Pod stores a blob just before it appends the entry
/// naming it, and re-storing refreshes the mtime). `segments` lists every segment
/// file of the store.
///
/// A blob is kept when its hash appears anywhere in a segment's bytes, not only in
/// `images` entries: seed histories of forks and compacted segments, and anything a
/// later version logs, count as uses too. Over-keeping is harmless; deleting a
/// referenced image is not. A segment that cannot be read stops the sweep before
/// anything is removed.
pub(crate) fn sweep(
    root: &Path,
    min_age: std::time::Duration,
    segments: impl Fn() -> Result<Vec<PathBuf>>,
) -> Result<Swept> {
    let dir = dir(root);
    let listing = match fs::read_dir(&dir) {
        Ok(l) => l,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Swept::default()),
        Err(e) => return Err(io_err("list", &dir)(e)),
    };
    let mut candidates = std::collections::HashMap::new();
    let now = std::time::SystemTime::now();
    for e in listing {
        let e = e.map_err(io_err("list", &dir))?;
        let meta = e.metadata().map_err(io_err("stat", &e.path()))?;
        let young = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_none_or(|age| age < min_age);
        if meta.is_file() && !young {
            candidates.insert(
                e.file_name().to_string_lossy().into_owned(),
                (e.path(), meta.len()),
            );
        }
    }
    // A segment forked or compacted meanwhile can carry an old image in its seed
    // history without storing it again: removal starts only once a listing finds
    // no segment the scan has not read.
    let mut scanned = std::collections::HashSet::new();
    loop {
        let fresh: Vec<PathBuf> = segments()?
            .into_iter()
            .filter(|s| !scanned.contains(s))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for seg in fresh {
            let bytes = fs::read(&seg).map_err(io_err("read", &seg))?;
            // Every maximal run of 64 hex digits is a possible reference.
            for run in bytes.split(|b| !b.is_ascii_hexdigit()) {
                if run.len() == 64 {
                    candidates.remove(&*String::from_utf8_lossy(run));
                }
            }
            scanned.insert(seg);
        }
    }
    let mut swept = Swept::default();
    for (name, (path, len)) in candidates {
        let is_blob = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_blob && !name.ends_with(".tmp") {
            continue;
        }
        // Looked at again right before removing: a Pod that re-stored it since the
        // listing has refreshed its mtime. What is left is the instant between this
        // stat and the unlink; an image lost there shows as missing in its request
        // (`images::for_request`), it never fails a run.
        if fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_none_or(|age| age < min_age)
        {
            continue;
        }
        match fs::remove_file(&path) {
            Ok(()) => {
                swept.files += 1;
                swept.bytes += len;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &path)(e)),
        }
    }
    if swept.files > 0 {
        sync_dir(&dir)?;
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    #[test]
    fn stored_once_read_back_and_checked() {
        let d = tempfile::tempdir().unwrap();
        let a = super::put(d.path(), b"png bytes").unwrap();
        assert_eq!(super::put(d.path(), b"png bytes").unwrap(), a);
        assert_eq!(super::get(d.path(), &a).unwrap().unwrap(), b"png bytes");
        let other = super::sha256_hex(b"other");
        assert_eq!(super::get(d.path(), &other).unwrap(), None);
        assert_eq!(super::get(d.path(), "../etc/passwd").unwrap(), None);
        std::fs::write(super::dir(d.path()).join(&a), b"changed").unwrap();
        assert!(super::get(d.path(), &a).is_err());
        let names: Vec<_> = std::fs::read_dir(super::dir(d.path())).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp files left");
    }

    #[test]
    fn a_sweep_removes_only_old_blobs_no_segment_mentions() {
        use std::time::Duration;
        let d = tempfile::tempdir().unwrap();
        let used = super::put(d.path(), b"used").unwrap();
        let unused = super::put(d.path(), b"unused").unwrap();
        let seg = d.path().join("seg.jsonl");
        std::fs::write(&seg, format!("{{\"image\":{{\"sha256\":\"{used}\"}}}}\n")).unwrap();
        let tmp = super::dir(d.path()).join(".x.1.2.tmp");
        std::fs::write(&tmp, b"half").unwrap();
        // Everything is young: nothing goes.
        let none = super::sweep(d.path(), Duration::from_secs(3600), || {
            Ok(vec![seg.clone()])
        })
        .unwrap();
        assert_eq!(none, super::Swept::default());
        let swept = super::sweep(d.path(), Duration::ZERO, || Ok(vec![seg.clone()])).unwrap();
        assert_eq!(
            swept,
            super::Swept {
                files: 2,
                bytes: 10
            }
        );
        assert!(super::get(d.path(), &used).unwrap().is_some());
        assert!(super::get(d.path(), &unused).unwrap().is_none());
        assert!(!tmp.exists());
        // An unreadable segment removes nothing.
        let gone = d.path().join("missing.jsonl");
        super::put(d.path(), b"unused").unwrap();
        assert!(super::sweep(d.path(), Duration::ZERO, || Ok(vec![gone.clone()])).is_err());
        assert!(super::get(d.path(), &unused).unwrap().is_some());
    }
}
