//! Registry tables (`registry.json`): arbitrary bytes where the table should be,
//! read without the lock, and (every fourth input) run through a real transaction,
//! which loads, reaps dead rows, re-parents their children and saves. A table that
//! does not parse is a `Corrupt` error naming line and column on read, and is
//! rebuilt from the holds (none here) by a transaction.

use std::time::Duration;

use pod_ids::PodName;
use pod_registry::{
    AdoptRequest, FileRegistry, Incarnation, ProcessStamp, RegisterRequest, Registry,
    RegistryError, ReserveRequest,
};
use scope::{Access, ScopeRule};

use crate::fuzz::Target;

/// A file registry whose table each input replaces.
pub struct RegistryTable {
    _dir: tempfile::TempDir,
    reg: FileRegistry,
    corpus: Vec<Vec<u8>>,
}

impl RegistryTable {
    /// A registry and a corpus of real tables: a lead (this process) with a live
    /// adopted child, a grandchild reservation, and a row of a dead process.
    pub fn new() -> anyhow::Result<RegistryTable> {
        let dir = crate::targets::scratch_dir()?;
        let reg = FileRegistry::open(dir.path().join("run"))?;
        let w = |p: &str| ScopeRule::trusted(p, Access::Write, true);
        let name = |n: &str| n.parse::<PodName>();
        let me = ProcessStamp::current()?;
        reg.register(RegisterRequest {
            name: name("lead")?,
            process: me,
            socket: Some("/run/pods/lead/sock".into()),
            allow: vec![w("/w")?, ScopeRule::trusted("/usr", Access::Read, true)?],
            deny: vec![w("/w/.git")?],
            segment_id: None,
            restoring_children: vec![],
        })?;
        let token = reg.reserve_child(ReserveRequest {
            parent: name("lead")?,
            parent_incarnation: me.incarnation,
            child: name("child")?,
            rules: vec![w("/w/src")?],
            ttl: Duration::from_secs(3600),
        })?;
        let mut corpus = vec![std::fs::read(reg.table_path())?];
        let child = ProcessStamp {
            incarnation: Incarnation::random(),
            ..me
        };
        reg.adopt(AdoptRequest {
            name: name("child")?,
            token,
            process: child,
            socket: None,
            segment_id: None,
        })?;
        reg.reserve_child(ReserveRequest {
            parent: name("child")?,
            parent_incarnation: child.incarnation,
            child: name("grandchild")?,
            rules: vec![w("/w/src/deep")?],
            ttl: Duration::from_secs(3600),
        })?;
        corpus.push(std::fs::read(reg.table_path())?);
        // A row whose process is dead (start time that can never match).
        let dead = ProcessStamp {
            incarnation: Incarnation::random(),
            pid_start_time: 1,
            ..me
        };
        let mut table: serde_json::Value =
            serde_json::from_slice(&std::fs::read(reg.table_path())?)?;
        if let Some(rows) = table["allocations"].as_array_mut()
            && let Some(first) = rows.first().cloned()
        {
            let mut ghost = first;
            ghost["name"] = "ghost".into();
            ghost["process"] = serde_json::to_value(dead)?;
            ghost["allow"] = serde_json::to_value([w("/elsewhere")?])?;
            rows.push(ghost);
        }
        corpus.push(serde_json::to_vec(&table)?);
        Ok(RegistryTable {
            _dir: dir,
            reg,
            corpus,
        })
    }
}

impl Target for RegistryTable {
    fn name(&self) -> &'static str {
        "registry-table"
    }

    fn corpus(&self) -> Vec<Vec<u8>> {
        self.corpus.clone()
    }

    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            br#""delegated_from":"lead""#,
            br#""delegated_from":"child""#,
            br#""origin":"grandchild""#,
            br#""process":null"#,
            br#""version":2"#,
        ]
    }

    fn accepts(&self, input: &[u8]) -> bool {
        std::fs::write(self.reg.table_path(), input).is_ok() && self.reg.read_unlocked().is_ok()
    }

    fn check(&self, input: &[u8], knob: u64) -> Result<(), String> {
        std::fs::write(self.reg.table_path(), input).map_err(|e| e.to_string())?;
        let read = self.reg.read_unlocked();
        if let Err(e) = &read {
            match e {
                RegistryError::Corrupt { message, .. }
                    if message.contains("line") && message.contains("column") => {}
                other => return Err(format!("unclear or unexpected error: {other} ({other:?})")),
            }
        }
        if (knob >> 16).is_multiple_of(4) {
            // A transaction never fails on the table's contents: unparsable tables
            // are rebuilt, dead rows reaped.
            let rows = self
                .reg
                .list()
                .map_err(|e| format!("a transaction failed on this table: {e}"))?;
            if read.is_err() && !rows.is_empty() {
                return Err("a corrupt table was not rebuilt from the (absent) holds".into());
            }
            let again = self
                .reg
                .read_unlocked()
                .map_err(|e| format!("the table a transaction saved does not read: {e}"))?;
            if again.allocations.len() != rows.len() {
                return Err("the saved table differs from what the transaction saw".into());
            }
        }
        Ok(())
    }
}
