//! Where pods keeps its files (ARCHITECTURE §3).
//!
//! `PODS_HOME=DIR` puts everything under one folder; otherwise each root has its own
//! variable, then an XDG variable, then a default. Empty variables count as unset.

use std::path::{Path, PathBuf};

/// The resolved directories. Nothing is created here; owners create what they use
/// (the runtime dir with mode 0700).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// Root of durable data.
    pub data: PathBuf,
    /// Session logs: `{data}/sessions` unless overridden.
    pub sessions: PathBuf,
    /// Pod records: `{data}/pods` unless overridden.
    pub pods: PathBuf,
    /// Runtime state (sockets, liveness locks): may vanish on reboot.
    pub runtime: PathBuf,
    /// The live registry's folder. One per user and data dir on a machine, whatever
    /// the environment says about runtime dirs: `{runtime}` when the runtime root was
    /// chosen explicitly (`PODS_HOME`, `PODS_RUNTIME_DIR`, `--runtime-dir`), else
    /// `/tmp/pods-{uid}/registries/{id of the data dir}`, so a login shell (with
    /// `XDG_RUNTIME_DIR`) and cron or ssh (without) share one registry.
    pub registry: PathBuf,
    /// Configuration files.
    pub config: PathBuf,
}

/// Explicit overrides, e.g. from CLI flags (`--data-dir`, `--sessions-dir`,
/// `--pods-dir`, `--runtime-dir`, `--config-dir`). They win over the environment.
#[derive(Debug, Clone, Default)]
pub struct RootOverrides {
    /// Replaces the data root (and so the default sessions and pods roots).
    pub data: Option<PathBuf>,
    /// Replaces the sessions root only.
    pub sessions: Option<PathBuf>,
    /// Replaces the pods root only.
    pub pods: Option<PathBuf>,
    /// Replaces the runtime root.
    pub runtime: Option<PathBuf>,
    /// Replaces the config root.
    pub config: Option<PathBuf>,
}

/// A root could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootsError {
    /// No variable gave the root and `HOME` is unset too.
    #[error("cannot find a {what} directory: set PODS_HOME, {var}, or HOME")]
    NoHome {
        /// Which root.
        what: &'static str,
        /// The specific variable that would set it.
        var: &'static str,
    },
    /// A variable or flag held a relative path.
    #[error("{source_name} is {path:?}, which is relative: use an absolute path")]
    Relative {
        /// The variable or flag.
        source_name: String,
        /// Its value.
        path: PathBuf,
    },
}

