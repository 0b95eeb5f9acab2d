//! The grant: what a Pod's grantor gave it, written once beside its record and
//! checked at every restore (ARCHITECTURE §6, "Grants").
//!
//! The record (`metadata.json`) is rewritten all the time by the Pod process; its
//! manifest is what a restore runs from. A hand edit, or a tool that reached the
//! data directory, could widen the stored scope there and the next `pod resume`
//! would run with it. So the security-relevant part of the manifest (scope,
//! working directory, shell confinement, where the API key goes, the work-item
//! grant and workflow, the write roots' pinned identities, MCP servers, permission
//! rules and hooks) is also written by the grantor,
//! once, to `grant.json` (0400, never rewritten), and a restore refuses a record
//! that differs from it, naming both files and every difference.
//! On top of that comparison the grantor's own rules are checked again: a root Pod
//! holds no broad write root unless `--allow-broad-write` was recorded; a child's
//! scope is exactly what its parent's record delegated to it; every write root is
//! still the directory (device, inode) it was when granted.
//!
//! Nothing stored under the user's uid is out of reach of a process running
//! unconfined as that user; what keeps the model away from both files is that
//! pods' own directories are hidden from every tool call (§4). The grant makes a
//! one-file edit (by hand or by a tool) fail loudly instead of taking effect.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use pod_ids::{PodName, Roots};
use scope::{Access, Scope};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::launch::Manifest;
use crate::record::PodRecord;

/// The grant's file name, in the Pod's record directory.
pub const GRANT_FILE: &str = "grant.json";
const VERSION: u32 = 1;

/// What a grantor gave a Pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Format version.
    pub version: u32,
    /// `pod run` or `pod fork` (the user's flags), or `parent NAME`.
    pub granted_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub granted_at: OffsetDateTime,
    /// `--allow-broad-write` was given (root Pods).
    pub allow_broad_write: bool,
    /// The scope granted (canonical rules).
    pub scope: Scope,
    /// Working directory.
    pub cwd: PathBuf,
    /// The shell may run unconfined where the kernel lacks Landlock.
    pub allow_unconfined_shell: bool,
    /// Where the model requests (and the key) go.
    pub base_url: String,
    /// The variable the key is read from.
    pub api_key_env: Option<String>,
    /// Identities of the write roots when granted (by `pod run` / `pod fork`, or
    /// at delegation); checked against the filesystem at every restore.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub pins: std::collections::BTreeMap<PathBuf, tools::sandbox::FileId>,
    /// MCP servers as granted (each one runs commands in the Pod's sandbox and
    /// sees what it sends). Absent in grants older than this field: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_servers: Option<serde_json::Value>,
    /// Permission rules as granted (an added allow rule skips approvals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<serde_json::Value>,
    /// Hooks as granted (each one runs a command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<serde_json::Value>,
    /// The grant on a work item, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<crate::work::WorkGrant>,
    /// The workflow a `pod work run` lead drives, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<crate::work::Workflow>,
}

/// A record that does not match its grant, or a grant that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// No grant beside the record.
    #[error(
        "pod record {record} has no {GRANT_FILE} beside it (removed, or the record predates grants): refusing to restore a scope nobody can vouch for; start a new Pod from its history with `pod fork {name} --as NEW --write DIR`"
    )]
    Missing {
        /// The Pod.
        name: PodName,
        /// Its metadata.json.
        record: PathBuf,
    },
    /// The grant cannot be read or parsed.
    #[error("{path}: {message}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The record asks for more than (or other than) what was granted.
    #[error(
        "pod record {record} differs from what {granted_by} granted ({grant}): {}; refusing to restore {name} (if you changed it yourself, start a new Pod from its history with `pod fork {name} --as NEW --write DIR`)",
        .differences.join("; ")
    )]
    Differs {
        /// The Pod.
        name: PodName,
        /// Its metadata.json.
        record: PathBuf,
        /// Its grant.json.
        grant: PathBuf,
        /// Who granted.
        granted_by: String,
        /// One entry per difference (joined with `; `: the message crosses the
        /// process boundary on the one readiness line).
        differences: Vec<String>,
    },
}

