//! Delivering SSE frames with injected faults: pacing, stalls, cuts, in-stream errors and
//! frames split across TCP writes.
//!
//! A spawned task feeds the response body through a small channel. A body chunk is the
//! unit hyper writes, and hyper flushes whenever the body is not ready, so a short pause
//! between two chunks puts them in separate TCP writes. Ending the body with an error makes
//! hyper drop the connection without the terminating chunk: that is a "cut" as a client
//! sees it.

use std::io;
use std::time::Duration;

use axum::body::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::script::Response;

/// Pause between the pieces of a split frame, long enough for hyper to flush each piece
/// on its own (it coalesces chunks that are ready at the same time).
const SPLIT_GAP: Duration = Duration::from_millis(2);

/// Pause before a cut: hyper discards its unflushed write buffer when the body fails, so
/// the events sent before the cut must be flushed first (hyper flushes while the body is
/// pending).
const CUT_FLUSH_GAP: Duration = Duration::from_millis(20);

/// The faults that shape a stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamFaults {
    cut_after: Option<usize>,
    stall_after: Option<usize>,
    stall: Option<Duration>,
    error_frame: Option<String>,
    split: bool,
    pace: Option<Duration>,
}

impl StreamFaults {
    /// The faults of a response; `error_frame` is the dialect's in-stream error, if asked for.
    pub(crate) fn of(response: &Response, error_frame: Option<String>) -> StreamFaults {
        StreamFaults {
            cut_after: response.cut_after_events,
            stall_after: response.stall_after_events,
            stall: response.stall_ms.map(Duration::from_millis),
            error_frame,
            split: response.split_frames,
            pace: response.pace_ms.map(Duration::from_millis),
        }
    }
}

/// How the stream ends after its last frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Terminating chunk; a clean end of the body.
    Clean,
    /// Connection dropped mid-body.
    Abort,
}

pub(crate) type Chunk = Result<Bytes, io::Error>;

impl StreamFaults {
    /// No fault touches delivery: frames can go out as fast as hyper takes them.
    fn is_clean(&self) -> bool {
        self.cut_after.is_none()
            && self.stall_after.is_none()
            && self.error_frame.is_none()
            && !self.split
            && self.pace.is_none()
    }
}

/// The frames of a response body: `head` in order, then `repeat` forever if set.
#[derive(Debug, Clone, Default)]
pub(crate) struct Frames {
    pub head: Vec<String>,
    pub repeat: Option<String>,
}

impl From<Vec<String>> for Frames {
    fn from(head: Vec<String>) -> Frames {
        Frames { head, repeat: None }
    }
}

impl Frames {
    /// Frame `i`, or `None` past the end of a finite body.
    fn get(&self, i: usize) -> Option<&String> {
        self.head.get(i).or(self.repeat.as_ref())
    }
}

/// The response body: `frames` delivered with `faults`; stops early when `cancel` fires.
pub(crate) fn body_stream(
    frames: Frames,
    faults: StreamFaults,
    cancel: CancellationToken,
) -> BoxStream<'static, Chunk> {
    if faults.is_clean() {
        // No task and no channel: hyper pulls ready frames and coalesces them into large
        // writes, which keeps the mock out of the way when clients benchmark their parsers.
        // An endless body is pulled the same way: as fast as the client reads, no faster
        // (hyper only polls for more while its write buffer drains).
        let head = futures::stream::iter(frames.head.into_iter().map(|f| Ok(Bytes::from(f))));
        return match frames.repeat {
            None => head.boxed(),
            Some(r) => {
                let r = Bytes::from(r);
                head.chain(futures::stream::repeat_with(move || Ok(r.clone())))
                    .boxed()
            }
        };
    }
    let (tx, mut rx) = mpsc::channel::<Chunk>(8);
    tokio::spawn(drive(frames, faults, tx, cancel));
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// Applies cut and in-stream error to the frame list. A cut of an endless body ends
/// it after `n` frames too (head and repeats counted alike).
fn shape(mut frames: Frames, faults: &StreamFaults) -> (Frames, Ending) {
    if let Some(error) = &faults.error_frame {
        frames.head.truncate(faults.cut_after.unwrap_or(1));
        frames.head.push(error.clone());
        frames.repeat = None;
        return (frames, Ending::Clean);
    }
    match faults.cut_after {
        Some(n) => {
            if let Some(r) = frames.repeat.take() {
                let missing = n.saturating_sub(frames.head.len());
                frames.head.extend(std::iter::repeat_n(r, missing));
            }
            frames.head.truncate(n);
            (frames, Ending::Abort)
        }
        None => (frames, Ending::Clean),
    }
}

