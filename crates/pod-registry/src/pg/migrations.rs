//! Embedded, versioned schema migrations. Each migration runs once, in its own
//! transaction, under an advisory lock, and records its version in
//! `pod_registry_schema`; a database written by a newer pods (a version this binary
//! does not know) is refused rather than misread.
//!
//! Hand-written (thirty lines) rather than `refinery`/`sqlx::migrate`: one ordered list
//! of SQL files and a version table is all this registry needs, and those crates bring
//! their own async runtimes or drivers.

use postgres::Client;

use crate::error::RegistryError;
use crate::pg::db_error;

/// The migrations, in order; version = index + 1. Never edit a released one: add one.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_allocations.sql"),
    include_str!("../../migrations/0002_row_revisions.sql"),
    include_str!("../../migrations/0003_revision_on_every_write.sql"),
];

/// Separate from the operation lock so a migration never waits behind operations.
const MIGRATION_LOCK: i64 = 0x706f_6473_6d69_6701;

/// The schema version this binary writes (PostgreSQL backend).
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Brings the database's schema to [`SCHEMA_VERSION`].
pub(crate) fn migrate(client: &mut Client, target: &str) -> Result<(), RegistryError> {
    let db = |e| db_error(target, e);
    let mut tx = client.transaction().map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(db)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS pod_registry_schema (
             version    integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .map_err(db)?;
    let current: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM pod_registry_schema",
            &[],
        )
        .map_err(db)?
        .get(0);
    if current > SCHEMA_VERSION {
        return Err(RegistryError::SchemaTooNew {
            target: target.to_owned(),
            found: current,
            known: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i32 + 1;
        tx.batch_execute(sql).map_err(db)?;
        tx.execute(
            "INSERT INTO pod_registry_schema (version) VALUES ($1)",
            &[&version],
        )
        .map_err(db)?;
        tracing::info!(version, "registry database migrated");
    }
    tx.commit().map_err(db)
}
