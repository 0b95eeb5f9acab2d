//! The PostgreSQL backend with two "machines" (process groups with different machine
//! ids) on one database: racing writers never overlap in any committed state; a
//! killed holder's region passes to the other machine only once its lease ended; a
//! holder paused past its lease is fenced and stops without writing.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use pod_registry::{
    Allocation, LeaseStatus, MachineId, PgRegistry, ProcessStamp, Registry, RegistryError, Table,
};

const PROCESSES: usize = 16;
const OPERATIONS: usize = 3_000;

fn machine(id: &str) -> MachineId {
    MachineId {
        machine: id.into(),
        ..MachineId::local().unwrap()
    }
}

fn env(var: &str) -> String {
    std::env::var(var).unwrap()
}

/// Re-executes this binary in `mode` for `test`, stdin and stdout piped.
fn spawn(
    test: &str,
    mode: &str,
    envs: &[(&str, String)],
) -> (Child, ChildStdin, BufReader<ChildStdout>) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdin, stdout)
}

/// The next line starting with one of `prefixes` (test harness chatter is skipped).
fn expect_line(out: &mut BufReader<ChildStdout>, prefixes: &[&str]) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child closed stdout");
        // libtest prints "test NAME ... " before the test's own output, unterminated.
        if let Some(at) = prefixes.iter().filter_map(|p| line.find(p)).min() {
            return line[at..].trim().to_owned();
        }
    }
}

fn signal(child: &Child, sig: rustix::process::Signal) {
    signal_raw(child.id(), sig).unwrap();
}

/// One racing process of machine `RACE_MACHINE`.
fn race() {
    let idx: usize = env("RACE_IDX").parse().unwrap();
    let ops: usize = env("RACE_OPS").parse().unwrap();
    let reg = pg_registry(
        &env("RACE_DB"),
        Duration::from_secs(120),
        machine(&env("RACE_MACHINE")),
    );
    let (ok, refused) = race_rounds(&reg, idx, ops);
    println!("RESULT {ok} {refused}");
}

/// Records every committed state of the allocation table: a deferred constraint
/// trigger runs at commit, while the registry lock is still held, and stores the
/// table as that transaction leaves it.
const HISTORY: &str = "
    CREATE TABLE history (txid bigint PRIMARY KEY, rows jsonb NOT NULL);
    CREATE FUNCTION snapshot_allocations() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO history
            SELECT txid_current(), coalesce(jsonb_agg(row), '[]'::jsonb)
            FROM pod_registry_allocations
        ON CONFLICT (txid) DO UPDATE SET rows = EXCLUDED.rows;
        RETURN NULL;
    END $$;
    CREATE CONSTRAINT TRIGGER snapshot_allocations
        AFTER INSERT OR UPDATE OR DELETE ON pod_registry_allocations
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
        EXECUTE FUNCTION snapshot_allocations();
";

#[test]
fn sixteen_processes_on_two_machines_never_hold_overlapping_writers_in_any_committed_state() {
    const TEST: &str =
        "sixteen_processes_on_two_machines_never_hold_overlapping_writers_in_any_committed_state";
    if child_mode().as_deref() == Some("race") {
        race();
        return;
    }
    let db = pg_fixture::Cluster::shared().create_database().unwrap();
    let reg = pg_registry(&db, Duration::from_secs(120), machine("machine-a"));
    let mut client = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    client.batch_execute(HISTORY).unwrap();
    let started = Instant::now();
    let children: Vec<Child> = (0..PROCESSES)
        .map(|i| {
            spawn_child_mode(
                TEST,
                "race",
                &[
                    ("RACE_DB", db.clone()),
                    ("RACE_IDX", i.to_string()),
                    ("RACE_OPS", (OPERATIONS / PROCESSES + 1).to_string()),
                    (
                        "RACE_MACHINE",
                        if i % 2 == 0 { "machine-a" } else { "machine-b" }.to_string(),
                    ),
                ],
            )
        })
        .collect();
    let (mut ok, mut refused) = (0usize, 0usize);
    for mut child in children {
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert!(child.wait().unwrap().success(), "child failed: {out}");
        let line = out.split("RESULT ").nth(1).expect(&out);
        let mut parts = line
            .split_whitespace()
            .take(2)
            .map(|n| n.parse::<usize>().unwrap());
        ok += parts.next().unwrap();
        refused += parts.next().unwrap();
    }
    let elapsed = started.elapsed();
    let states = client.query("SELECT rows::text FROM history", &[]).unwrap();
    let (mut max_rows, mut machines_seen) = (0, std::collections::BTreeSet::new());
    for r in &states {
        let rows: Vec<Allocation> = serde_json::from_str(&r.get::<_, String>(0)).unwrap();
        max_rows = max_rows.max(rows.len());
        let table = Table {
            allocations: rows,
            ..Default::default()
        };
        let bad = table.overlapping_effective_writes();
        assert!(
            bad.is_empty(),
            "overlapping live writers committed: {bad:?}"
        );
    }
    for r in client
        .query(
            "SELECT DISTINCT machine_id FROM pod_registry_allocations",
            &[],
        )
        .unwrap()
    {
        machines_seen.insert(r.get::<_, Option<String>>(0));
    }
    assert!(reg.list().unwrap().is_empty(), "everything released");
    eprintln!(
        "two machines: {ok} grants, {refused} refusals, {} committed states checked, up to {max_rows} rows, {elapsed:?}",
        states.len()
    );
    assert!(
        ok > 100 && refused > 100,
        "the race exercised both outcomes"
    );
    assert!(states.len() >= ok, "every grant committed a checked state");
    assert!(max_rows > 4);
}

