//! Durable user input (ARCHITECTURE §8, issue 17): input is in the session log before
//! it is acknowledged, so a message `pod send` returned for survives a SIGKILL.
//!
//! Every input is recorded as `extension{pod.input, {event: queued, text}}` when the
//! controller takes it; when a run appends the `user_input` entries of its inputs it
//! then records `{event: consumed, count}`. Inputs are consumed first in, first out,
//! so after a crash the inputs still waiting are the queued ones past the total
//! consumed count. A crash between a `user_input` and its `consumed` marker re-queues
//! that input once (a duplicate, never a loss).

use serde_json::{Value, json};
use session_store::EntryKind;

/// The `extension` domain of these entries.
pub const DOMAIN: &str = "pod.input";

/// The entry recording an input the controller accepted.
pub fn queued(text: &str) -> EntryKind {
    EntryKind::Extension {
        domain: DOMAIN.into(),
        payload: json!({"event": "queued", "text": text}),
    }
}

/// The entry recording that a run appended `count` inputs as `user_input`.
pub fn consumed(count: usize) -> EntryKind {
    EntryKind::Extension {
        domain: DOMAIN.into(),
        payload: json!({"event": "consumed", "count": count}),
    }
}

/// The inputs a segment's extensions say were accepted but never run, in order.
pub fn pending(extensions: &[(String, Value)]) -> Vec<String> {
    let mut queued = Vec::new();
    let mut taken = 0usize;
    for (_, p) in extensions.iter().filter(|(d, _)| d == DOMAIN) {
        match p.get("event").and_then(Value::as_str) {
            Some("queued") => {
                if let Some(t) = p.get("text").and_then(Value::as_str) {
                    queued.push(t.to_owned());
                }
            }
            Some("consumed") => {
                taken += p.get("count").and_then(Value::as_u64).unwrap_or(0) as usize;
            }
            _ => {}
        }
    }
    queued.into_iter().skip(taken).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(e: &EntryKind) -> (String, Value) {
        match e {
            EntryKind::Extension { domain, payload } => (domain.clone(), payload.clone()),
            _ => unreachable!(),
        }
    }

    #[test]
    fn what_was_queued_past_the_consumed_count_is_pending_in_order() {
        let log = [
            ext(&queued("a")),
            ext(&consumed(1)),
            ext(&queued("b")),
            ext(&queued("c")),
            ext(&queued("d")),
            ext(&consumed(1)),
        ];
        assert_eq!(pending(&log), ["c", "d"]);
        assert!(pending(&log[..2]).is_empty());
    }
}
