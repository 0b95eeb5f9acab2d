//! Choosing a backend: the `[registry]` configuration, [`AnyRegistry`] (either
//! backend behind one type), and what a holder keeps for its life ([`Holding`]: the
//! file backend's [`Hold`] or the PostgreSQL backend's [`Lease`]).

use std::path::PathBuf;
use std::time::Duration;

use pod_ids::{PodName, SegmentId};
use scope::Scope;
use serde::Deserialize;

use crate::allocation::{Allocation, ReservationToken};
use crate::error::RegistryError;
use crate::file::FileRegistry;
use crate::hold::Hold;
use crate::machine::MachineId;
use crate::pg::{DEFAULT_LEASE, DEFAULT_PG_LOCK_TIMEOUT, Lease, LeaseGate, PgOptions, PgRegistry};
use crate::process::Incarnation;
use crate::registry::{
    AdoptRequest, ReclaimRequest, Reclaimed, RegisterRequest, Registry, Released, ReserveRequest,
};

/// Which backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// One machine: the locked file in the runtime dir (the default).
    #[default]
    File,
    /// Several machines: a shared PostgreSQL database.
    Postgres,
}

/// The `[registry]` section of the user's `config.toml`.
///
/// ```toml
/// [registry]
/// backend = "postgres"
/// url_env = "PODS_REGISTRY_URL"   # or url = "postgres://pods@db.internal/pods"
/// lease_seconds = 5
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// `file` (default) or `postgres`.
    #[serde(default)]
    pub backend: BackendKind,
    /// Connection URL or libpq key-value string (a password here is readable by
    /// whoever reads the file: prefer `url_env`).
    pub url: Option<String>,
    /// Name of an environment variable holding the URL.
    pub url_env: Option<String>,
    /// Lease length in seconds (default 5).
    pub lease_seconds: Option<f64>,
    /// How long an operation waits for the registry lock, in seconds (default 5).
    pub lock_timeout_seconds: Option<f64>,
}

impl BackendConfig {
    fn secs(v: Option<f64>, what: &str, default: Duration) -> Result<Duration, RegistryError> {
        match v {
            None => Ok(default),
            Some(s) if s.is_finite() && (0.2..=3600.0).contains(&s) => {
                Ok(Duration::from_secs_f64(s))
            }
            Some(s) => Err(RegistryError::Config(format!(
                "[registry] {what} = {s} is out of range: use 0.2 to 3600 seconds"
            ))),
        }
    }

    /// The PostgreSQL options this section describes (reads `url_env`).
    pub fn pg_options(&self) -> Result<PgOptions, RegistryError> {
        let conninfo = match (&self.url, &self.url_env) {
            (Some(_), Some(_)) => {
                return Err(RegistryError::Config(
                    "[registry] sets both url and url_env: keep one".into(),
                ));
            }
            (Some(u), None) => u.clone(),
            (None, Some(var)) => std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    RegistryError::Config(format!(
                        "[registry] url_env names {var}, which is not set: export it with the database URL"
                    ))
                })?,
            (None, None) => {
                return Err(RegistryError::Config(
                    "[registry] backend = \"postgres\" needs url or url_env".into(),
                ));
            }
        };
        Ok(PgOptions {
            conninfo,
            lease: Self::secs(self.lease_seconds, "lease_seconds", DEFAULT_LEASE)?,
            lock_timeout: Self::secs(
                self.lock_timeout_seconds,
                "lock_timeout_seconds",
                DEFAULT_PG_LOCK_TIMEOUT,
            )?,
            machine: MachineId::local()?,
        })
    }
}

/// Either backend.
#[derive(Debug, Clone)]
pub enum AnyRegistry {
    /// The file backend.
    File(FileRegistry),
    /// The PostgreSQL backend.
    Postgres(PgRegistry),
}

/// What a holder keeps for its life: drop it only after releasing its row.
#[derive(Debug)]
pub enum Holding {
    /// The file backend's per-holder lock.
    File(Hold),
    /// The PostgreSQL backend's renewed lease.
    Lease(Lease),
}