impl Roots {
    /// Resolves the roots from the process environment.
    pub fn from_env(overrides: &RootOverrides) -> Result<Roots, RootsError> {
        let uid = rustix::process::getuid().as_raw();
        Roots::resolve(
            |k| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned()),
            uid,
            overrides,
        )
    }

    /// Everything under one folder, as `PODS_HOME=dir` does. Tests use this.
    pub fn under(home: &Path) -> Roots {
        let data = home.join("data");
        Roots {
            sessions: data.join("sessions"),
            pods: data.join("pods"),
            data,
            runtime: home.join("run"),
            registry: home.join("run"),
            config: home.join("config"),
        }
    }

    /// Resolution with an injected environment, so it is testable without touching
    /// the process environment.
    pub fn resolve(
        env: impl Fn(&str) -> Option<String>,
        uid: u32,
        overrides: &RootOverrides,
    ) -> Result<Roots, RootsError> {
        let var = |k: &str| env(k).filter(|v| !v.is_empty());
        let abs = |name: &str, p: PathBuf| {
            if p.is_absolute() {
                Ok(p)
            } else {
                Err(RootsError::Relative {
                    source_name: name.to_owned(),
                    path: p,
                })
            }
        };
        let base = match var("PODS_HOME") {
            Some(h) => Roots::under(&abs("PODS_HOME", h.into())?),
            None => {
                let home = var("HOME").map(PathBuf::from);
                let pick = |own: &'static str,
                            xdg: &str,
                            xdg_sub: &str,
                            home_sub: Option<&str>,
                            what: &'static str| {
                    if let Some(v) = var(own) {
                        return abs(own, v.into());
                    }
                    if let Some(v) = var(xdg) {
                        return Ok(abs(xdg, v.into())?.join(xdg_sub));
                    }
                    match (home_sub, &home) {
                        (Some(sub), Some(h)) => Ok(abs("HOME", h.clone())?.join(sub)),
                        (None, _) => Ok(PathBuf::from(format!("/tmp/pods-{uid}"))),
                        (Some(_), None) => Err(RootsError::NoHome { what, var: own }),
                    }
                };
                let data = pick(
                    "PODS_DATA_DIR",
                    "XDG_DATA_HOME",
                    "pods",
                    Some(".local/share/pods"),
                    "data",
                )?;
                let explicit_runtime = var("PODS_RUNTIME_DIR").is_some();
                Roots {
                    sessions: data.join("sessions"),
                    pods: data.join("pods"),
                    registry: if explicit_runtime {
                        PathBuf::new() // set below from the runtime root
                    } else {
                        shared_registry(uid, &data)
                    },
                    data,
                    runtime: pick(
                        "PODS_RUNTIME_DIR",
                        "XDG_RUNTIME_DIR",
                        "pods",
                        None,
                        "runtime",
                    )?,
                    config: pick(
                        "PODS_CONFIG_DIR",
                        "XDG_CONFIG_HOME",
                        "pods",
                        Some(".config/pods"),
                        "config",
                    )?,
                }
            }
        };
        let mut roots = base.with_overrides(overrides)?;
        if roots.registry.as_os_str().is_empty() || overrides.runtime.is_some() {
            roots.registry = roots.runtime.clone();
        } else if overrides.data.is_some() {
            roots.registry = shared_registry(uid, &roots.data);
        }
        Ok(roots)
    }

    fn with_overrides(mut self, o: &RootOverrides) -> Result<Roots, RootsError> {
        let check = |flag: &str, p: &Option<PathBuf>| -> Result<Option<PathBuf>, RootsError> {
            match p {
                Some(p) if !p.is_absolute() => Err(RootsError::Relative {
                    source_name: flag.to_owned(),
                    path: p.clone(),
                }),
                other => Ok(other.clone()),
            }
        };
        if let Some(d) = check("--data-dir", &o.data)? {
            self.sessions = d.join("sessions");
            self.pods = d.join("pods");
            self.data = d;
        }
        if let Some(s) = check("--sessions-dir", &o.sessions)? {
            self.sessions = s;
        }
        if let Some(p) = check("--pods-dir", &o.pods)? {
            self.pods = p;
        }
        if let Some(r) = check("--runtime-dir", &o.runtime)? {
            self.runtime = r;
        }
        if let Some(c) = check("--config-dir", &o.config)? {
            self.config = c;
        }
        Ok(self)
    }
}

