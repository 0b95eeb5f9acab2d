//! `pod doctor`: checks directories and permissions, records, the tail of every active
//! segment, and runtime files against live processes. Reports problems with their
//! paths; changes nothing without `--fix` (which only removes stale sockets and
//! leftover launch files of dead Pods).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitCode;

use pod_ids::Roots;
use session_store::SessionStore;

use crate::config::{Config, FlagOverrides};
use crate::layout::PodPaths;
use crate::liveness;
use crate::outln;
use crate::record::RecordStore;

/// One configured provider as `pod doctor` sees it.
#[derive(Debug, serde::Serialize)]
struct ProviderCheck {
    name: String,
    dialect: &'static str,
    base_url: String,
    key_env: Option<String>,
    key_set: bool,
    default: bool,
    /// `--online` only: what a cheap request answered.
    online: Option<String>,
}

/// Providers of the effective configuration: which have their key, and (online)
/// whether their endpoint answers. A missing key is a problem only for the default
/// provider, the one `pod run` uses without --provider.
async fn provider_checks(
    roots: &Roots,
    online: bool,
    problems: &mut Vec<String>,
) -> Vec<ProviderCheck> {
    let project = match std::env::current_dir()
        .ok()
        .and_then(|h| scope::canonicalize(&h).ok())
        .map(|h| crate::trust::TrustStore::new(&roots.config).check(h.as_path()))
        .transpose()
    {
        Ok(t) => t,
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    if let Some(n) = project.as_ref().and_then(|t| t.notice()) {
        problems.push(n);
    }
    let trusted = project.as_ref().and_then(|t| t.trusted());
    let config = match Config::load(&roots.config, trusted, &FlagOverrides::default()) {
        Ok(c) => c,
        Err(e) => {
            problems.push(e.to_string());
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (name, p) in &config.providers {
        let key_set = p
            .api_key_env
            .as_deref()
            .is_none_or(|v| llm::ApiKey::from_env(v).is_some());
        let default = *name == config.default_provider;
        if default && !key_set {
            problems.push(format!(
                "default provider {name}: {} is not set (export it, or pick another provider with --provider or defaults.provider)",
                p.api_key_env.as_deref().unwrap_or_default()
            ));
        }
        // Online checks only where they can tell something: a key to try, or a
        // local server that needs none.
        let online = if online && key_set {
            Some(super::doctor_online::probe(p).await)
        } else {
            None
        };
        out.push(ProviderCheck {
            name: name.clone(),
            dialect: p.kind.name(),
            base_url: p.base_url.clone(),
            key_env: p.api_key_env.clone(),
            key_set,
            default,
            online,
        });
    }
    out
}

/// What the kernel gives the shell sandbox, in one phrase per layer (ARCHITECTURE §13).
#[derive(Debug, serde::Serialize)]
pub struct SandboxReport {
    landlock_abi: Option<u32>,
    mount_namespace: Option<&'static str>,
    seccomp: bool,
    /// How metadata changes outside the scope are stopped.
    metadata_guard: &'static str,
    /// What ends the processes a tool call left behind.
    leftovers: &'static str,
}

/// The sandbox this machine gives every Pod's shell.
pub fn sandbox_report() -> SandboxReport {
    let s = tools::sandbox::support();
    let mount = s.mount_namespace.map(|k| match k {
        tools::sandbox::NamespaceKind::Mount => "mount",
        tools::sandbox::NamespaceKind::UserAndMount => "user+mount",
    });
    SandboxReport {
        landlock_abi: s.landlock_abi,
        mount_namespace: mount,
        seccomp: s.seccomp,
        metadata_guard: match (mount, s.seccomp) {
            (Some(_), _) => "read-only mounts outside the write scope",
            (None, true) => "seccomp: metadata changes refused everywhere, inside the scope too",
            (None, false) => "none: chmod/chown/utimes outside the scope are not stopped",
        },
        leftovers: if s.pid_namespace {
            "a PID namespace per call: nothing outlives its call or its Pod"
        } else {
            "process group, then by TMPDIR: a process that clears its environment can outlive its call, and any that left its group a SIGKILLed Pod"
        },
    }
}

impl SandboxReport {
    /// One line for humans.
    pub fn summary(&self) -> String {
        format!(
            "Landlock {} · mount namespace {} · metadata: {} · leftovers: {}",
            self.landlock_abi
                .map_or("unavailable".to_owned(), |v| format!("ABI {v}")),
            self.mount_namespace.unwrap_or("unavailable"),
            self.metadata_guard,
            self.leftovers
        )
    }
}

/// `pod doctor`.
pub async fn doctor(
    roots: &Roots,
    fix: bool,
    json: bool,
    online: bool,
) -> anyhow::Result<ExitCode> {
    let mut problems: Vec<String> = Vec::new();
    let mut fixed: Vec<String> = Vec::new();
    for (what, dir, private) in [
        ("data", &roots.data, false),
        ("sessions", &roots.sessions, true),
        ("pods", &roots.pods, false),
        ("runtime", &roots.runtime, true),
    ] {
        match std::fs::metadata(dir) {
            Ok(m) if !m.is_dir() => {
                problems.push(format!("{what} root {} is not a directory", dir.display()))
            }
            Ok(m) if private && m.permissions().mode() & 0o077 != 0 => problems.push(format!(
                "{what} root {} has mode {:o}; it should be 0700 (chmod 700 {})",
                dir.display(),
                m.permissions().mode() & 0o777,
                dir.display()
            )),
            Ok(_) => {}
            Err(_) => {} // not created yet: nothing to check
        }
    }
    let records = RecordStore::new(roots.pods.clone());
    let sessions = SessionStore::new(roots.sessions.clone());
    let mut checked = 0;
    for r in records.list() {
        checked += 1;
        let rec = match r {
            Ok(r) => r,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        let paths = PodPaths::new(roots, &rec.name);
        let live = liveness::probe(&paths.lock()).is_some();
        if let Some((_, seg)) = rec.active_segment() {
            match sessions.read_segment(seg) {
                Ok(read) => {
                    if let Some(t) = read.torn_tail {
                        problems.push(format!(
                            "{}: segment {} ends in a torn line ({} bytes at offset {}); it is cut off when the Pod is resumed",
                            rec.name.as_str(),
                            read.path.display(),
                            t.len,
                            t.offset
                        ));
                    }
                }
                Err(e) => problems.push(format!("{}: {e}", rec.name.as_str())),
            }
        }
        if !live {
            let sock = paths.socket();
            if sock.exists() {
                if fix {
                    remove(&sock, &mut fixed, &mut problems);
                } else {
                    problems.push(format!(
                        "{}: stale socket {} (no live process; --fix removes it)",
                        rec.name.as_str(),
                        sock.display()
                    ));
                }
            }
            if let Ok(rd) = std::fs::read_dir(&paths.dir) {
                for e in rd.flatten() {
                    if e.file_name().to_string_lossy().starts_with("launch-") {
                        if fix {
                            remove(&e.path(), &mut fixed, &mut problems);
                        } else {
                            problems.push(format!(
                                "{}: leftover launch file {} (--fix removes it)",
                                rec.name.as_str(),
                                e.path().display()
                            ));
                        }
                    }
                }
            }
        }
    }
    let providers = provider_checks(roots, online, &mut problems).await;
    let registry = super::doctor_registry::registry_report(roots, &mut problems);
    let sandbox = sandbox_report();
    if sandbox.landlock_abi.is_none() {
        problems.push(
            "this kernel has no Landlock: `bash` runs only for Pods that may write their whole working tree, or with allow_unconfined_shell".into(),
        );
    }
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "schema_version": super::interact::JSON_SCHEMA_VERSION,
                "pods_checked": checked,
                "problems": problems,
                "fixed": fixed,
                "providers": providers,
                "sandbox": sandbox,
                "registry": registry,
            }))?
        )?;
    } else {
        for p in providers
            .iter()
            .filter(|p| p.default || p.key_set || p.online.is_some())
        {
            outln!(
                "provider {:<12} {:<9} key {:<22} {}{}",
                p.name,
                p.dialect,
                match (&p.key_env, p.key_set) {
                    (None, _) => "not needed".to_owned(),
                    (Some(v), true) => format!("{v} set"),
                    (Some(v), false) => format!("{v} MISSING"),
                },
                p.base_url,
                p.online
                    .as_deref()
                    .map(|o| format!("  [{o}]"))
                    .unwrap_or_default()
            )?;
        }
        outln!("sandbox  {}", sandbox.summary())?;
        outln!(
            "registry {}{}",
            registry.location,
            registry
                .live
                .map(|n| format!(" ({n} live allocation(s))"))
                .unwrap_or_default()
        )?;
        for f in &fixed {
            outln!("fixed: removed {f}")?;
        }
        for p in &problems {
            outln!("problem: {p}")?;
        }
        outln!("{checked} Pod(s) checked, {} problem(s)", problems.len())?;
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn remove(p: &Path, fixed: &mut Vec<String>, problems: &mut Vec<String>) {
    match std::fs::remove_file(p) {
        Ok(()) => fixed.push(p.display().to_string()),
        Err(e) => problems.push(format!("cannot remove {}: {e}", p.display())),
    }
}