impl Grant {
    /// The grant of `m`, by `granted_by`.
    pub fn of(m: &Manifest, granted_by: impl Into<String>, allow_broad_write: bool) -> Grant {
        Grant {
            version: VERSION,
            granted_by: granted_by.into(),
            granted_at: OffsetDateTime::now_utc(),
            allow_broad_write,
            scope: m.scope.clone(),
            cwd: m.cwd.clone(),
            allow_unconfined_shell: m.allow_unconfined_shell,
            base_url: m.base_url.clone(),
            api_key_env: m.api_key_env.clone(),
            pins: m.pins.clone(),
            work: m.work.clone(),
            workflow: m.workflow.clone(),
            mcp_servers: serde_json::to_value(&m.mcp_servers).ok(),
            permissions: serde_json::to_value(&m.permissions).ok(),
            hooks: serde_json::to_value(&m.hooks).ok(),
        }
    }

    /// Writes the grant into the record directory `dir` (which exists): temp,
    /// fsync, 0400, rename, fsync the directory. Called before the record exists,
    /// so a record never lacks its grant (a crash in between leaves a directory
    /// without `metadata.json`, which is no Pod, and the next creation replaces it).
    pub(crate) fn write(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(format!("{GRANT_FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        // Read-only: a tool or script that writes files naively cannot change it.
        f.set_permissions(fs::Permissions::from_mode(0o400))?;
        drop(f);
        fs::rename(&tmp, dir.join(GRANT_FILE))?;
        File::open(dir)?.sync_all()
    }

    fn read(path: &Path) -> Result<Option<Grant>, GrantError> {
        let bad = |message: String| GrantError::Unreadable {
            path: path.to_path_buf(),
            message,
        };
        let text = match crate::config::read_config_file(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(bad(e.to_string())),
        };
        let g: Grant = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if g.version != VERSION {
            return Err(bad(format!(
                "version {} (this pod reads {VERSION})",
                g.version
            )));
        }
        Ok(Some(g))
    }
}

/// Checks a record about to be restored against its grant and its grantor's rules.
pub fn verify(roots: &Roots, record: &PodRecord) -> Result<(), GrantError> {
    let store = pod_store::PodStore::new(roots.pods.clone());
    let record_path = store.metadata_path(&record.name);
    let grant_path = store.pod_dir(&record.name).join(GRANT_FILE);
    let grant = Grant::read(&grant_path)?.ok_or_else(|| GrantError::Missing {
        name: record.name.clone(),
        record: record_path.clone(),
    })?;
    let m = &record.manifest;
    let mut differences = Vec::new();
    scope_differences("manifest.scope", &m.scope, &grant.scope, &mut differences);
    let mut field = |key: &str, ours: String, granted: String| {
        if ours != granted {
            differences.push(format!("manifest.{key} is {ours}, granted {granted}"));
        }
    };
    field("cwd", format!("{:?}", m.cwd), format!("{:?}", grant.cwd));
    field(
        "allow_unconfined_shell",
        m.allow_unconfined_shell.to_string(),
        grant.allow_unconfined_shell.to_string(),
    );
    field(
        "base_url",
        format!("{:?}", m.base_url),
        format!("{:?}", grant.base_url),
    );
    field(
        "api_key_env",
        format!("{:?}", m.api_key_env),
        format!("{:?}", grant.api_key_env),
    );
    field("pins", format!("{:?}", m.pins), format!("{:?}", grant.pins));
    field("work", format!("{:?}", m.work), format!("{:?}", grant.work));
    field(
        "workflow",
        format!("{:?}", m.workflow),
        format!("{:?}", grant.workflow),
    );
    for (key, ours, granted) in [
        (
            "mcp_servers",
            serde_json::to_value(&m.mcp_servers).ok(),
            &grant.mcp_servers,
        ),
        (
            "permissions",
            serde_json::to_value(&m.permissions).ok(),
            &grant.permissions,
        ),
        ("hooks", serde_json::to_value(&m.hooks).ok(), &grant.hooks),
    ] {
        if let (Some(ours), Some(granted)) = (ours, granted) {
            json_differences(&format!("manifest.{key}"), &ours, granted, &mut differences);
        }
    }
    // Identity, not names: each write root must still be the directory granted. A
    // root replaced by a symlink or another directory between runs would otherwise
    // be pinned afresh on first use, and the restored Pod would write the new target.
    for (path, was) in &grant.pins {
        match tools::sandbox::identity(path) {
            Ok(now) if now == *was => {}
            Ok(now) => differences.push(format!(
                "write root {} is not the directory granted (device {} inode {} then, device {} inode {} now): it was replaced since",
                path.display(),
                was.dev,
                was.ino,
                now.dev,
                now.ino
            )),
            Err(e) => differences.push(format!("write root {}: {e}", path.display())),
        }
    }
    match &record.parent {
        // A child: exactly what the parent's record delegated to it.
        Some(parent) if store.exists(parent).unwrap_or(false) => {
            let delegated = store.read(parent).ok().and_then(|p| {
                p.child(&record.name)
                    .map(|c| Scope::allowing(c.write.iter().chain(&c.read).cloned().collect()))
            });
            let parent_file = store.metadata_path(parent);
            match delegated {
                Some(d) => scope_differences(
                    &format!("delegation in {}", parent_file.display()),
                    &grant.scope,
                    &d,
                    &mut differences,
                ),
                None => differences.push(format!(
                    "{} lists no child {}",
                    parent_file.display(),
                    record.name
                )),
            }
        }
        // The parent's record is gone: the grant is all there is to check.
        Some(_) => {}
        // A root Pod: the rule `pod run` applied when it was granted.
        None if !grant.allow_broad_write => {
            for r in grant
                .scope
                .allow
                .iter()
                .filter(|r| r.access == Access::Write)
            {
                if let Some(what) = broad_write_reason(r.path.as_path()) {
                    differences.push(format!(
                        "{} grants write on {} ({what}) but --allow-broad-write was not given",
                        grant_path.display(),
                        r.path.as_path().display()
                    ));
                }
            }
        }
        None => {}
    }
    if differences.is_empty() {
        return Ok(());
    }
    Err(GrantError::Differs {
        name: record.name.clone(),
        record: record_path,
        grant: grant_path,
        granted_by: grant.granted_by,
        differences,
    })
}

/// Lines naming every place where `ours` and `granted` differ: keys added (`+`),
/// missing (`-`) and changed (with both values, shortened), recursing into objects
/// and into arrays of equal length.
fn json_differences(
    what: &str,
    ours: &serde_json::Value,
    granted: &serde_json::Value,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    let short = |v: &Value| crate::children::cap(&v.to_string(), 200);
    match (ours, granted) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(g) => json_differences(&format!("{what}.{k}"), v, g, out),
                    None => out.push(format!("{what}: + {k} = {} (not granted)", short(v))),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{what}: - {k} (granted, missing)"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                json_differences(&format!("{what}[{i}]"), x, y, out);
            }
        }
        (a, b) if a != b => out.push(format!("{what} is {}, granted {}", short(a), short(b))),
        _ => {}
    }
}