/// A holder of machine `HOLD_MACHINE` with a 1 s lease on `HOLD_PATH`; on each stdin
/// line "write" it writes one line to `HOLD_FILE` if (and only if) its lease is valid.
fn holder() {
    let reg = pg_registry(
        &env("HOLD_DB"),
        Duration::from_millis(1000),
        machine(&env("HOLD_MACHINE")),
    );
    let me = ProcessStamp::current().unwrap();
    let (_, lease) = reg
        .register_leased(register_req("holder", me, vec![w(&env("HOLD_PATH"))]))
        .unwrap();
    let gate = lease.gate();
    println!("READY {}", lease.fence());
    let mut line = String::new();
    let stdin = std::io::stdin();
    while stdin.lock().read_line(&mut line).unwrap() > 0 {
        match gate.wait_usable(Duration::from_secs(10)) {
            LeaseStatus::Valid => {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(env("HOLD_FILE"))
                    .unwrap();
                writeln!(f, "fence {}", lease.fence()).unwrap();
                println!("WROTE");
            }
            LeaseStatus::Fenced(why) => {
                println!("FENCED {why}");
                std::process::exit(3);
            }
            LeaseStatus::Paused(why) => println!("PAUSED {why}"),
        }
        line.clear();
    }
}

/// A holder child process; killed if the test fails.
struct Holder {
    child: Child,
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
    fence: i64,
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = signal_raw(self.child.id(), rustix::process::Signal::CONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal_raw(pid: u32, sig: rustix::process::Signal) -> rustix::io::Result<()> {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(pid, sig)
}

fn start_holder(test: &str, db: &str, m: &str, path: &str, file: &std::path::Path) -> Holder {
    let (child, stdin, mut out) = spawn(
        test,
        "hold",
        &[
            ("HOLD_DB", db.to_owned()),
            ("HOLD_MACHINE", m.to_owned()),
            ("HOLD_PATH", path.to_owned()),
            ("HOLD_FILE", file.display().to_string()),
        ],
    );
    let ready = expect_line(&mut out, &["READY"]);
    let fence = ready.trim_start_matches("READY ").parse().unwrap();
    Holder {
        child,
        stdin,
        out,
        fence,
    }
}

fn lease_end_ms(reg: &PgRegistry, pod: &str) -> i64 {
    let snap = reg.snapshot().unwrap();
    snap.rows
        .iter()
        .find(|(a, _)| a.name.as_str() == pod)
        .and_then(|(_, m)| m.lease_expires_ms)
        .unwrap()
}

#[test]
fn a_killed_holder_is_reclaimable_from_another_machine_only_after_its_lease_ends() {
    const TEST: &str =
        "a_killed_holder_is_reclaimable_from_another_machine_only_after_its_lease_ends";
    if child_mode().as_deref() == Some("hold") {
        holder();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = pg_fixture::Cluster::shared().create_database().unwrap();
    let b = pg_registry(&db, Duration::from_secs(60), machine("machine-b"));
    let mut h = start_holder(TEST, &db, "machine-a", "/w/k", &dir.path().join("out"));
    h.child.kill().unwrap();
    h.child.wait().unwrap();
    // No more renewals: this is the lease's final end, on the database's clock.
    let end = lease_end_ms(&b, "holder");
    let mut refused_before_end = 0;
    let granted_at = loop {
        let before = b.snapshot().unwrap().db_now_ms;
        match b.register(register_req("taker", me(), vec![w("/w/k/x")])) {
            Ok(_) => break b.snapshot().unwrap().db_now_ms,
            Err(RegistryError::WriteConflict { owner, .. }) => {
                assert_eq!(owner.as_str(), "holder");
                if before < end {
                    refused_before_end += 1;
                }
            }
            Err(e) => panic!("unexpected: {e}"),
        }
        assert!(before < end + 10_000, "never granted after the lease ended");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(refused_before_end > 0, "tried while the lease was running");
    assert!(
        granted_at >= end,
        "granted at {granted_at}, lease ended at {end}"
    );
}

#[test]
fn a_killed_holder_on_this_machine_is_reclaimed_at_once_by_probing_its_pid() {
    const TEST: &str = "a_killed_holder_on_this_machine_is_reclaimed_at_once_by_probing_its_pid";
    if child_mode().as_deref() == Some("hold") {
        holder();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = pg_fixture::Cluster::shared().create_database().unwrap();
    let a = pg_registry(&db, Duration::from_secs(60), machine("machine-a"));
    let mut h = start_holder(TEST, &db, "machine-a", "/w/k", &dir.path().join("out"));
    let conflict = a.register(register_req("taker", me(), vec![w("/w/k/x")]));
    assert!(
        matches!(conflict, Err(RegistryError::WriteConflict { .. })),
        "{conflict:?}"
    );
    h.child.kill().unwrap();
    h.child.wait().unwrap();
    let end = lease_end_ms(&a, "holder");
    a.register(register_req("taker", me(), vec![w("/w/k/x")]))
        .unwrap();
    let at = a.snapshot().unwrap().db_now_ms;
    assert!(at < end, "granted by the pid probe, before the lease ended");
}

#[test]
fn a_holder_paused_past_its_lease_is_fenced_and_stops_without_writing() {
    const TEST: &str = "a_holder_paused_past_its_lease_is_fenced_and_stops_without_writing";
    if child_mode().as_deref() == Some("hold") {
        holder();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("writes");
    let db = pg_fixture::Cluster::shared().create_database().unwrap();
    let b = pg_registry(&db, Duration::from_secs(60), machine("machine-b"));
    let mut h = start_holder(TEST, &db, "machine-a", "/w/s", &file);
    let fence = h.fence;
    writeln!(h.stdin, "write").unwrap();
    assert_eq!(
        expect_line(&mut h.out, &["WROTE", "PAUSED", "FENCED"]),
        "WROTE"
    );

    signal(&h.child, rustix::process::Signal::STOP);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match b.register(register_req("taker", me(), vec![w("/w/s")])) {
            Ok(_) => break,
            Err(RegistryError::WriteConflict { .. }) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "the stopped holder's lease never ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let taker_fence = b.fence_of(&name("taker")).unwrap().unwrap();
    assert!(taker_fence > fence, "fencing tokens grow");

    signal(&h.child, rustix::process::Signal::CONT);
    writeln!(h.stdin, "write").unwrap();
    let answer = expect_line(&mut h.out, &["WROTE", "PAUSED", "FENCED"]);
    assert!(
        answer.starts_with("FENCED") && answer.contains("lost its registry allocation"),
        "{answer}"
    );
    assert_eq!(h.child.wait().unwrap().code(), Some(3));
    let writes = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        writes,
        format!("fence {fence}\n"),
        "nothing written after the pause"
    );
    // The taker keeps the region: the fenced holder's comeback changed nothing.
    assert!(b.get(&name("taker")).unwrap().is_some());
    assert!(b.get(&name("holder")).unwrap().is_none());
}

/// Each connection keeps the rows it decoded and re-reads only rows written since:
/// a row another machine changed is seen changed (not as this connection cached it),
/// a row another machine released is gone, and a dead process of this machine that
/// blocks nobody is not probed but is reclaimed at once when it blocks someone.
#[test]
fn each_connection_sees_the_rows_other_machines_changed() {
    let cluster = pg_fixture::Cluster::shared();
    let db = cluster.create_database().unwrap();
    let long = Duration::from_secs(120);
    let (a, b) = (
        pg_registry(&db, long, machine("machine-a")),
        pg_registry(&db, long, machine("machine-b")),
    );
    let parent = me();
    a.register(register_req("parent", parent, vec![w("/w")]))
        .unwrap();
    a.register(register_req("other", me(), vec![w("/o")]))
        .unwrap();
    assert_eq!(a.list().unwrap().len(), 2); // a has decoded both rows
    let reserve = |reg: &PgRegistry| {
        reg.reserve_child(pod_registry::ReserveRequest {
            parent: name("parent"),
            parent_incarnation: parent.incarnation,
            child: name("child"),
            rules: vec![w("/w/c")],
            ttl: long,
        })
    };
    // b changes parent's row (its delegation record) and releases other.
    reserve(&b).unwrap();
    b.release(
        &name("other"),
        a.get(&name("other"))
            .unwrap()
            .unwrap()
            .process
            .unwrap()
            .incarnation,
    )
    .unwrap();
    // a reads parent's new row: the rule overlaps the sibling delegation recorded
    // there (its stale copy has no siblings, and would have said "name taken").
    match reserve(&a).unwrap_err() {
        RegistryError::Delegation { .. } => {}
        e => panic!("unexpected: {e}"),
    }
    let p = a.get(&name("parent")).unwrap().unwrap();
    assert_eq!(p.delegations.len(), 1, "{p:?}");
    assert!(a.get(&name("other")).unwrap().is_none());
    // /o is free again for a.
    a.register(register_req("other2", me(), vec![w("/o")]))
        .unwrap();

    // A dead process of machine a blocking nobody: its row stays (not probed) ...
    a.register(register_req("dead", dead_stamp(), vec![w("/d")]))
        .unwrap();
    a.register(register_req("unrelated", me(), vec![w("/u")]))
        .unwrap();
    let stored = |n: &str| {
        a.snapshot()
            .unwrap()
            .rows
            .iter()
            .any(|(r, _)| r.name.as_str() == n)
    };
    assert!(stored("dead"));
    // ... but one who needs its region gets it at once (the probe runs then).
    a.register(register_req("taker", me(), vec![w("/d/x")]))
        .unwrap();
    assert!(!stored("dead"));
}

/// A client of schema 1 still connected when another migrated the database writes
/// rows the old way (an upsert of the JSON that leaves `rev` alone): the schema gives
/// such a write a new revision, so a warm row cache sees the change instead of its
/// stale copy.
#[test]
fn a_row_written_without_a_new_revision_still_reaches_every_cache() {
    let db = pg_fixture::Cluster::shared().create_database().unwrap();
    let reg = pg_registry(&db, Duration::from_secs(120), machine("machine-a"));
    reg.register(register_req("old-writer", me(), vec![w("/w")]))
        .unwrap();
    assert_eq!(
        reg.get(&name("old-writer")).unwrap().unwrap().allow,
        [w("/w")]
    );
    // What a schema-1 client's write-back does, with the rule moved to /moved.
    let mut raw = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    let before: i64 = raw
        .query_one(
            "SELECT rev FROM pod_registry_allocations WHERE name = 'old-writer'",
            &[],
        )
        .unwrap()
        .get(0);
    raw.batch_execute(
        r#"INSERT INTO pod_registry_allocations (name, row, machine_id, boot_id, fence, lease_expires_at, position)
           SELECT name, replace(row::text, '"/w"', '"/moved"')::jsonb, machine_id, boot_id, fence, lease_expires_at, position
           FROM pod_registry_allocations WHERE name = 'old-writer'
           ON CONFLICT (name) DO UPDATE SET row = EXCLUDED.row"#,
    )
    .unwrap();
    let after: i64 = raw
        .query_one(
            "SELECT rev FROM pod_registry_allocations WHERE name = 'old-writer'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_ne!(before, after, "the write got a new revision");
    let seen = reg.get(&name("old-writer")).unwrap().unwrap();
    assert_eq!(seen.allow[0].path.as_path(), std::path::Path::new("/moved"));
    // A lease renewal (no JSON change) keeps the revision: renewals stay cheap.
    raw.batch_execute(
        "UPDATE pod_registry_allocations SET lease_expires_at = lease_expires_at WHERE name = 'old-writer'",
    )
    .unwrap();
    let renewed: i64 = raw
        .query_one(
            "SELECT rev FROM pod_registry_allocations WHERE name = 'old-writer'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(renewed, after);
}
