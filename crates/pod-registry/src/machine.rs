//! Which machine, and which boot of it, a process runs on. The PostgreSQL backend
//! records both with every held allocation: a row of this machine and boot is judged
//! by probing its process directly; a row of another boot of this machine is dead (the
//! machine restarted); a row of another machine is proven dead only by its lease.

use crate::error::RegistryError;

/// Overrides `/etc/machine-id` (containers that share one, or tests simulating two
/// machines on one host). Two hosts must never share a value.
pub const MACHINE_ID_ENV: &str = "PODS_MACHINE_ID";

/// A machine and one boot of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineId {
    /// `$PODS_MACHINE_ID`, else `/etc/machine-id`, else `/var/lib/dbus/machine-id`.
    pub machine: String,
    /// `/proc/sys/kernel/random/boot_id` (new at every boot).
    pub boot: String,
}

impl MachineId {
    /// This machine and boot.
    pub fn local() -> Result<MachineId, RegistryError> {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let machine = std::env::var(MACHINE_ID_ENV)
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| read("/etc/machine-id"))
            .or_else(|| read("/var/lib/dbus/machine-id"))
            .ok_or(RegistryError::NoMachineId)?;
        let boot = read("/proc/sys/kernel/random/boot_id").ok_or(RegistryError::NoMachineId)?;
        Ok(MachineId { machine, boot })
    }
}
