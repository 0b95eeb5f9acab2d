//! Where one Pod's runtime files live: `{runtime}/{name}/` (0700) holding `sock`
//! (0600), `lock` (flock held for the Pod process's life), `pod.log` (the process's
//! stderr) and short-lived `launch-*.json` files (0600).

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use pod_ids::{PodName, Roots};

/// The runtime paths of one Pod.
#[derive(Debug, Clone)]
pub struct PodPaths {
    /// `{runtime}/{name}`.
    pub dir: PathBuf,
}

impl PodPaths {
    /// Paths of `name` under `roots.runtime`. No I/O.
    pub fn new(roots: &Roots, name: &PodName) -> PodPaths {
        PodPaths {
            dir: roots.runtime.join(name.as_str()),
        }
    }

    /// The Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("sock")
    }

    /// The liveness lock file.
    pub fn lock(&self) -> PathBuf {
        self.dir.join("lock")
    }

    /// The Pod process's stderr.
    pub fn log(&self) -> PathBuf {
        self.dir.join("pod.log")
    }

    /// Creates `{runtime}` and `{runtime}/{name}` with mode 0700 (and tightens them if
    /// they exist with looser modes: the socket's privacy rests on the directory).
    pub fn ensure_dirs(&self) -> io::Result<()> {
        for d in [self.dir.parent(), Some(self.dir.as_path())]
            .into_iter()
            .flatten()
        {
            ensure_private_dir(d)?;
        }
        Ok(())
    }
}

/// Creates `dir` (and parents) with mode 0700; sets 0700 on it if it already exists.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = fs::metadata(dir)?;
    if meta.permissions().mode() & 0o777 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
