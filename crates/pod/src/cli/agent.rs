//! `pod compact`, `pod fork` and `pod rewind`: commands on a Pod's conversation that
//! always continue in a new segment and never rewrite a log (ARCHITECTURE §7).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pod_ids::{PodName, Roots, SegmentId, SessionId};
use scope::{Access, Scope, ScopeRule};
use session_store::{Entry, EntryKind, ForkOptions, SessionStore};

use super::exit::{Exit, fail};
use crate::client::PodClient;
use crate::launch::{LaunchConfig, StartMode};
use crate::layout::PodPaths;
use crate::liveness;
use crate::outln;
use crate::record::{PodRecord, RecordStore};

/// `pod compact NAME`: asks the live Pod to compact now.
pub async fn compact(roots: &Roots, name: &PodName, json: bool) -> anyhow::Result<ExitCode> {
    let paths = PodPaths::new(roots, name);
    if liveness::probe(&paths.lock()).is_none() {
        return Err(fail(
            Exit::Usage,
            format!(
                "Pod {0} is not running; start it with `pod resume {0} --detach`, then compact it",
                name.as_str()
            ),
        ));
    }
    let mut c = PodClient::connect(&paths.socket(), None)
        .await
        .with_context(|| format!("cannot talk to Pod {}", name.as_str()))?;
    let r = c
        .request(protocol::Request::Compact)
        .await
        .with_context(|| format!("Pod {} did not compact", name.as_str()))?;
    if json {
        outln!("{}", serde_json::to_string(&r)?)?;
    } else {
        outln!(
            "{} compacted: ~{} → ~{} tokens; continuing in segment {} (the old segment {} is unchanged)",
            name.as_str(),
            r["before_tokens"],
            r["after_tokens"],
            r["segment_id"].as_str().unwrap_or("?"),
            r["from_segment"].as_str().unwrap_or("?"),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The turn a `SEQ` cuts at: the last `turn_end` at or before it (or the segment's
/// base turn), and the entry itself.
fn turn_at(
    entries: &[session_store::Entry],
    seq: u64,
) -> anyhow::Result<(u64, &session_store::EntryKind)> {
    let Some(Entry {
        kind: EntryKind::SegmentStart(start),
        ..
    }) = entries.first()
    else {
        anyhow::bail!("the segment has no start entry");
    };
    let entry = entries.iter().find(|e| e.seq == seq).ok_or_else(|| {
        fail(
            Exit::Usage,
            format!(
                "no entry {seq} in the active segment (it holds 0..={}); `pod logs NAME --json` shows the seq of each entry",
                entries.last().map_or(0, |e| e.seq)
            ),
        )
    })?;
    let turn = entries
        .iter()
        .take_while(|e| e.seq <= seq)
        .filter_map(|e| match e.kind {
            EntryKind::TurnEnd { turn } => Some(turn),
            _ => None,
        })
        .last()
        .unwrap_or_else(|| start.base_turn());
    Ok((turn, &entry.kind))
}

/// The record and active segment of a Pod, or a usage error naming it.
fn active(roots: &Roots, name: &PodName) -> anyhow::Result<(PodRecord, SessionId, SegmentId)> {
    let rec = RecordStore::new(roots.pods.clone())
        .load(name)?
        .ok_or_else(|| fail(Exit::Usage, format!("no Pod named {}", name.as_str())))?;
    let (session, segment) = rec.active_segment().ok_or_else(|| {
        fail(
            Exit::Usage,
            format!("Pod {} has no session log yet", name.as_str()),
        )
    })?;
    Ok((rec, session, segment))
}

/// `pod fork NAME --as NEW [--at SEQ] [--write PATH]...`: a new Pod whose history is
/// NAME's up to SEQ (at a turn boundary), in a new session and segment with
/// `forked_from`; NAME's log is only read. Read-only unless `--write` names
/// directories (which must not overlap any live Pod: the registry refuses the start
/// otherwise, and the fork is left stopped).
pub async fn fork(
    roots: &Roots,
    name: &PodName,
    new: &PodName,
    at: Option<u64>,
    write: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    let records = RecordStore::new(roots.pods.clone());
    if records.load(new)?.is_some() {
        return Err(fail(
            Exit::Usage,
            format!(
                "a Pod named {} already exists: choose another --as",
                new.as_str()
            ),
        ));
    }
    let (rec, _, segment) = active(roots, name)?;
    let sessions = SessionStore::new(roots.sessions.clone());
    let read = sessions.read_segment(segment)?;
    let turn = match at {
        Some(seq) => turn_at(&read.entries, seq)?.0,
        None => sessions.replay(segment)?.turn_count,
    };
    let here = std::env::current_dir().context("cannot read the current directory")?;
    let mut manifest = rec.manifest.clone();
    let mut allow: Vec<ScopeRule> = Vec::new();
    for p in write {
        let p = if p.is_absolute() {
            p.clone()
        } else {
            here.join(p)
        };
        let rule = ScopeRule::new(&p, Access::Write, true)?;
        super::start::check_write_root(rule.path.as_path(), "--write", false)?;
        allow.push(rule);
    }
    // Everything the source could reach stays readable; nothing of it writable.
    for r in &rec.manifest.scope.allow {
        if !allow.iter().any(|a| a.path == r.path) {
            allow.push(ScopeRule::new(r.path.as_path(), Access::Read, r.recursive)?);
        }
    }
    manifest.scope = Scope {
        allow,
        deny: rec
            .manifest
            .scope
            .deny
            .iter()
            .filter(|d| d.access == Access::Read)
            .cloned()
            .collect(),
    };
    let tools = sessions.replay(segment)?.tools;
    let (prompt, _) = crate::prompt::build_for(new, &manifest, &tools, &roots.config, None);
    let writer = sessions.fork_with(
        segment,
        turn,
        ForkOptions {
            new_session: true,
            system_prompt: Some(prompt),
        },
    )?;
    let (session, to) = (writer.session_id(), writer.segment_id());
    // The segment exists (fsynced) before any record points at it.
    // The fork's write roots are pinned as they are now (the user grants them anew).
    manifest.pins =
        crate::grant::pin_write_roots(&manifest.scope).map_err(|e| anyhow::anyhow!(e))?;
    let grant = crate::grant::Grant::of(&manifest, "pod fork", false);
    records.create_pending(new, session, &manifest, &grant)?;
    records.set_active(new, session, to)?;
    drop(writer);
    let cfg = LaunchConfig {
        name: new.clone(),
        roots: roots.into(),
        mode: StartMode::Resume,
        manifest: None,
        child: None,
        owner: None,
        ask_mode: Default::default(),
        allow_broad_write: false,
    };
    let pid = crate::launcher::launch(roots, &cfg, super::start::READY_TIMEOUT).with_context(|| {
        format!(
            "the fork {0} was created but could not start; `pod resume {0}` retries, `pod rm {0}` removes it",
            new.as_str()
        )
    })?;
    let scope = if write.is_empty() {
        "read-only".to_owned()
    } else {
        format!(
            "writes {}",
            manifest
                .scope
                .allow
                .iter()
                .filter(|r| r.access == Access::Write)
                .map(|r| r.path.as_path().display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    outln!(
        "{} ready (pid {pid}): forked from {} at turn {turn} (segment {segment} unchanged), {scope}; `pod attach {}` or `pod send {} MESSAGE`",
        new.as_str(),
        name.as_str(),
        new.as_str(),
        new.as_str()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `pod rewind NAME --to SEQ`: NAME continues from before the user message SEQ in
/// a new segment (`forked_from`); the old segment is left as it is. Files are not
/// touched.
pub async fn rewind(roots: &Roots, name: &PodName, to: u64) -> anyhow::Result<ExitCode> {
    if liveness::probe(&PodPaths::new(roots, name).lock()).is_some() {
        return Err(fail(
            Exit::Usage,
            format!(
                "Pod {0} is running; stop it first (`pod stop {0}`), then rewind",
                name.as_str()
            ),
        ));
    }
    let (_, session, segment) = active(roots, name)?;
    let sessions = SessionStore::new(roots.sessions.clone());
    let read = sessions.read_segment(segment)?;
    let (turn, entry) = turn_at(&read.entries, to)?;
    let EntryKind::UserInput { text } = entry else {
        return Err(fail(
            Exit::Usage,
            format!(
                "entry {to} is not a user message; rewind goes back to before one (`pod logs {} --json` lists them)",
                name.as_str()
            ),
        ));
    };
    let text = text.clone();
    let writer = sessions.fork_with(segment, turn, ForkOptions::default())?;
    let new = writer.segment_id();
    // The commit point: before it the Pod continues in the old segment.
    RecordStore::new(roots.pods.clone()).set_active(name, session, new)?;
    drop(writer);
    let shown: String = text.chars().take(200).collect();
    outln!(
        "{} rewound to before message {to} (turn {turn}); continuing in segment {new}, the old segment {segment} is unchanged.\nFile changes made after that point are NOT undone: check `git status` in the Pod's directory.\nThe message was: {shown}{}",
        name.as_str(),
        if shown.len() < text.len() { "…" } else { "" }
    )?;
    Ok(ExitCode::SUCCESS)
}