/// Splits a frame into three byte ranges: inside the `data:`/`event:` prefix, then mid-line.
fn split_frame(frame: &str) -> Vec<Bytes> {
    let bytes = Bytes::copy_from_slice(frame.as_bytes());
    let len = bytes.len();
    let cuts = [0, 3.min(len), (len / 2).max(3.min(len)), len];
    cuts.windows(2)
        .filter(|w| w[0] < w[1])
        .map(|w| bytes.slice(w[0]..w[1]))
        .collect()
}

/// Sleeps unless cancelled or the client hung up; false means "stop streaming".
async fn pause(d: Duration, tx: &mpsc::Sender<Chunk>, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        () = tx.closed() => false,
        () = cancel.cancelled() => false,
    }
}

async fn drive(
    frames: Frames,
    faults: StreamFaults,
    tx: mpsc::Sender<Chunk>,
    cancel: CancellationToken,
) {
    let (frames, ending) = shape(frames, &faults);
    let stall_at = match frames.repeat {
        None => faults.stall_after.map(|n| n.min(frames.head.len())),
        Some(_) => faults.stall_after,
    };
    for i in 0.. {
        if stall_at == Some(i) {
            let go_on = match faults.stall {
                Some(d) => pause(d, &tx, &cancel).await,
                // Hold the connection open, sending nothing, until the client gives up.
                None => {
                    tokio::select! {
                        () = tx.closed() => {}
                        () = cancel.cancelled() => {}
                    }
                    false
                }
            };
            if !go_on {
                break;
            }
        }
        let Some(frame) = frames.get(i) else { break };
        if let Some(p) = faults.pace
            && !pause(p, &tx, &cancel).await
        {
            break;
        }
        let pieces = if faults.split {
            split_frame(frame)
        } else {
            vec![Bytes::copy_from_slice(frame.as_bytes())]
        };
        let count = pieces.len();
        for (k, piece) in pieces.into_iter().enumerate() {
            if tx.send(Ok(piece)).await.is_err() {
                return; // the client hung up
            }
            if faults.split && k + 1 < count && !pause(SPLIT_GAP, &tx, &cancel).await {
                break;
            }
        }
        if cancel.is_cancelled() {
            break;
        }
    }
    if ending == Ending::Abort && !cancel.is_cancelled() {
        pause(CUT_FLUSH_GAP, &tx, &cancel).await;
    }
    if ending == Ending::Abort || cancel.is_cancelled() {
        // An error item makes hyper drop the connection without the terminating chunk.
        let _ = tx
            .send(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "mock-llm: scripted cut",
            )))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_pieces_concatenate_to_the_frame() {
        let frame = "data: {\"a\":1}\n\n";
        let pieces = split_frame(frame);
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces.concat(), frame.as_bytes());
        assert_eq!(split_frame("ab").concat(), b"ab");
    }

    #[test]
    fn in_stream_error_replaces_the_tail() {
        let faults = StreamFaults {
            error_frame: Some("E".into()),
            ..Default::default()
        };
        let (frames, end) = shape(vec!["a".into(), "b".into(), "c".into()].into(), &faults);
        assert_eq!(frames.head, ["a", "E"]);
        assert_eq!(end, Ending::Clean);
        let faults = StreamFaults {
            cut_after: Some(2),
            ..Default::default()
        };
        let (frames, end) = shape(vec!["a".into(), "b".into(), "c".into()].into(), &faults);
        assert_eq!(
            (frames.head, end),
            (vec!["a".into(), "b".into()], Ending::Abort)
        );
        let endless = Frames {
            head: vec!["a".into()],
            repeat: Some("r".into()),
        };
        let (frames, end) = shape(endless, &faults);
        assert_eq!(
            (frames.head, frames.repeat, end),
            (vec!["a".into(), "r".into()], None, Ending::Abort)
        );
    }
}
