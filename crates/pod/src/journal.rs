//! The journal: the Pod's one path for recording and announcing what happened.
//!
//! Invariant (ARCHITECTURE §8): a durable event is appended to the session log
//! *before* it is broadcast, so a client never sees something a crash could lose.
//! Events get a monotonic `seq` per Pod process; the last [`RING_CAPACITY`] are kept
//! for snapshots from a cursor, so attaching never sends the whole log.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use protocol::Event;
use session_store::{EntryKind, SegmentWriter, StoreError};
use tokio::sync::broadcast;

/// Events kept for snapshots.
pub const RING_CAPACITY: usize = 8192;

/// Broadcast channel capacity per client before it is told to resync.
pub const BROADCAST_CAPACITY: usize = 1024;

/// One sequenced event.
pub type Sequenced = (u64, Event);

struct Inner {
    writer: SegmentWriter,
    ring: VecDeque<Sequenced>,
    last_seq: u64,
    // Assistant text streamed since the last completed item: what a client that
    // joins now has missed of the answer being written (the ring may have dropped
    // its first deltas long ago).
    in_progress_text: String,
}

/// Shared handle; cheap to clone. Appends are short synchronous writes (one `write`
/// per entry, fsync at turn boundaries), so a std mutex is right here.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Mutex<Inner>>,
    tx: broadcast::Sender<Sequenced>,
}

/// A snapshot answer.
#[derive(Debug)]
pub struct Snapshot {
    /// Events after the cursor still in the ring.
    pub events: Vec<Sequenced>,
    /// True when events after the cursor had already left the ring.
    pub truncated: bool,
    /// The latest seq.
    pub last_seq: u64,
    /// Assistant text streamed up to `last_seq` and not yet completed.
    pub in_progress_text: String,
}

impl Journal {
    /// A journal writing to `writer`.
    pub fn new(writer: SegmentWriter) -> Journal {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        Journal {
            inner: Arc::new(Mutex::new(Inner {
                writer,
                ring: VecDeque::new(),
                last_seq: 0,
                in_progress_text: String::new(),
            })),
            tx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written entry behind
        // (the writer rolls back failed appends), so the state is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `entry` to the log, then broadcasts `event` (if any).
    pub fn record(&self, entry: &EntryKind, event: Option<Event>) -> Result<(), StoreError> {
        let mut g = self.lock();
        g.writer.append(entry)?;
        if let Some(ev) = event {
            Self::push(&mut g, &self.tx, ev);
        }
        Ok(())
    }

    /// Broadcasts a non-durable event (deltas, state changes).
    pub fn emit(&self, event: Event) {
        let mut g = self.lock();
        Self::push(&mut g, &self.tx, event);
    }

    fn push(g: &mut Inner, tx: &broadcast::Sender<Sequenced>, event: Event) {
        match &event {
            Event::TextDelta { delta } => g.in_progress_text.push_str(delta),
            Event::AssistantItem { .. }
            | Event::ToolStarted { .. }
            | Event::RunCompleted { .. }
            | Event::RunErrored { .. } => g.in_progress_text.clear(),
            _ => {}
        }
        g.last_seq += 1;
        let item = (g.last_seq, event);
        if g.ring.len() == RING_CAPACITY {
            g.ring.pop_front();
        }
        g.ring.push_back(item.clone());
        // No receivers is fine: nobody is attached.
        let _ = tx.send(item);
    }

    /// Subscribes to live events and returns the events after `since` atomically with
    /// it, so a new client sees every event exactly once.
    pub fn subscribe_since(
        &self,
        since: Option<u64>,
    ) -> (broadcast::Receiver<Sequenced>, Snapshot) {
        let g = self.lock();
        let rx = self.tx.subscribe();
        let snap = Self::snapshot_locked(&g, since);
        (rx, snap)
    }

    /// Events with `seq > since` (`None`: all kept).
    pub fn snapshot(&self, since: Option<u64>) -> Snapshot {
        Self::snapshot_locked(&self.lock(), since)
    }

    fn snapshot_locked(g: &Inner, since: Option<u64>) -> Snapshot {
        let after = since.unwrap_or(0);
        let first_kept = g.ring.front().map_or(g.last_seq + 1, |e| e.0);
        Snapshot {
            events: g.ring.iter().filter(|e| e.0 > after).cloned().collect(),
            truncated: after + 1 < first_kept,
            last_seq: g.last_seq,
            in_progress_text: g.in_progress_text.clone(),
        }
    }

    /// The latest event seq.
    pub fn last_seq(&self) -> u64 {
        self.lock().last_seq
    }

    /// Flushes the log to disk.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.lock().writer.sync()
    }

    /// The segment entries are appended to now.
    pub fn segment_id(&self) -> pod_ids::SegmentId {
        self.lock().writer.segment_id()
    }

    /// Continues in another segment (compaction) and returns the previous writer;
    /// dropping it releases that segment's lock. Event seqs continue unchanged.
    pub fn switch_to(&self, writer: SegmentWriter) -> SegmentWriter {
        std::mem::replace(&mut self.lock().writer, writer)
    }
}
