//! Trust for project configuration (ARCHITECTURE §12, "Project config and trust").
//!
//! A project's `.pods/config.toml` can change the model, the tools and the default
//! scope of every Pod started in that directory, and anyone who can write the
//! repository (a teammate's commit, a Pod of yesterday) can write it. So it applies
//! only once the user has trusted *that content in that directory*: the record
//! holds the directory and the SHA-256 of the file as the user saw it, and a file
//! that changed since is untrusted again until the user looks at it (the `direnv
//! allow` model). The record lives in the user's config directory, outside every
//! project and hidden from every Pod's tools.
//!
//! ```text
//! {config}/trusted-projects.json   {"version":1,"projects":{"/abs/dir":{"config_sha256":…,"trusted_at":…}}}
//! {config}/trusted-projects.lock   flock held for each read-modify-write
//! ```

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::config::ProjectConfig;

const FILE: &str = "trusted-projects.json";
const TMP: &str = "trusted-projects.json.tmp";
const LOCK: &str = "trusted-projects.lock";
const VERSION: u32 = 1;

/// The project configuration file of `dir`.
pub fn project_config_path(dir: &Path) -> PathBuf {
    dir.join(".pods").join("config.toml")
}

/// What the user trusted for one directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustEntry {
    /// SHA-256 (hex) of `.pods/config.toml` as it was trusted.
    pub config_sha256: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub trusted_at: OffsetDateTime,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    version: u32,
    projects: BTreeMap<PathBuf, TrustEntry>,
}

/// Where a directory's project configuration stands.
#[derive(Debug, Clone)]
pub enum ProjectTrust {
    /// The directory has no `.pods/config.toml`.
    NoConfig,
    /// Trusted as it is now: apply it (exactly these bytes; they are not read again).
    Trusted(ProjectConfig),
    /// Never trusted (or trust was revoked).
    Untrusted(ProjectConfig),
    /// Trusted once, but the file changed since.
    Changed {
        /// The file as it is now.
        config: ProjectConfig,
        /// When the earlier content was trusted.
        trusted_at: OffsetDateTime,
    },
}

impl ProjectTrust {
    /// The configuration to apply: only a trusted one.
    pub fn trusted(&self) -> Option<&ProjectConfig> {
        match self {
            ProjectTrust::Trusted(c) => Some(c),
            _ => None,
        }
    }

    /// The file waiting for a decision (untrusted or changed).
    pub fn pending(&self) -> Option<&ProjectConfig> {
        match self {
            ProjectTrust::Untrusted(c) | ProjectTrust::Changed { config: c, .. } => Some(c),
            _ => None,
        }
    }

    /// One line saying why a project config is not applied and the command that
    /// applies it (`None` when nothing waits for the user). Front ends without a
    /// prompt (headless runs, the dashboard's start form, `pod config`) show this.
    pub fn notice(&self) -> Option<String> {
        let (c, why) = match self {
            ProjectTrust::Untrusted(c) => (c, "is not trusted".to_owned()),
            ProjectTrust::Changed { config, trusted_at } => (
                config,
                format!(
                    "changed since you trusted it ({})",
                    trusted_at
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default()
                ),
            ),
            _ => return None,
        };
        Some(format!(
            "project config {} {why}: it can change the model, tools and scope of every Pod started in {}; review it, then run `pod trust {}` (or pass --no-project-config to run without it)",
            c.path.display(),
            c.dir.display(),
            shell_word(&c.dir)
        ))
    }
}

