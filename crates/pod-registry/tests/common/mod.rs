//! Shared test helpers: rules, real processes with known start times, child modes.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pod_ids::PodName;
use pod_registry::{
    AnyRegistry, FileRegistry, Incarnation, MachineId, PgOptions, PgRegistry, ProcessStamp,
    RegisterRequest, process_start_time,
};
use scope::{Access, ScopeRule};

/// Environment variable selecting a child mode when a test re-executes itself.
pub const CHILD_ENV: &str = "POD_REGISTRY_TEST_CHILD";

pub fn w(p: &str) -> ScopeRule {
    ScopeRule::trusted(p, Access::Write, true).unwrap()
}

pub fn rd(p: &str) -> ScopeRule {
    ScopeRule::trusted(p, Access::Read, true).unwrap()
}

pub fn name(s: &str) -> PodName {
    s.parse().unwrap()
}

/// This process with a fresh incarnation.
pub fn me() -> ProcessStamp {
    ProcessStamp::current().unwrap()
}

pub fn register_req(pod: &str, process: ProcessStamp, allow: Vec<ScopeRule>) -> RegisterRequest {
    RegisterRequest {
        name: name(pod),
        process,
        socket: None,
        allow,
        deny: vec![],
        segment_id: None,
        restoring_children: vec![],
    }
}

pub fn registry(dir: &Path) -> FileRegistry {
    FileRegistry::open(dir.join("run")).unwrap()
}

/// The backends the shared behavioural suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    File,
    Postgres,
}

/// A fresh, empty registry of `backend`: the file backend in `dir`, or a new
/// database in this test binary's private PostgreSQL cluster. Leases are long here:
/// the suite registers processes that never renew.
pub fn open(backend: Backend, dir: &Path) -> AnyRegistry {
    match backend {
        Backend::File => AnyRegistry::File(registry(dir)),
        Backend::Postgres => AnyRegistry::Postgres(pg_registry(
            &pg_fixture::Cluster::shared().create_database().unwrap(),
            Duration::from_secs(600),
            MachineId::local().unwrap(),
        )),
    }
}

pub fn pg_registry(conninfo: &str, lease: Duration, machine: MachineId) -> PgRegistry {
    PgRegistry::connect(PgOptions {
        conninfo: conninfo.to_owned(),
        lease,
        lock_timeout: Duration::from_secs(10),
        machine,
    })
    .unwrap()
}

/// Runs each listed `fn name(backend: Backend)` as two tests, `file::name` and
/// `postgres::name`: one behavioural suite, two backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod file {
            $(#[test]
            fn $name() {
                super::$name($crate::common::Backend::File)
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                super::$name($crate::common::Backend::Postgres)
            })*
        }
    };
}

/// A real `sleep 60` process: alive until killed, with its start time known.
pub struct Sleeper {
    child: Child,
    pub stamp: ProcessStamp,
}

impl Sleeper {
    pub fn spawn() -> Sleeper {
        let child = Command::new("sleep")
            .arg("60")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let stamp = ProcessStamp {
            incarnation: Incarnation::random(),
            pid,
            pid_start_time: process_start_time(pid).unwrap(),
        };
        Sleeper { child, stamp }
    }

    /// SIGKILL and reap, so the pid is really gone (not a zombie).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A stamp of a process that has already exited.
pub fn dead_stamp() -> ProcessStamp {
    let mut s = Sleeper::spawn();
    s.kill();
    s.stamp
}

/// Polls `cond` until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// Re-executes this test binary running only `test`, with the child mode set.
pub fn spawn_child_mode(test: &str, mode: &str, envs: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

pub fn child_mode() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// The registry's live rows as a table (for its consistency checks).
pub fn table_of(reg: &impl pod_registry::Registry) -> pod_registry::Table {
    pod_registry::Table {
        allocations: reg.list().unwrap(),
        ..Default::default()
    }
}
