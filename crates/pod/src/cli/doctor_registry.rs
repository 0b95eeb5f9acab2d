//! `pod doctor`'s registry check: which backend, whether it answers, and for the
//! PostgreSQL backend the leases that ended without being reclaimed and how far this
//! machine's clock is from the database's (leases are judged on the database's clock,
//! so skew never breaks the guarantee, but it makes the times people read disagree).

use pod_ids::Roots;
use pod_registry::{AnyRegistry, Registry};
use serde::Serialize;

/// Skew above this is reported.
const SKEW_WARN_MS: i64 = 1_000;

/// What `pod doctor` says about the registry.
#[derive(Debug, Serialize)]
pub struct RegistryReport {
    /// `file` or `postgres`, with the place (no password).
    pub location: String,
    /// Live allocations (None when unreachable).
    pub live: Option<usize>,
    /// Local clock minus the database's, milliseconds (PostgreSQL only).
    pub clock_skew_ms: Option<i64>,
    /// Pods whose lease ended and whose row nobody reclaimed yet.
    pub expired_leases: Vec<String>,
}

/// Checks the configured registry, adding what is wrong to `problems`.
pub fn registry_report(roots: &Roots, problems: &mut Vec<String>) -> RegistryReport {
    let mut report = RegistryReport {
        location: String::from("unknown"),
        live: None,
        clock_skew_ms: None,
        expired_leases: Vec::new(),
    };
    let reg = match crate::allocation::registry(roots) {
        Ok(r) => r,
        Err(e) => {
            problems.push(format!("registry: {e}"));
            return report;
        }
    };
    report.location = reg.describe();
    match reg.list() {
        Ok(rows) => report.live = Some(rows.len()),
        Err(e) => problems.push(format!("registry: {e}")),
    }
    if let AnyRegistry::Postgres(pg) = &reg {
        match pg.snapshot() {
            Ok(snap) => {
                let skew = snap.clock_skew_ms();
                report.clock_skew_ms = Some(skew);
                if skew.abs() > SKEW_WARN_MS {
                    problems.push(format!(
                        "registry: this machine's clock is {:.1} s {} the database's; leases are judged on the database's clock, so scope stays safe, but check NTP on this machine or the database server",
                        skew.abs() as f64 / 1000.0,
                        if skew > 0 { "ahead of" } else { "behind" }
                    ));
                }
                for (a, m) in snap.expired_leases() {
                    let ago = snap.db_now_ms - m.lease_expires_ms.unwrap_or(snap.db_now_ms);
                    report.expired_leases.push(a.name.to_string());
                    problems.push(format!(
                        "registry: pod {} (machine {}, pid {}) has a lease that ended {:.1} s ago and was not renewed: its holder is dead, paused or cut off; the region is reclaimed by the next allocation that needs it",
                        a.name,
                        m.machine_id.as_deref().unwrap_or("?"),
                        a.process.map_or("-".into(), |p| p.pid.to_string()),
                        ago as f64 / 1000.0
                    ));
                }
            }
            Err(e) => problems.push(format!("registry: {e}")),
        }
    }
    report
}