/// The identity of each write root of `scope` that exists now, for the grant (and
/// the manifest: the Pod's shells check them from the start).
pub fn pin_write_roots(
    scope: &Scope,
) -> Result<std::collections::BTreeMap<PathBuf, tools::sandbox::FileId>, String> {
    let mut pins = std::collections::BTreeMap::new();
    for r in scope.allow.iter().filter(|r| r.access == Access::Write) {
        let p = r.path.as_path();
        if !p.exists() {
            continue; // pinned on first use, once it exists
        }
        let id =
            tools::sandbox::identity(p).map_err(|e| format!("write path {}: {e}", p.display()))?;
        pins.insert(p.to_path_buf(), id);
    }
    Ok(pins)
}

/// Lines naming every rule `ours` has that `granted` lacks (`+`) and the reverse (`-`).
fn scope_differences(what: &str, ours: &Scope, granted: &Scope, out: &mut Vec<String>) {
    for (kind, a, b) in [
        ("allow", &ours.allow, &granted.allow),
        ("deny", &ours.deny, &granted.deny),
    ] {
        for r in a.iter().filter(|r| !b.contains(r)) {
            out.push(format!("{what}: + {kind} {r} (not granted)"));
        }
        for r in b.iter().filter(|r| !a.contains(r)) {
            out.push(format!("{what}: - {kind} {r} (granted, missing)"));
        }
    }
}

/// Directories whose write scope would let a Pod write far more than a project:
/// refused unless `--allow-broad-write`. `/` and the home directory (and its
/// ancestors) are refused exactly; system trees also below them.
const SYSTEM_TREES: &[&str] = &[
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin",
    "/sys", "/usr",
];
const SYSTEM_ROOTS: &[&str] = &[
    "/", "/home", "/opt", "/root", "/run", "/srv", "/tmp", "/var",
];

