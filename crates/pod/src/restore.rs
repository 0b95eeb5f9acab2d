//! Building a Pod's conversation from disk: fresh, or restored by construction.
//!
//! [`open_conversation`] is the only way to obtain the state a Pod process runs from.
//! For a restore it reconciles before returning (ARCHITECTURE §8 "Restore by
//! construction"): replays the active segment (continuing in a forked segment when
//! another writer holds it), closes every tool call left without a result with a
//! synthetic "interrupted" result appended to the log (never re-executing it), closes
//! an interrupted run with `turn_end` + `run_errored`, and reports that the Pod must
//! come up `paused`. Child re-linking and reclaiming need the registry allocation and
//! run right after this, still before the controller exists
//! ([`crate::children::restore`]).

use pod_ids::{PodName, SegmentId, SessionId};
use protocol::PodState;
use session_store::{EntryKind, NewSegment, SegmentWriter, SessionStore, StoreError};
use transcript::{Item, RequestConfig, ToolSpec};

use crate::journal::Journal;
use crate::launch::Manifest;
use crate::record::{PodRecord, RecordError, RecordState, RecordStore};
use crate::turn::{Conversation, interrupted_result};

/// Errors building the Pod's state.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The record store failed.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The session store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `pod run` with a name that already has a record.
    #[error(
        "a Pod named {0} already exists; continue it with `pod resume {0}` or choose another name"
    )]
    Exists(PodName),
    /// `pod resume` of an unknown name.
    #[error("no Pod named {0} exists; start one with `pod run --name {0}`")]
    Unknown(PodName),
}

/// A Pod's starting state.
pub struct Opened {
    /// The record (active).
    pub record: PodRecord,
    /// The journal over the active segment.
    pub journal: Journal,
    /// The conversation.
    pub conv: Conversation,
    /// `Idle`, or `Paused` when the log ended mid-run.
    pub state: PodState,
    /// What reconciliation did, for the log and the user.
    pub notes: Vec<String>,
    /// Input accepted before a crash that no run consumed (restore only).
    pub pending_inputs: Vec<crate::turn::UserInput>,
    /// Notice keys in the log, and notices recorded that no run showed (restore
    /// only).
    pub notices: crate::notice_log::Replayed,
}

/// What a fresh segment starts with.
pub struct Fresh {
    /// System prompt.
    pub system_prompt: String,
    /// Tools.
    pub tools: Vec<ToolSpec>,
    /// Request config.
    pub config: RequestConfig,
}

/// Creates a new Pod's record and segment (`resume == false`), or restores an existing
/// one from its record (`resume == true`). `manifest` (with its grant) is used only
/// for a new Pod; a restore uses the record's manifest. `fresh` builds the first segment's contents
/// from the manifest.
pub(crate) fn open_conversation(
    records: &RecordStore,
    sessions: &SessionStore,
    name: &PodName,
    resume: bool,
    manifest: Option<(Manifest, crate::grant::Grant)>,
    fresh: impl Fn(&Manifest) -> Fresh,
) -> Result<Opened, OpenError> {
    let existing = records.load(name)?;
    match (resume, existing) {
        (false, Some(_)) => Err(OpenError::Exists(name.clone())),
        (true, None) => Err(OpenError::Unknown(name.clone())),
        (false, None) => {
            let (manifest, grant) = manifest.ok_or_else(|| OpenError::Unknown(name.clone()))?;
            let session = SessionId::new();
            let f = fresh(&manifest);
            // The pending record and the first segment are written concurrently (each
            // costs fsyncs); only `set_active`, after both, makes the record point at
            // the segment. A crash before it leaves a pending record (restores as a
            // fresh start) and at worst an unreferenced segment file.
            let (record, writer) = std::thread::scope(|s| {
                let seg = s.spawn(|| sessions.create_segment(new_segment(session, &f)));
                let record = records.create_pending(name, session, &manifest, &grant);
                let writer = seg
                    .join()
                    .unwrap_or_else(|_| Err(segment_panicked(sessions)));
                (record, writer)
            });
            activate(records, record?, session, writer?, f)
        }
        (true, Some(record)) => match record.active_segment() {
            // Crashed before its first segment was recorded: a fresh start.
            None => {
                let session = match record.state {
                    RecordState::Pending { session } | RecordState::Active { session, .. } => {
                        session
                    }
                };
                let f = fresh(&record.manifest);
                let writer = sessions.create_segment(new_segment(session, &f))?;
                activate(records, record, session, writer, f)
            }
            Some(_) => restore(records, sessions, record),
        },
    }
}

