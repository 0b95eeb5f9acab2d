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
}