/// `/tmp/pods-{uid}/registries/{fnv-1a of the data path}`: fixed for a user and a data
/// dir, independent of `XDG_RUNTIME_DIR`. The hash is written out (FNV-1a, 64 bit)
/// rather than taken from `std`, whose hasher may change between Rust releases and
/// would then split one user's Pods across two registries.
fn shared_registry(uid: u32, data: &Path) -> PathBuf {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    PathBuf::from(format!("/tmp/pods-{uid}/registries/{h:016x}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(vars: &[(&str, &str)], o: &RootOverrides) -> Result<Roots, RootsError> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Roots::resolve(|k| m.get(k).cloned(), 1000, o)
    }

    #[test]
    fn pods_home_puts_everything_under_one_folder() {
        let r = resolve(
            &[("PODS_HOME", "/h"), ("PODS_DATA_DIR", "/ignored")],
            &Default::default(),
        )
        .unwrap();
        assert_eq!(r, Roots::under(Path::new("/h")));
        assert_eq!(r.data, PathBuf::from("/h/data"));
        assert_eq!(r.runtime, PathBuf::from("/h/run"));
        assert_eq!(r.config, PathBuf::from("/h/config"));
        assert_eq!(r.sessions, PathBuf::from("/h/data/sessions"));
        assert_eq!(r.pods, PathBuf::from("/h/data/pods"));
    }

    #[test]
    fn own_variables_beat_xdg_which_beats_defaults() {
        let r = resolve(
            &[
                ("HOME", "/home/u"),
                ("PODS_DATA_DIR", "/d"),
                ("XDG_DATA_HOME", "/xd"),
                ("XDG_RUNTIME_DIR", "/run/user/1000"),
                ("XDG_CONFIG_HOME", "/xc"),
            ],
            &Default::default(),
        )
        .unwrap();
        assert_eq!(r.data, PathBuf::from("/d"));
        assert_eq!(r.runtime, PathBuf::from("/run/user/1000/pods"));
        assert_eq!(r.config, PathBuf::from("/xc/pods"));
    }

    #[test]
    fn one_registry_per_user_and_data_dir_whatever_the_runtime_dir() {
        let login = resolve(
            &[("HOME", "/home/u"), ("XDG_RUNTIME_DIR", "/run/user/1000")],
            &Default::default(),
        )
        .unwrap();
        let cron = resolve(&[("HOME", "/home/u")], &Default::default()).unwrap();
        assert_ne!(login.runtime, cron.runtime);
        assert_eq!(login.registry, cron.registry);
        assert!(login.registry.starts_with("/tmp/pods-1000/registries"));
        let other = resolve(
            &[("HOME", "/home/u"), ("PODS_DATA_DIR", "/d")],
            &Default::default(),
        )
        .unwrap();
        assert_ne!(
            other.registry, cron.registry,
            "another data dir, another registry"
        );
        // An explicitly chosen runtime root holds its registry (tests, PODS_HOME).
        let explicit = resolve(
            &[("HOME", "/home/u"), ("PODS_RUNTIME_DIR", "/r")],
            &Default::default(),
        )
        .unwrap();
        assert_eq!(explicit.registry, PathBuf::from("/r"));
        let flag = RootOverrides {
            runtime: Some("/f".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(&[("HOME", "/home/u")], &flag).unwrap().registry,
            PathBuf::from("/f")
        );
    }

    #[test]
    fn defaults_use_home_and_tmp_with_uid() {
        let r = resolve(&[("HOME", "/home/u")], &Default::default()).unwrap();
        assert_eq!(r.data, PathBuf::from("/home/u/.local/share/pods"));
        assert_eq!(r.runtime, PathBuf::from("/tmp/pods-1000"));
        assert_eq!(r.config, PathBuf::from("/home/u/.config/pods"));
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let r = resolve(
            &[
                ("HOME", "/home/u"),
                ("PODS_HOME", ""),
                ("PODS_DATA_DIR", ""),
                ("XDG_DATA_HOME", ""),
                ("PODS_RUNTIME_DIR", ""),
            ],
            &Default::default(),
        )
        .unwrap();
        assert_eq!(r.data, PathBuf::from("/home/u/.local/share/pods"));
        assert_eq!(r.runtime, PathBuf::from("/tmp/pods-1000"));
    }

    #[test]
    fn overrides_win_and_relative_paths_are_errors() {
        let o = RootOverrides {
            data: Some("/o".into()),
            pods: Some("/p".into()),
            ..Default::default()
        };
        let r = resolve(&[("PODS_HOME", "/h")], &o).unwrap();
        assert_eq!(r.sessions, PathBuf::from("/o/sessions"));
        assert_eq!(r.pods, PathBuf::from("/p"));
        assert_eq!(r.runtime, PathBuf::from("/h/run"));
        let bad = RootOverrides {
            runtime: Some("rel".into()),
            ..Default::default()
        };
        let e = resolve(&[("PODS_HOME", "/h")], &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--runtime-dir"), "{e}");
        assert!(resolve(&[("PODS_HOME", "rel")], &Default::default()).is_err());
    }

    #[test]
    fn no_home_is_a_clear_error() {
        let e = resolve(&[], &Default::default()).unwrap_err();
        assert!(matches!(e, RootsError::NoHome { what: "data", .. }), "{e}");
    }
}