/// Why a write root at `path` (canonical) is too broad without
/// `--allow-broad-write`, if it is.
pub fn broad_write_reason(path: &Path) -> Option<&'static str> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .and_then(|h| scope::canonicalize(Path::new(&h)).ok())
        .map(|c| c.as_path().to_path_buf());
    // `/bin` may be a symlink to `/usr/bin`: compare with both spellings.
    let in_tree = |r: &&str| {
        path.starts_with(r)
            || scope::canonicalize(Path::new(r)).is_ok_and(|c| path.starts_with(c.as_path()))
    };
    if SYSTEM_ROOTS.iter().any(|r| path == Path::new(r)) || SYSTEM_TREES.iter().any(in_tree) {
        Some("a system directory")
    } else if home.as_deref() == Some(path) {
        Some("your home directory")
    } else if home.as_deref().is_some_and(|h| h.starts_with(path)) {
        Some("a directory above your home")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordStore;
    use scope::ScopeRule;

    fn manifest(cwd: &Path, scope: Scope) -> Manifest {
        Manifest {
            provider: "openai".into(),
            dialect: None,
            reasoning_echo: Default::default(),
            base_url: "http://127.0.0.1:1/v1".into(),
            api_key_env: None,
            model: "m".into(),
            max_output_tokens: None,
            headers: Default::default(),
            idle_timeout_secs: None,
            call_limits: Default::default(),
            max_attempts: None,
            system_prompt_source: "default".into(),
            allow_unconfined_shell: false,
            tools: vec![],
            scope,
            cwd: cwd.to_path_buf(),
            agent: Default::default(),
            pins: Default::default(),
            work: None,
            workflow: None,
            mcp_servers: Default::default(),
            permissions: Default::default(),
            hooks: Default::default(),
        }
    }

    #[test]
    fn a_workflow_the_grant_does_not_name_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let base = scope::canonicalize(d.path())
            .unwrap()
            .as_path()
            .to_path_buf();
        let roots = Roots::under(&base.join("home"));
        let records = RecordStore::new(roots.pods.clone());
        let name = PodName::new("work-x").unwrap();
        let granted = manifest(&base, Scope::allowing(vec![]));
        // The record says "lead of a workflow"; its grantor never said so.
        let mut edited = granted.clone();
        edited.workflow = Some(crate::work::Workflow {
            item: "20260102-150405-x".into(),
            rounds: 9,
        });
        records
            .create_pending(
                &name,
                pod_ids::SessionId::new(),
                &edited,
                &Grant::of(&granted, "pod run", false),
            )
            .unwrap();
        let e = verify(&roots, &records.load(&name).unwrap().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("manifest.workflow") && e.contains("rounds: 9"),
            "{e}"
        );
    }

    #[test]
    fn a_child_is_held_to_what_its_parents_record_delegated() {
        let d = tempfile::tempdir().unwrap();
        let base = scope::canonicalize(d.path())
            .unwrap()
            .as_path()
            .to_path_buf();
        std::fs::create_dir_all(base.join("w/sub")).unwrap();
        let roots = Roots::under(&base.join("home"));
        let records = RecordStore::new(roots.pods.clone());
        let store = pod_store::PodStore::new(roots.pods.clone());
        let rule = |p: &str| ScopeRule::new(base.join(p), Access::Write, true).unwrap();
        let (lead, kid) = (PodName::new("lead").unwrap(), PodName::new("kid").unwrap());
        let lm = manifest(&base, Scope::allowing(vec![rule("w")]));
        records
            .create_pending(
                &lead,
                pod_ids::SessionId::new(),
                &lm,
                &Grant::of(&lm, "pod run", false),
            )
            .unwrap();
        store
            .add_pending_child(
                &lead,
                pod_store::ChildSpec {
                    name: kid.clone(),
                    write: vec![rule("w/sub")],
                    read: vec![],
                },
            )
            .unwrap();
        // Child and grant widened together, consistently: the parent's record says otherwise.
        let km = manifest(&base, Scope::allowing(vec![rule("w")]));
        records
            .create_pending(
                &kid,
                pod_ids::SessionId::new(),
                &km,
                &Grant::of(&km, "parent lead", false),
            )
            .unwrap();
        store
            .set_parent(
                &kid,
                Some(pod_store::ParentLink {
                    name: lead.clone(),
                    socket: None,
                    pid: None,
                }),
            )
            .unwrap();
        let e = verify(&roots, &records.load(&kid).unwrap().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("lead/metadata.json"), "{e}");
        assert!(e.contains("w/**") && e.contains("not granted"), "{e}");
        // The parent's own record, as granted, verifies.
        verify(&roots, &records.load(&lead).unwrap().unwrap()).unwrap();
    }
}