fn new_segment(session: SessionId, f: &Fresh) -> NewSegment {
    NewSegment {
        session_id: Some(session),
        system_prompt: f.system_prompt.clone(),
        config: f.config.clone(),
        tools: f.tools.clone(),
        history: Vec::new(),
    }
}

fn segment_panicked(sessions: &SessionStore) -> StoreError {
    StoreError::Io {
        op: "create a segment in",
        path: sessions.root().to_path_buf(),
        source: std::io::Error::other("segment creation panicked"),
    }
}

fn activate(
    records: &RecordStore,
    mut record: PodRecord,
    session: SessionId,
    writer: SegmentWriter,
    f: Fresh,
) -> Result<Opened, OpenError> {
    // The segment (with its fsynced segment_start) exists before the record points
    // at it, so an active record always names a readable segment.
    record = records.set_active(&record.name, session, writer.segment_id())?;
    Ok(Opened {
        record,
        journal: Journal::new(writer),
        conv: Conversation {
            system: f.system_prompt,
            tools: f.tools,
            config: f.config,
            history: Vec::new(),
            turns: 0,
            usage: Default::default(),
            reported: None,
        },
        state: PodState::Idle,
        notes: Vec::new(),
        pending_inputs: Vec::new(),
        notices: Default::default(),
    })
}

fn restore(
    records: &RecordStore,
    sessions: &SessionStore,
    mut record: PodRecord,
) -> Result<Opened, OpenError> {
    let mut notes = Vec::new();
    let Some((session, segment)) = record.active_segment() else {
        return Err(OpenError::Unknown(record.name));
    };
    let writer: SegmentWriter = match sessions.open_writer(segment) {
        Ok(w) => w,
        Err(StoreError::Locked { pid, .. }) => {
            // Another writer holds (and may still append to) the segment: never write
            // into it concurrently; continue in a fork of its last complete turn.
            let turn = sessions.replay(segment)?.turn_count;
            let w = sessions.fork(segment, turn)?;
            notes.push(format!(
                "segment {segment} is held by another writer (pid {}); continuing in forked segment {} from turn {turn}",
                pid.map_or("unknown".into(), |p| p.to_string()),
                w.segment_id()
            ));
            record = records.set_active(&record.name, session, w.segment_id())?;
            w
        }
        Err(e) => return Err(e.into()),
    };
    let replayed = sessions.replay(writer.segment_id())?;
    // Input and notices waiting when a compaction switched segments were recorded
    // in the segments this one was compacted from, and were shown (or consumed) in
    // this one: read them as one log, oldest first. Notices also need the order of
    // `system_item`s among extensions, which the replay's summary does not keep.
    let entries = with_lineage(sessions, writer.segment_id(), &mut notes)?;
    let notices = crate::notice_log::replay(&entries);
    let extensions: Vec<(String, serde_json::Value)> = entries
        .into_iter()
        .filter_map(|e| match e {
            EntryKind::Extension { domain, payload } => Some((domain, payload)),
            _ => None,
        })
        .collect();
    let journal = Journal::new(writer);
    let mut history = replayed.history;
    // The model saw these outputs as stubs before the restart: it sees the same now.
    crate::compaction::apply_recorded_prunes(&mut history, &replayed.extensions);
    let mut turns = replayed.turn_count;
    for call in &replayed.unanswered_tool_calls {
        let result = interrupted_result(call);
        journal.record(
            &EntryKind::ToolResult {
                result: result.clone(),
            },
            None,
        )?;
        history.push(Item::ToolResult(result));
        notes.push(format!(
            "tool call {} ({}) had no result; closed as interrupted, not re-run",
            call.call_id, call.name
        ));
    }
    let state = if replayed.ended_interrupted
        || crate::compaction::ended_in_compacted_run(
            &replayed.extensions,
            replayed.compacted_from,
            replayed.turn_count,
        ) {
        turns += 1;
        journal.record(&EntryKind::TurnEnd { turn: turns }, None)?;
        journal.record(
            &EntryKind::RunErrored {
                error: "interrupted: the Pod process ended during this run; restored paused".into(),
            },
            None,
        )?;
        notes.push(
            "the last run was interrupted; the Pod is paused until it gets input or `resume`"
                .into(),
        );
        PodState::Paused
    } else {
        PodState::Idle
    };
    journal.sync()?;
    Ok(Opened {
        record,
        journal,
        conv: Conversation {
            system: replayed.system_prompt,
            tools: replayed.tools,
            config: replayed.config,
            history,
            turns,
            usage: {
                let mut u = crate::compaction::usage_before(&replayed.extensions);
                u.add(&replayed.usage);
                u
            },
            reported: None,
        },
        state,
        notes,
        pending_inputs: crate::input_log::pending(&extensions),
        notices,
    })
}