/// `path` as one shell word (quoted when it needs to be), for commands we print.
fn shell_word(path: &Path) -> String {
    let s = path.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Trust record problems, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The record or the project's config file cannot be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The record is not valid.
    #[error(
        "trust record {path} is invalid: {message} (fix or delete it; deleting untrusts every project)"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> TrustError {
    let path = path.to_path_buf();
    move |source| TrustError::Io { op, path, source }
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The user's trust record.
#[derive(Debug, Clone)]
pub struct TrustStore {
    dir: PathBuf,
}

impl TrustStore {
    /// The record in the config root `config_dir`.
    pub fn new(config_dir: &Path) -> TrustStore {
        TrustStore {
            dir: config_dir.to_path_buf(),
        }
    }

    /// The record file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    /// Where `project`'s configuration stands (`project` canonical). The file is
    /// read once; a trusted result carries the bytes that were checked, so what is
    /// applied is what was trusted even if the file changes a moment later.
    pub fn check(&self, project: &Path) -> Result<ProjectTrust, TrustError> {
        let Some(config) = read_project_config(project)? else {
            return Ok(ProjectTrust::NoConfig);
        };
        let digest = sha256_hex(config.text.as_bytes());
        Ok(match self.read()?.projects.remove(project) {
            Some(e) if e.config_sha256 == digest => ProjectTrust::Trusted(config),
            Some(e) => ProjectTrust::Changed {
                config,
                trusted_at: e.trusted_at,
            },
            None => ProjectTrust::Untrusted(config),
        })
    }

    /// Trusts `config` (the content the user was shown) for its directory.
    pub fn trust(&self, config: &ProjectConfig) -> Result<TrustEntry, TrustError> {
        let entry = TrustEntry {
            config_sha256: sha256_hex(config.text.as_bytes()),
            trusted_at: OffsetDateTime::now_utc(),
        };
        self.update(|f| {
            f.projects.insert(config.dir.clone(), entry.clone());
        })?;
        Ok(entry)
    }

    /// Forgets `project`; whether it was trusted.
    pub fn revoke(&self, project: &Path) -> Result<bool, TrustError> {
        let mut had = false;
        self.update(|f| had = f.projects.remove(project).is_some())?;
        Ok(had)
    }

    /// Every trusted directory.
    pub fn list(&self) -> Result<BTreeMap<PathBuf, TrustEntry>, TrustError> {
        Ok(self.read()?.projects)
    }

    fn read(&self) -> Result<TrustFile, TrustError> {
        let path = self.path();
        let text = match crate::config::read_config_file(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TrustFile::default()),
            Err(e) => return Err(io("cannot read", &path)(e)),
        };
        let f: TrustFile = serde_json::from_str(&text).map_err(|e| TrustError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if f.version != VERSION {
            return Err(TrustError::Corrupt {
                path,
                message: format!("version {} (this pod reads {VERSION})", f.version),
            });
        }
        Ok(f)
    }

    /// Read-modify-write under the lock; the rename is the commit point (before it
    /// the old record is intact, after it the new one is complete and fsynced).
    fn update(&self, change: impl FnOnce(&mut TrustFile)) -> Result<(), TrustError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(io("cannot create", &self.dir))?;
        let lock_path = self.dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io("cannot open", &lock_path))?;
        // Blocking is fine: holders are `pod` commands doing one small write.
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io("cannot lock", &lock_path)(e.into()))?;
        let mut f = self.read()?;
        f.version = VERSION;
        change(&mut f);
        let bytes = serde_json::to_vec_pretty(&f).map_err(|e| TrustError::Corrupt {
            path: self.path(),
            message: e.to_string(),
        })?;
        let tmp = self.dir.join(TMP);
        let mut out = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("cannot write", &tmp))?;
        out.write_all(&bytes)
            .and_then(|()| out.sync_all())
            .map_err(io("cannot write", &tmp))?;
        drop(out);
        fs::rename(&tmp, self.path()).map_err(io("cannot replace", &self.path()))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io("cannot fsync", &self.dir))
    }
}

/// `dir/.pods/config.toml` read once (bounded, regular file), if it exists.
pub fn read_project_config(dir: &Path) -> Result<Option<ProjectConfig>, TrustError> {
    let path = project_config_path(dir);
    match crate::config::read_config_file(&path) {
        Ok(text) => Ok(Some(ProjectConfig {
            dir: dir.to_path_buf(),
            path,
            text,
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("cannot read", &path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn project(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("proj");
        fs::create_dir_all(p.join(".pods")).unwrap();
        fs::write(project_config_path(&p), text).unwrap();
        p
    }

    #[test]
    fn trust_pins_the_content_and_a_change_untrusts_it() {
        let d = tempfile::tempdir().unwrap();
        let store = TrustStore::new(&d.path().join("config"));
        let p = project(d.path(), "[defaults]\nmodel = \"a\"\n");
        let ProjectTrust::Untrusted(c) = store.check(&p).unwrap() else {
            panic!("new project config must be untrusted")
        };
        store.trust(&c).unwrap();
        assert!(matches!(store.check(&p).unwrap(), ProjectTrust::Trusted(t) if t.text == c.text));
        let mode = fs::metadata(store.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::write(project_config_path(&p), "[defaults]\nmodel = \"b\"\n").unwrap();
        assert!(matches!(
            store.check(&p).unwrap(),
            ProjectTrust::Changed { .. }
        ));
        assert!(store.revoke(&p).unwrap());
        assert!(!store.revoke(&p).unwrap());
        assert!(matches!(
            store.check(&p).unwrap(),
            ProjectTrust::Untrusted(_)
        ));
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn no_config_needs_no_trust_and_a_corrupt_record_names_its_file() {
        let d = tempfile::tempdir().unwrap();
        let store = TrustStore::new(d.path());
        assert!(matches!(
            store.check(d.path()).unwrap(),
            ProjectTrust::NoConfig
        ));
        let p = project(d.path(), "");
        fs::write(store.path(), "{not json").unwrap();
        let e = store.check(&p).unwrap_err().to_string();
        assert!(e.contains(FILE), "{e}");
    }
}
