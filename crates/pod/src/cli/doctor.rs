//! `pod doctor`: checks directories and permissions, records, the tail of every active
//! segment, and runtime files against live processes. Reports problems with their
//! paths; changes nothing without `--fix` (which only removes stale sockets and
//! leftover launch files of dead Pods).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitCode;

use pod_ids::Roots;
use session_store::SessionStore;

use crate::layout::PodPaths;
use crate::liveness;
use crate::record::RecordStore;

/// `pod doctor`.
pub fn doctor(roots: &Roots, fix: bool, json: bool) -> anyhow::Result<ExitCode> {
    let mut problems: Vec<String> = Vec::new();
    let mut fixed: Vec<String> = Vec::new();
    for (what, dir, private) in [
        ("data", &roots.data, false),
        ("sessions", &roots.sessions, true),
        ("pods", &roots.pods, false),
        ("runtime", &roots.runtime, true),
    ] {
        match std::fs::metadata(dir) {
            Ok(m) if !m.is_dir() => {
                problems.push(format!("{what} root {} is not a directory", dir.display()))
            }
            Ok(m) if private && m.permissions().mode() & 0o077 != 0 => problems.push(format!(
                "{what} root {} has mode {:o}; it should be 0700 (chmod 700 {})",
                dir.display(),
                m.permissions().mode() & 0o777,
                dir.display()
            )),
            Ok(_) => {}
            Err(_) => {} // not created yet: nothing to check
        }
    }
    let records = RecordStore::new(roots.pods.clone());
    let sessions = SessionStore::new(roots.sessions.clone());
    let mut checked = 0;
    for r in records.list() {
        checked += 1;
        let rec = match r {
            Ok(r) => r,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        let paths = PodPaths::new(roots, &rec.name);
        let live = liveness::probe(&paths.lock()).is_some();
        if let Some((_, seg)) = rec.active_segment() {
            match sessions.read_segment(seg) {
                Ok(read) => {
                    if let Some(t) = read.torn_tail {
                        problems.push(format!(
                            "{}: segment {} ends in a torn line ({} bytes at offset {}); it is cut off when the Pod is resumed",
                            rec.name.as_str(),
                            read.path.display(),
                            t.len,
                            t.offset
                        ));
                    }
                }
                Err(e) => problems.push(format!("{}: {e}", rec.name.as_str())),
            }
        }
        if !live {
            let sock = paths.socket();
            if sock.exists() {
                if fix {
                    remove(&sock, &mut fixed, &mut problems);
                } else {
                    problems.push(format!(
                        "{}: stale socket {} (no live process; --fix removes it)",
                        rec.name.as_str(),
                        sock.display()
                    ));
                }
            }
            if let Ok(rd) = std::fs::read_dir(&paths.dir) {
                for e in rd.flatten() {
                    if e.file_name().to_string_lossy().starts_with("launch-") {
                        if fix {
                            remove(&e.path(), &mut fixed, &mut problems);
                        } else {
                            problems.push(format!(
                                "{}: leftover launch file {} (--fix removes it)",
                                rec.name.as_str(),
                                e.path().display()
                            ));
                        }
                    }
                }
            }
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"pods_checked": checked, "problems": problems, "fixed": fixed})
            )?
        );
    } else {
        for f in &fixed {
            println!("fixed: removed {f}");
        }
        for p in &problems {
            println!("problem: {p}");
        }
        println!("{checked} Pod(s) checked, {} problem(s)", problems.len());
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn remove(p: &Path, fixed: &mut Vec<String>, problems: &mut Vec<String>) {
    match std::fs::remove_file(p) {
        Ok(()) => fixed.push(p.display().to_string()),
        Err(e) => problems.push(format!("cannot remove {}: {e}", p.display())),
    }
}
