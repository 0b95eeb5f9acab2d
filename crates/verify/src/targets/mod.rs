//! One fuzz target per parser that reads what pods did not write itself in this
//! process: provider streams, session logs, Pod records, registry tables, socket
//! frames, config files and scope paths.

mod config_file;
mod pod_record;
mod protocol_frames;
mod registry_table;
mod scope_paths;
mod session_log;
mod sse;

pub use config_file::ConfigFile;
pub use pod_record::PodRecord;
pub use protocol_frames::ProtocolFrames;
pub use registry_table::RegistryTable;
pub use scope_paths::ScopePaths;
pub use session_log::SessionLog;
pub use sse::Sse;

use crate::fuzz::Target;

/// Every target, each with its own scratch directory.
pub fn all() -> anyhow::Result<Vec<Box<dyn Target>>> {
    let mut out: Vec<Box<dyn Target>> = Vec::new();
    for sse in Sse::all() {
        out.push(Box::new(sse));
    }
    out.push(Box::new(SessionLog::new()?));
    out.push(Box::new(PodRecord::new()?));
    out.push(Box::new(RegistryTable::new()?));
    out.push(Box::new(ProtocolFrames));
    out.push(Box::new(ConfigFile::new()?));
    out.push(Box::new(ScopePaths::new()?));
    Ok(out)
}

/// A private temporary directory, in memory where `/dev/shm` exists: the targets
/// rewrite a file per input, and fsyncs there cost nothing.
pub(crate) fn scratch_dir() -> std::io::Result<tempfile::TempDir> {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::Builder::new().prefix("pods-fuzz").tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
}