impl Holding {
    /// Whether the holder may write now (always, for the file backend).
    pub fn gate(&self) -> LeaseGate {
        match self {
            Holding::File(_) => LeaseGate::always_valid(),
            Holding::Lease(l) => l.gate(),
        }
    }
}

impl AnyRegistry {
    /// Opens the configured backend; the file backend lives in `file_dir`.
    pub fn open(config: &BackendConfig, file_dir: PathBuf) -> Result<AnyRegistry, RegistryError> {
        match config.backend {
            BackendKind::File => FileRegistry::open(file_dir).map(AnyRegistry::File),
            BackendKind::Postgres => {
                PgRegistry::connect(config.pg_options()?).map(AnyRegistry::Postgres)
            }
        }
    }

    /// Registers and takes the holder's [`Holding`].
    pub fn register_held(
        &self,
        req: RegisterRequest,
    ) -> Result<(Allocation, Holding), RegistryError> {
        match self {
            AnyRegistry::File(r) => r.register_held(req).map(|(a, h)| (a, Holding::File(h))),
            AnyRegistry::Postgres(r) => r.register_leased(req).map(|(a, l)| (a, Holding::Lease(l))),
        }
    }

    /// Adopts and takes the holder's [`Holding`].
    pub fn adopt_held(&self, req: AdoptRequest) -> Result<(Allocation, Holding), RegistryError> {
        match self {
            AnyRegistry::File(r) => r.adopt_held(req).map(|(a, h)| (a, Holding::File(h))),
            AnyRegistry::Postgres(r) => r.adopt_leased(req).map(|(a, l)| (a, Holding::Lease(l))),
        }
    }

    /// Where the registry is (file path, or the database without its password).
    pub fn describe(&self) -> String {
        match self {
            AnyRegistry::File(r) => format!("file {}", r.table_path().display()),
            AnyRegistry::Postgres(r) => format!("postgres {} [{}]", r.target(), r.tls()),
        }
    }

    fn inner(&self) -> &dyn Registry {
        match self {
            AnyRegistry::File(r) => r,
            AnyRegistry::Postgres(r) => r,
        }
    }
}

impl Registry for AnyRegistry {
    fn register(&self, req: RegisterRequest) -> Result<Allocation, RegistryError> {
        self.inner().register(req)
    }
    fn reserve_child(&self, req: ReserveRequest) -> Result<ReservationToken, RegistryError> {
        self.inner().reserve_child(req)
    }
    fn adopt(&self, req: AdoptRequest) -> Result<Allocation, RegistryError> {
        self.inner().adopt(req)
    }
    fn release(&self, name: &PodName, incarnation: Incarnation) -> Result<Released, RegistryError> {
        self.inner().release(name, incarnation)
    }
    fn reclaim_delegation(&self, req: ReclaimRequest) -> Result<Reclaimed, RegistryError> {
        self.inner().reclaim_delegation(req)
    }
    fn relink(
        &self,
        parent: &PodName,
        parent_incarnation: Incarnation,
        children: &[PodName],
    ) -> Result<Vec<PodName>, RegistryError> {
        self.inner().relink(parent, parent_incarnation, children)
    }
    fn update_segment(
        &self,
        name: &PodName,
        incarnation: Incarnation,
        segment: Option<SegmentId>,
    ) -> Result<(), RegistryError> {
        self.inner().update_segment(name, incarnation, segment)
    }
    fn holder_of_segment(&self, segment: SegmentId) -> Result<Option<PodName>, RegistryError> {
        self.inner().holder_of_segment(segment)
    }
    fn list(&self) -> Result<Vec<Allocation>, RegistryError> {
        self.inner().list()
    }
    fn get(&self, name: &PodName) -> Result<Option<Allocation>, RegistryError> {
        self.inner().get(name)
    }
    fn effective_write(&self, name: &PodName) -> Result<Scope, RegistryError> {
        self.inner().effective_write(name)
    }
}
