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
use transcript::ImageRef;

use crate::turn::UserInput;

/// The `extension` domain of these entries.
pub const DOMAIN: &str = "pod.input";

/// The entry recording an input the controller accepted (its images are blobs
/// already, so the reference is enough).
pub fn queued(input: &UserInput) -> EntryKind {
    let mut payload = json!({"event": "queued", "text": input.text});
    if !input.images.is_empty() {
        payload["images"] = json!(input.images);
    }
    EntryKind::Extension {
        domain: DOMAIN.into(),
        payload,
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
pub fn pending(extensions: &[(String, Value)]) -> Vec<UserInput> {
    let mut queued = Vec::new();
    let mut taken = 0usize;
    for (_, p) in extensions.iter().filter(|(d, _)| d == DOMAIN) {
        match p.get("event").and_then(Value::as_str) {
            Some("queued") => {
                if let Some(t) = p.get("text").and_then(Value::as_str) {
                    let images: Vec<ImageRef> = p
                        .get("images")
                        .and_then(|v| serde_json::from_value(v.clone()).ok())
                        .unwrap_or_default();
                    // After a crash, who sent it is unknown: not quiet, so a
                    // child's parent is woken rather than left waiting.
                    queued.push(UserInput {
                        text: t.to_owned(),
                        images,
                        quiet: false,
                    });
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
        let q = |t: &str| ext(&queued(&UserInput::from(t.to_string())));
        let log = [
            q("a"),
            ext(&consumed(1)),
            q("b"),
            q("c"),
            q("d"),
            ext(&consumed(1)),
        ];
        let texts: Vec<String> = pending(&log).into_iter().map(|i| i.text).collect();
        assert_eq!(texts, ["c", "d"]);
        assert!(pending(&log[..2]).is_empty());
    }
}
