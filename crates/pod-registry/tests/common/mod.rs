//! Shared test helpers: rules, real processes with known start times, child modes.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pod_ids::PodName;
use pod_registry::{
    AdoptRequest, AnyRegistry, FileRegistry, Incarnation, MachineId, PgOptions, PgRegistry,
    ProcessStamp, RegisterRequest, Registry, RegistryError, ReserveRequest, process_start_time,
};
use rand::Rng;
use rand::seq::IndexedRandom;
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

/// A write rule under `/w` from a small set, so that racing processes overlap often.
pub fn random_rule(rng: &mut impl Rng) -> ScopeRule {
    let top = ["a", "b", "c", "d"].choose(rng).unwrap();
    let sub = ["x", "y", "z"].choose(rng).unwrap();
    let path = match rng.random_range(0..10) {
        0 => "/w".to_owned(),
        1..=4 => format!("/w/{top}"),
        _ => format!("/w/{top}/{sub}"),
    };
    ScopeRule::trusted(path, Access::Write, rng.random_bool(0.7)).unwrap()
}

/// One racing process (number `idx`): `rounds` random registrations, delegations
/// (reserve + adopt of a sub-rule of a held rule) and releases; releases what it
/// still holds at the end. Returns (granted, refused); any other error panics.
pub fn race_rounds(reg: &impl Registry, idx: usize, rounds: usize) -> (usize, usize) {
    let mut rng = rand::rng();
    let mut held: Vec<(String, ProcessStamp, Vec<ScopeRule>)> = Vec::new();
    let (mut ok, mut refused) = (0usize, 0usize);
    for round in 0..rounds {
        let roll = rng.random_range(0..10);
        if roll < 5 || held.is_empty() {
            let pod = format!("p{idx}-{round}");
            let rules: Vec<ScopeRule> = (0..rng.random_range(1..=2))
                .map(|_| random_rule(&mut rng))
                .collect();
            let stamp = ProcessStamp::current().unwrap();
            match reg.register(register_req(&pod, stamp, rules.clone())) {
                Ok(_) => {
                    ok += 1;
                    held.push((pod, stamp, rules));
                }
                Err(RegistryError::WriteConflict { .. }) => refused += 1,
                Err(e) => panic!("unexpected: {e}"),
            }
        } else if roll < 7 {
            let (parent, pstamp, rules) = held[rng.random_range(0..held.len())].clone();
            let sub = ["x", "y", "z", "q"].choose(&mut rng).unwrap();
            let rule =
                ScopeRule::trusted(rules[0].path.as_path().join(sub), Access::Write, true).unwrap();
            let child = format!("c{idx}-{round}");
            match reg.reserve_child(ReserveRequest {
                parent: name(&parent),
                parent_incarnation: pstamp.incarnation,
                child: name(&child),
                rules: vec![rule.clone()],
                ttl: Duration::from_secs(60),
            }) {
                Ok(token) => {
                    let stamp = ProcessStamp::current().unwrap();
                    reg.adopt(AdoptRequest {
                        name: name(&child),
                        token,
                        process: stamp,
                        socket: None,
                        segment_id: None,
                    })
                    .unwrap();
                    ok += 1;
                    held.push((child, stamp, vec![rule]));
                }
                Err(RegistryError::Delegation { .. } | RegistryError::NotRegistered { .. }) => {
                    refused += 1
                }
                Err(e) => panic!("unexpected: {e}"),
            }
        } else {
            let (pod, stamp, _) = held.swap_remove(rng.random_range(0..held.len()));
            reg.release(&name(&pod), stamp.incarnation).unwrap();
        }
    }
    for (pod, stamp, _) in held {
        reg.release(&name(&pod), stamp.incarnation).unwrap();
    }
    (ok, refused)
}