/// How many compactions back restore looks for waiting input and notices (each
/// costs one read of a segment; input waits at most until the next run starts).
const LINEAGE_DEPTH: usize = 4;

/// `segment`'s entries after those of the segments it was compacted from (up to
/// [`LINEAGE_DEPTH`] back), oldest first: one log, for what waits across a compaction
/// (restore's input and notices, a workflow lead's "was this child asked"). A
/// segment that cannot be read ends the walk with a note (what waits there is lost
/// to this reader, never the read itself).
pub(crate) fn with_lineage(
    sessions: &SessionStore,
    segment: SegmentId,
    notes: &mut Vec<String>,
) -> Result<Vec<EntryKind>, StoreError> {
    let mut segments = vec![kinds(sessions.read_segment(segment)?)];
    let mut from = compacted_from(&segments[0]);
    while let Some(l) = from.take() {
        if segments.len() > LINEAGE_DEPTH {
            break;
        }
        match sessions.read_segment(l.segment_id) {
            Ok(read) => {
                let older = kinds(read);
                from = compacted_from(&older);
                segments.push(older);
            }
            Err(e) => notes.push(format!(
                "segment {} (compacted into this one) is unreadable; input or notices waiting there are not re-queued: {e}",
                l.segment_id
            )),
        }
    }
    Ok(segments.into_iter().rev().flatten().collect())
}

fn kinds(read: session_store::SegmentRead) -> Vec<EntryKind> {
    read.entries.into_iter().map(|e| e.kind).collect()
}

