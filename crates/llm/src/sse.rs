//! SSE framing (the WHATWG `text/event-stream` format), linear in the bytes received.
//!
//! Why not `eventsource-stream` (used before): it appends every network chunk to one
//! buffer and re-parses that buffer from its start until a line ends, so one event of
//! N bytes arriving in chunks of c bytes costs N²/2c character checks (a 16 MiB event
//! took 40 s of CPU, issue 19), and it copies the rest of the buffer after every line.
//! Here each byte is scanned once for a line end and copied at most twice (into the
//! line being assembled, then into the event's data).
//!
//! What is kept of the format: line ends CRLF, LF or CR (also split across chunks); a
//! leading BOM; comments (`:`); `event` and `data` fields (one optional space after the
//! colon); several `data` lines joined with LF; an event with no `data` line is not
//! dispatched; an event not ended by a blank line when the stream ends is dropped (as
//! the spec says and as the old parser did). `id` and `retry` are ignored: nothing
//! here reconnects.

use std::collections::VecDeque;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event` field, `message` when absent.
    pub event: String,
    /// The `data` lines joined with LF.
    pub data: String,
}

/// Bytes that are not UTF-8 inside an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the event stream is not valid UTF-8")]
pub(crate) struct NotUtf8;

/// A line buffer that grew past this keeps its memory only until the line is done:
/// one huge event must not pin its size for the rest of the stream.
const KEEP_CAPACITY: usize = 1 << 20;

/// Incremental decoder: [`SseDecoder::push`] bytes as they arrive, take events with
/// [`SseDecoder::next_event`].
#[derive(Debug, Default)]
pub(crate) struct SseDecoder {
    /// The current line, when it started in an earlier chunk.
    line: Vec<u8>,
    /// The last byte seen was a CR: an LF right after it belongs to the same line end.
    after_cr: bool,
    /// Bytes seen so far, to recognise the BOM at the very start (it may be split).
    seen: usize,
    event: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    ready: VecDeque<SseEvent>,
}

impl SseDecoder {
    /// Feeds the next bytes of the stream.
    pub(crate) fn push(&mut self, mut bytes: &[u8]) -> Result<(), NotUtf8> {
        const BOM: &[u8] = b"\xEF\xBB\xBF";
        while self.seen < BOM.len() && !bytes.is_empty() {
            if bytes[0] != BOM[self.seen] {
                // Not a BOM: whatever prefix of it was held back is real content.
                let held = BOM[..self.seen].to_vec();
                self.seen = BOM.len();
                self.scan(&held)?;
                break;
            }
            self.seen += 1;
            bytes = &bytes[1..];
        }
        self.scan(bytes)
    }

    /// The next complete event, if any.
    pub(crate) fn next_event(&mut self) -> Option<SseEvent> {
        self.ready.pop_front()
    }

    fn scan(&mut self, bytes: &[u8]) -> Result<(), NotUtf8> {
        let mut rest = bytes;
        if self.after_cr {
            self.after_cr = false;
            if let Some(b'\n') = rest.first() {
                rest = &rest[1..];
            }
        }
        while let Some(end) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') {
            if self.line.is_empty() {
                self.line_done(&rest[..end])?;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&rest[..end]);
                if let Some(mut spare) = self.owned_line_done(line)?
                    && spare.capacity() <= KEEP_CAPACITY
                {
                    spare.clear();
                    self.line = spare;
                }
            }
            let cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(rest);
        Ok(())
    }

    /// [`Self::line_done`] for a line assembled from several chunks. The first `data`
    /// line of an event takes the buffer over instead of copying it: a huge event is
    /// one such line, and this saves a second buffer of its size. Returns the buffer
    /// when it was not taken.
    fn owned_line_done(&mut self, mut line: Vec<u8>) -> Result<Option<Vec<u8>>, NotUtf8> {
        if !self.has_data
            && let Some(rest) = line.strip_prefix(b"data:")
        {
            let skip = line.len() - rest.len() + usize::from(rest.first() == Some(&b' '));
            line.drain(..skip);
            self.data = line;
            self.has_data = true;
            return Ok(None);
        }
        self.line_done(&line)?;
        Ok(Some(line))
    }

    fn line_done(&mut self, line: &[u8]) -> Result<(), NotUtf8> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return Ok(()); // comment (OpenRouter's ": OPENROUTER PROCESSING", keep-alives)
        }
        let (name, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"event" => {
                self.event.clear();
                self.event.extend_from_slice(value);
            }
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self) -> Result<(), NotUtf8> {
        let event = std::mem::take(&mut self.event);
        if !std::mem::take(&mut self.has_data) {
            return Ok(());
        }
        let data = String::from_utf8(std::mem::take(&mut self.data)).map_err(|_| NotUtf8)?;
        let event = if event.is_empty() {
            "message".to_owned()
        } else {
            String::from_utf8(event).map_err(|_| NotUtf8)?
        };
        self.ready.push_back(SseEvent { event, data });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        for c in chunks {
            d.push(c).unwrap();
            while let Some(e) = d.next_event() {
                out.push((e.event, e.data));
            }
        }
        out
    }

    fn ev(e: &str, d: &str) -> (String, String) {
        (e.into(), d.into())
    }

    #[test]
    fn fields_comments_and_multiline_data() {
        let body = b": comment\n\nevent: ping\ndata: {}\n\ndata:a\ndata: b\nid: 7\nretry: 10\n\nevent: only\n\ndata\n\n";
        let want = vec![ev("ping", "{}"), ev("message", "a\nb"), ev("message", "")];
        assert_eq!(decode(&[body]), want);
        // Every split point gives the same events.
        for i in 0..body.len() {
            assert_eq!(decode(&[&body[..i], &body[i..]]), want, "split at {i}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(decode(&bytes), want);
    }

    #[test]
    fn crlf_and_cr_line_ends_even_split_between_chunks() {
        let want = vec![ev("message", "x"), ev("e", "y")];
        assert_eq!(decode(&[b"data: x\r\n\r\nevent: e\rdata: y\r\r"]), want);
        assert_eq!(
            decode(&[b"data: x\r", b"\n\r", b"\nevent: e\r", b"data: y\r", b"\r"]),
            want
        );
    }

    #[test]
    fn bom_is_skipped_only_at_the_start_and_an_unfinished_event_is_dropped() {
        assert_eq!(
            decode(&[b"\xEF\xBB", b"\xBFdata: 1\n\n"]),
            vec![ev("message", "1")]
        );
        assert_eq!(decode(&[b"\xEFdata: 1\n\n"]).len(), 0); // invalid UTF-8 name: ignored field
        assert_eq!(decode(&[b"data: 1\n\ndata: 2\n"]), vec![ev("message", "1")]);
    }

    #[test]
    fn invalid_utf8_in_data_is_an_error() {
        let mut d = SseDecoder::default();
        assert_eq!(d.push(b"data: \xFF\n\n"), Err(NotUtf8));
    }

    #[test]
    fn a_huge_line_in_small_chunks_is_one_event() {
        let big = "z".repeat(3 << 20);
        let body = format!("data: {big}\n\n");
        let mut d = SseDecoder::default();
        for c in body.as_bytes().chunks(1000) {
            d.push(c).unwrap();
        }
        assert_eq!(d.next_event().map(|e| e.data.len()), Some(big.len()));
        assert!(d.line.capacity() <= KEEP_CAPACITY);
    }
}
