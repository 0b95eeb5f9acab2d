//! Events that would make a line too long for clients are shortened on the socket;
//! the session log keeps them whole.
//!
//! Clients refuse lines over [`crate::MAX_LINE_BYTES`] (so a broken peer cannot make
//! them buffer without bound); a model answer or a tool output of that size must not
//! make every client report "the Pod went away" although the run completed. So the
//! server encodes an event with [`event_line`], which cuts every string longer than
//! [`MAX_SOCKET_TEXT_BYTES`] and says where the whole text is.

use crate::{Event, ServerMessage, encode_line};

/// An event line longer than this is shortened before it is sent.
pub const MAX_SOCKET_LINE_BYTES: usize = 4 * 1024 * 1024;

/// Longest string a shortened event keeps (JSON escaping may grow it up to 6×, which
/// still fits [`crate::MAX_LINE_BYTES`]).
pub const MAX_SOCKET_TEXT_BYTES: usize = 1024 * 1024;

/// What replaces the cut part; clients may look for it (`pod run --print` then reads
/// the whole answer from the session log).
pub const SHORTENED_MARKER: &str =
    "[shortened on the socket; the session log holds the whole text]";

/// The line (newline included) for `ServerMessage::Event { seq, event }`, shortened
/// when it would pass [`MAX_SOCKET_LINE_BYTES`].
pub fn event_line(seq: u64, event: Event) -> String {
    let msg = ServerMessage::Event { seq, event };
    let full = encode_line(&msg).unwrap_or_default();
    if full.len() <= MAX_SOCKET_LINE_BYTES {
        return full;
    }
    // Rare path: go through a JSON value so every string field of every event kind
    // (texts, tool arguments, outputs) is covered without a match per variant.
    let Ok(mut v) = serde_json::to_value(&msg) else {
        return full;
    };
    shorten_strings(&mut v);
    let mut line = serde_json::to_string(&v).unwrap_or_default();
    line.push('\n');
    line
}

fn shorten_strings(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.len() > MAX_SOCKET_TEXT_BYTES => {
            let mut cut = MAX_SOCKET_TEXT_BYTES;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            let dropped = s.len() - cut;
            s.truncate(cut);
            s.push_str(&format!("\n… {dropped} more bytes {SHORTENED_MARKER}"));
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(shorten_strings),
        serde_json::Value::Object(o) => o.values_mut().for_each(shorten_strings),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode_line;

    #[test]
    fn a_huge_event_fits_a_client_line_and_says_it_was_shortened() {
        let text = "é".repeat(10 * 1024 * 1024); // 20 MiB, multi-byte
        let line = event_line(7, Event::RunCompleted { final_text: text });
        assert!(line.len() < MAX_SOCKET_LINE_BYTES, "{}", line.len());
        let back: ServerMessage = decode_line(&line).unwrap();
        let ServerMessage::Event {
            seq: 7,
            event: Event::RunCompleted { final_text },
        } = back
        else {
            panic!("{back:?}")
        };
        assert!(final_text.ends_with(SHORTENED_MARKER));
        assert!(final_text.starts_with("éé"));
    }

    #[test]
    fn ordinary_events_are_untouched() {
        let ev = Event::TextDelta { delta: "hi".into() };
        assert_eq!(
            event_line(1, ev.clone()),
            encode_line(&ServerMessage::Event { seq: 1, event: ev }).unwrap()
        );
    }
}