/// The segment a segment's entries say it was compacted from.
fn compacted_from(entries: &[EntryKind]) -> Option<session_store::Lineage> {
    match entries.first() {
        Some(EntryKind::SegmentStart(s)) => s.compacted_from,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use transcript::ToolCall;

    fn manifest(dir: &std::path::Path) -> Manifest {
        Manifest {
            pins: Default::default(),
            provider: "openai".into(),
            dialect: None,
            reasoning_echo: Default::default(),
            base_url: "http://127.0.0.1:1/v1".into(),
            api_key_env: None,
            model: "m".into(),
            max_output_tokens: None,
            headers: Default::default(),
            idle_timeout_secs: None,
            call_limits: Default::default(),
            max_attempts: None,
            system_prompt_source: "default".into(),
            allow_unconfined_shell: false,
            tools: vec![],
            scope: scope::Scope::default(),
            cwd: dir.to_path_buf(),
            agent: Default::default(),
            work: None,
            workflow: None,
            mcp_servers: Default::default(),
            permissions: Default::default(),
            hooks: Default::default(),
        }
    }

    fn fresh(_: &Manifest) -> Fresh {
        Fresh {
            system_prompt: "sys".into(),
            tools: vec![],
            config: RequestConfig::default(),
        }
    }

    #[test]
    fn input_and_notices_waiting_at_a_compaction_are_requeued_from_the_older_segment() {
        let dir = tempfile::tempdir().unwrap();
        let records = RecordStore::new(dir.path().join("pods"));
        let sessions = SessionStore::new(dir.path().join("sessions"));
        let name = PodName::new("c").unwrap();
        let m = manifest(dir.path());
        let g = crate::grant::Grant::of(&m, "test", false);
        let first =
            open_conversation(&records, &sessions, &name, false, Some((m, g)), fresh).unwrap();
        let (session, seg) = first.record.active_segment().unwrap();
        let notices = crate::notice_log::Notices::new(first.journal.clone(), Default::default());
        for e in [
            EntryKind::UserInput { text: "a".into() },
            EntryKind::TurnEnd { turn: 1 },
            EntryKind::RunCompleted,
            crate::input_log::queued(&crate::turn::UserInput::from("late".to_string())),
        ] {
            first.journal.record(&e, None).unwrap();
        }
        notices
            .record("k1", "shown after the compaction", false, None)
            .unwrap();
        notices.record("k2", "still waiting", true, None).unwrap();
        drop(notices);
        drop(first);
        // Compacted (between runs): the new segment shows one notice, nothing else.
        let mut b = sessions.compact(seg, 1, Vec::new()).unwrap();
        b.append(&EntryKind::SystemItem {
            text: "shown after the compaction".into(),
        })
        .unwrap();
        records.set_active(&name, session, b.segment_id()).unwrap();
        drop(b);
        let restored = open_conversation(&records, &sessions, &name, true, None, fresh).unwrap();
        let inputs: Vec<String> = restored
            .pending_inputs
            .iter()
            .map(|i| i.text.clone())
            .collect();
        assert_eq!(inputs, ["late"]);
        assert_eq!(
            restored.notices.waiting,
            [crate::notice_log::Waiting {
                key: "k2".into(),
                text: "still waiting".into(),
                quiet: true,
                hook: None,
            }]
        );
        assert!(restored.notices.keys.contains("k1") && restored.notices.keys.contains("k2"));
    }

    /// The workflow lead asks where a child is from the child's log: a message given
    /// before the child compacted is still found (not given a second time).
    #[test]
    fn a_childs_entries_include_the_segments_it_was_compacted_from() {
        let dir = tempfile::tempdir().unwrap();
        let roots = pod_ids::Roots::under(dir.path());
        let records = RecordStore::new(roots.pods.clone());
        let sessions = SessionStore::new(roots.sessions.clone());
        let name = PodName::new("coder").unwrap();
        let m = manifest(dir.path());
        let g = crate::grant::Grant::of(&m, "test", false);
        let first =
            open_conversation(&records, &sessions, &name, false, Some((m, g)), fresh).unwrap();
        let (session, seg) = first.record.active_segment().unwrap();
        for e in [
            EntryKind::UserInput {
                text: "do it [work run: coder, round 1]".into(),
            },
            EntryKind::TurnEnd { turn: 1 },
            EntryKind::RunCompleted,
        ] {
            first.journal.record(&e, None).unwrap();
        }
        drop(first);
        let b = sessions.compact(seg, 1, Vec::new()).unwrap();
        records.set_active(&name, session, b.segment_id()).unwrap();
        drop(b);
        let entries = crate::work::lead::child_entries(&roots, &name)
            .unwrap()
            .unwrap();
        assert!(entries.iter().any(|e| matches!(e,
            EntryKind::UserInput { text } if text.contains("[work run: coder, round 1]"))));
        assert!(matches!(entries.last(), Some(EntryKind::SegmentStart(_))));
    }

    #[test]
    fn restore_with_a_held_segment_forks_and_closes_unanswered_calls() {
        let dir = tempfile::tempdir().unwrap();
        let records = RecordStore::new(dir.path().join("pods"));
        let sessions = SessionStore::new(dir.path().join("sessions"));
        let name = PodName::new("f").unwrap();
        let first = open_conversation(
            &records,
            &sessions,
            &name,
            false,
            Some({
                let m = manifest(dir.path());
                let g = crate::grant::Grant::of(&m, "test", false);
                (m, g)
            }),
            fresh,
        )
        .unwrap();
        let (_, seg) = first.record.active_segment().unwrap();
        let call = ToolCall {
            call_id: "c1".into(),
            name: "bash".into(),
            arguments: "{}".into(),
        };
        for e in [
            EntryKind::UserInput { text: "a".into() },
            EntryKind::TurnEnd { turn: 1 },
            EntryKind::RunCompleted,
            EntryKind::UserInput { text: "b".into() },
            EntryKind::AssistantItem {
                item: Item::ToolCall(call.clone()),
            },
        ] {
            first.journal.record(&e, None).unwrap();
        }
        // `first` still holds the segment's writer lock: "another writer".
        let second = open_conversation(&records, &sessions, &name, true, None, fresh).unwrap();
        let (_, seg2) = second.record.active_segment().unwrap();
        assert_ne!(seg, seg2, "continued in a fork");
        assert!(
            second.notes[0].contains("forked segment"),
            "{:?}",
            second.notes
        );
        assert_eq!(
            records
                .load(&name)
                .unwrap()
                .unwrap()
                .active_segment()
                .unwrap()
                .1,
            seg2
        );
        // The fork starts from the last complete turn: the dangling call is not in it.
        assert_eq!(second.conv.turns, 1);
        assert_eq!(second.state, PodState::Idle);
        drop(second);
        drop(first);

        // Without a competing writer, a restore of the original closes the call.
        let mut third = {
            let r = records.load(&name).unwrap().unwrap();
            assert_eq!(r.active_segment().unwrap().1, seg2);
            r
        };
        third.state = RecordState::Active {
            session: third.active_segment().unwrap().0,
            segment: seg,
        };
        let restored = restore(&records, &sessions, third).unwrap();
        assert_eq!(restored.state, PodState::Paused);
        assert!(matches!(
            restored.conv.history.last(),
            Some(Item::ToolResult(r)) if r.call_id == "c1" && r.is_error
        ));
        let replay = sessions.replay(seg).unwrap();
        assert!(replay.unanswered_tool_calls.is_empty());
        assert!(!replay.ended_interrupted);
    }
}
