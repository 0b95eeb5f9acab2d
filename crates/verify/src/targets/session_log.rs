//! The session log reader: a segment file replaced by arbitrary bytes, then read
//! whole, read from a cursor, replayed, and (every eighth input) opened for writing,
//! which must cut a torn tail and append after the intact log.

use std::path::PathBuf;

use pod_ids::SegmentId;
use session_store::{EntryKind, NewSegment, SessionStore, StoreError};
use transcript::{Item, ToolCall, ToolResult, Usage};

use crate::fuzz::Target;

/// A store with one segment whose file each input replaces.
pub struct SessionLog {
    _dir: tempfile::TempDir,
    store: SessionStore,
    segment: SegmentId,
    path: PathBuf,
    corpus: Vec<Vec<u8>>,
}

impl SessionLog {
    /// A fresh store in a temporary directory (in memory where `/dev/shm` exists).
    pub fn new() -> anyhow::Result<SessionLog> {
        let dir = crate::targets::scratch_dir()?;
        let store = SessionStore::new(dir.path().join("sessions"));
        let corpus = build_corpus(&store)?;
        let w = store.create_segment(NewSegment::default())?;
        let segment = w.segment_id();
        drop(w);
        let path = store.segment_path(segment)?;
        Ok(SessionLog {
            _dir: dir,
            store,
            segment,
            path,
            corpus,
        })
    }
}

/// Real segments written by the real writer: a tool-using turn, a fork, a log with
/// an interrupted run and a torn tail.
fn build_corpus(store: &SessionStore) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut w = store.create_segment(NewSegment {
        system_prompt: "you are a test".into(),
        ..NewSegment::default()
    })?;
    let call = ToolCall {
        call_id: "c1".into(),
        name: "read_file".into(),
        arguments: r#"{"path":"/w/a.txt"}"#.into(),
    };
    for kind in [
        EntryKind::UserInput {
            text: "read a.txt".into(),
        },
        EntryKind::AssistantItem {
            item: Item::ToolCall(call),
        },
        EntryKind::ToolResult {
            result: ToolResult {
                call_id: "c1".into(),
                name: "read_file".into(),
                output: "hello\nworld".into(),
                is_error: false,
            },
        },
        EntryKind::AssistantItem {
            item: Item::AssistantMessage {
                text: "it says hello".into(),
            },
        },
        EntryKind::Usage {
            usage: Usage {
                input_tokens: 120,
                output_tokens: 8,
                ..Usage::default()
            },
        },
        EntryKind::TurnEnd { turn: 1 },
        EntryKind::RunCompleted,
        EntryKind::SystemItem {
            text: "child worker finished".into(),
        },
        EntryKind::Extension {
            domain: "pod.input".into(),
            payload: serde_json::json!({"event": "queued", "text": "next"}),
        },
        EntryKind::UserInput {
            text: "next".into(),
        },
    ] {
        w.append(&kind)?;
    }
    let first = w.segment_id();
    drop(w);
    let fork = store.fork(first, 1)?;
    let forked = fork.segment_id();
    drop(fork);
    let mut out = Vec::new();
    for seg in [first, forked] {
        out.push(std::fs::read(store.segment_path(seg)?)?);
    }
    let mut torn = out[0].clone();
    torn.extend_from_slice(br#"{"seq":11,"ts":1,"kind":"user_in"#);
    out.push(torn);
    Ok(out)
}

impl Target for SessionLog {
    fn name(&self) -> &'static str {
        "session-log"
    }

    fn corpus(&self) -> Vec<Vec<u8>> {
        self.corpus.clone()
    }

    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            b"\n",
            br#"{"seq":0,"ts":0,"kind":"turn_end","data":{"turn":1}}"#,
            br#""kind":"segment_start""#,
            br#""seq":"#,
            br#""kind":"future_kind""#,
        ]
    }

    fn accepts(&self, input: &[u8]) -> bool {
        std::fs::write(&self.path, input).is_ok() && self.store.replay(self.segment).is_ok()
    }

    fn check(&self, input: &[u8], knob: u64) -> Result<(), String> {
        std::fs::write(&self.path, input).map_err(|e| e.to_string())?;
        let read = match self.store.read_segment(self.segment) {
            Ok(r) => r,
            Err(e) => return clear_error(&e),
        };
        for (i, e) in read.entries.iter().enumerate() {
            if e.seq != i as u64 {
                return Err(format!("entry {i} has seq {}", e.seq));
            }
        }
        let intact = input.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
        match read.torn_tail {
            Some(t)
                if t.offset as usize != intact || (t.offset + t.len) as usize != input.len() =>
            {
                return Err(format!(
                    "torn tail {t:?} but the intact log is {intact} bytes"
                ));
            }
            None if intact != input.len() => return Err("torn tail not reported".into()),
            _ => {}
        }
        let after = knob % (read.entries.len() as u64 + 2);
        let from = self
            .store
            .read_from(self.segment, after)
            .map_err(|e| format!("read_from({after}) failed after a clean read: {e}"))?;
        let want: Vec<u64> = read
            .entries
            .iter()
            .map(|e| e.seq)
            .filter(|s| *s > after)
            .collect();
        let got: Vec<u64> = from.entries.iter().map(|e| e.seq).collect();
        if want != got {
            return Err(format!(
                "read_from({after}) gave seqs {got:?}, want {want:?}"
            ));
        }
        if let Err(e) = self.store.replay(self.segment) {
            clear_error(&e)?;
        }
        if (knob >> 16).is_multiple_of(8) {
            self.reopen_and_append(read.entries.len())?;
        }
        Ok(())
    }
}

impl SessionLog {
    /// A writer on a log it can open cuts the torn tail and appends after the intact
    /// entries, which stay as they were.
    fn reopen_and_append(&self, intact_entries: usize) -> Result<(), String> {
        let mut w = match self.store.open_writer(self.segment) {
            Ok(w) => w,
            Err(e) => return clear_error(&e),
        };
        w.append(&EntryKind::UserInput {
            text: "after".into(),
        })
        .map_err(|e| format!("append after reopen: {e}"))?;
        drop(w);
        let again = self
            .store
            .read_segment(self.segment)
            .map_err(|e| format!("unreadable after the writer appended: {e}"))?;
        if again.entries.len() != intact_entries + 1 || again.torn_tail.is_some() {
            return Err(format!(
                "after reopen + append: {} entries (want {}), torn {:?}",
                again.entries.len(),
                intact_entries + 1,
                again.torn_tail
            ));
        }
        Ok(())
    }
}

/// A bad log is `Corrupt` naming the line (or the byte, for the writer's tail
/// read) or `MissingStart`; nothing else may come out of bytes alone.
fn clear_error(e: &StoreError) -> Result<(), String> {
    match e {
        StoreError::Corrupt { line, reason, .. } if *line > 0 || reason.contains("byte") => Ok(()),
        StoreError::MissingStart { .. } => Ok(()),
        other => Err(format!("unclear or unexpected error: {other} ({other:?})")),
    }
}
