//! No lost updates: 8 processes × 200 field updates each on the same Pod, touching
//! different fields and children, all at once. The final record must hold all
//! 1600 effects; a read-modify-write outside the lock would drop some.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Instant;

use common::{child_spec, manifest, name, segment, session};
use pod_ids::PodName;
use pod_store::{ChildStatus, PodStore};

const CHILD_ENV: &str = "POD_STORE_WRITER_CHILD";
const CHILD_TEST: &str = "writer_child";
const PROCESSES: u64 = 8;
const UPDATES: u64 = 200;
/// Updates per writer that go to its children (20 children × 3 steps).
const CHILD_UPDATES: u64 = 60;

fn child_name(k: u64, base: u64) -> String {
    format!("c{k}-{base}")
}

fn pid_hint(k: u64, base: u64) -> u32 {
    (k * 1000 + base) as u32
}

/// Writer `k`'s update `i`: the first 60 updates walk 20 children through add,
/// live (with a pid hint) and stopping; the other 140 each set their own key of
/// `manifest.extra`. Every effect stays visible in the final record.
fn update(store: &PodStore, pod: &PodName, k: u64, i: u64) {
    if i < CHILD_UPDATES {
        let base = i - i % 3;
        let child = name(&child_name(k, base));
        match i % 3 {
            0 => {
                let spec = child_spec(child.as_str(), &format!("/w/{child}"));
                store.add_pending_child(pod, spec).unwrap();
            }
            1 => {
                let pid = Some(pid_hint(k, base));
                store.mark_child_live(pod, &child, None, pid).unwrap();
            }
            _ => drop(store.mark_child_stopping(pod, &child).unwrap()),
        }
    } else {
        store
            .set_manifest_extra(pod, &format!("k{k}-{i}"), i.into())
            .unwrap();
    }
}

/// Child mode: writer `k` does its 200 updates.
#[test]
#[ignore = "child mode of eight_processes_lose_none_of_1600_updates"]
fn writer_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (root, k) = spec.split_once('\n').unwrap();
    let k: u64 = k.parse().unwrap();
    let store = PodStore::new(root);
    let pod = name("shared");
    for i in 0..UPDATES {
        update(&store, &pod, k, i);
    }
}

#[test]
fn eight_processes_lose_none_of_1600_updates() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pods");
    let store = PodStore::new(&root);
    let pod = name("shared");
    store
        .create_pending(&pod, session(0), segment(0), manifest(), None)
        .unwrap();
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|k| {
            Command::new(&exe)
                .args(["--exact", CHILD_TEST, "--ignored", "--test-threads=1"])
                .env(CHILD_ENV, format!("{}\n{k}", root.display()))
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    for (k, mut c) in children.into_iter().enumerate() {
        assert!(c.wait().unwrap().success(), "writer {k} failed");
    }
    eprintln!(
        "{} updates by {PROCESSES} processes in {:?}",
        PROCESSES * UPDATES,
        started.elapsed()
    );

    let r = store.read(&pod).unwrap();
    let mut effects = 0;
    for k in 0..PROCESSES {
        for base in (0..CHILD_UPDATES).step_by(3) {
            let cname = name(&child_name(k, base));
            let c = r
                .child(&cname)
                .unwrap_or_else(|| panic!("child {cname} (added by writer {k}) lost"));
            assert_eq!(
                c.write[0].path.as_path().to_str(),
                Some(&*format!("/w/{cname}"))
            );
            assert_eq!(c.pid, Some(pid_hint(k, base)), "{cname}: live update lost");
            assert_eq!(
                c.status,
                ChildStatus::Stopping,
                "{cname}: stopping update lost"
            );
            effects += 3;
        }
        for i in CHILD_UPDATES..UPDATES {
            let key = format!("k{k}-{i}");
            assert_eq!(r.manifest.extra.get(&key), Some(&i.into()), "{key} lost");
            effects += 1;
        }
    }
    assert_eq!(effects, PROCESSES * UPDATES);
    assert_eq!(r.children.len() as u64, PROCESSES * CHILD_UPDATES / 3);
    assert_eq!(
        r.manifest.extra.len() as u64,
        PROCESSES * (UPDATES - CHILD_UPDATES)
    );
    // The record's own fields were left alone by all of them.
    assert_eq!(r.manifest.model, manifest().model);
    assert_eq!(r.state.segment(), segment(0));
}
