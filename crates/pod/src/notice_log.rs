//! Durable notices (ARCHITECTURE §9 "notices", issue 17): a notice for the model is
//! in the session log before the state change it reports is acknowledged or acted
//! on, so a SIGKILL of the Pod before its next run loses nothing, and every notice
//! reaches the model exactly once across crashes.
//!
//! Each notice is recorded once as `extension{pod.notice, {event: queued, key, text,
//! quiet}}` (fsynced); `{event: amended, key, text}` replaces its text when more
//! became known before it was handed to the controller (the outcome of a reclaim, a
//! `child_finished` hook's notes). The `key` names the event, not the text: a child
//! report by its report id, a child's end by the life of its record — so the same
//! event told twice (a report retried after a crash, reconciliation at restore after
//! the supervisor already saw the exit) is recorded once.
//!
//! A child's report to a parent with `child_finished` hooks is queued with the
//! hooks' input (`hook: {child, status, output}`), and `{event: amended, hooked:
//! true}` follows once the hooks ran (with their notes in `text`, or the same text).
//! A notice still carrying `hook` at restore had its hooks cut off by the crash: the
//! restored Pod runs them again before the model sees it, so their notes are not
//! lost (a hook may therefore run twice for one report; never zero times).
//!
//! The notice is *consumed* by the `system_item` a run appends with its text (one
//! atomic line): after a crash the notices still waiting are the queued ones no later
//! `system_item` showed, matched in order by their latest text. No separate marker,
//! so there is no window between "shown" and "marked" that could lose or repeat one.

use std::collections::HashSet;
use std::sync::Mutex;

use serde_json::{Value, json};
use session_store::{EntryKind, StoreError};

use crate::journal::Journal;

/// The `extension` domain of these entries.
pub const DOMAIN: &str = "pod.notice";

/// A notice recorded and not yet shown to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The event it tells of.
    pub key: String,
    /// Exact text the model will see.
    pub text: String,
    /// Rides along with the next run instead of starting one.
    pub quiet: bool,
    /// The `child_finished` hooks' input, while they have not run to the end.
    pub hook: Option<Value>,
}

/// What a segment says about its notices.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Every key recorded (shown or not).
    pub keys: HashSet<String>,
    /// Notices recorded and never shown, in the order they were recorded.
    pub waiting: Vec<Waiting>,
}

/// Walks a segment's entries in order (see the module doc).
pub fn replay<'a>(entries: impl IntoIterator<Item = &'a EntryKind>) -> Replayed {
    let mut keys = HashSet::new();
    let mut open: Vec<Waiting> = Vec::new();
    for e in entries {
        match e {
            EntryKind::Extension { domain, payload } if domain == DOMAIN => {
                let field = |k: &str| payload.get(k).and_then(Value::as_str);
                let (Some(key), Some(text)) = (field("key"), field("text")) else {
                    continue;
                };
                match field("event") {
                    Some("queued") if keys.insert(key.to_owned()) => {
                        open.push(Waiting {
                            key: key.to_owned(),
                            text: text.to_owned(),
                            quiet: payload.get("quiet").and_then(Value::as_bool) == Some(true),
                            hook: payload.get("hook").filter(|h| !h.is_null()).cloned(),
                        });
                    }
                    Some("amended") => {
                        if let Some(w) = open.iter_mut().find(|w| w.key == key) {
                            w.text = text.to_owned();
                            if payload.get("hooked").and_then(Value::as_bool) == Some(true) {
                                w.hook = None;
                            }
                        }
                    }
                    _ => {}
                }
            }
            EntryKind::SystemItem { text } => {
                if let Some(i) = open.iter().position(|w| w.text == *text) {
                    open.remove(i);
                }
            }
            _ => {}
        }
    }
    Replayed {
        keys,
        waiting: open,
    }
}

/// The Pod's notice journal: records each event's notice once, durably.
pub struct Notices {
    journal: Journal,
    keys: Mutex<HashSet<String>>,
}

impl Notices {
    /// Notices written to `journal`, knowing the keys the log already holds.
    pub fn new(journal: Journal, keys: HashSet<String>) -> Notices {
        Notices {
            journal,
            keys: Mutex::new(keys),
        }
    }

    /// Whether the notice of event `key` was ever recorded.
    pub fn knows(&self, key: &str) -> bool {
        crate::children::lock(&self.keys).contains(key)
    }

    /// Records the notice of event `key` and syncs the log. `Ok(false)` when that
    /// event's notice was recorded before (nothing written: it is waiting or was
    /// shown already). The key set is held across the append so two reports of one
    /// event racing each other record it once. `hook`: the `child_finished` hooks'
    /// input, when they are to run before the model sees the notice ([`Self::hooked`]
    /// says they did).
    pub fn record(
        &self,
        key: &str,
        text: &str,
        quiet: bool,
        hook: Option<&Value>,
    ) -> Result<bool, StoreError> {
        let mut keys = crate::children::lock(&self.keys);
        if keys.contains(key) {
            return Ok(false);
        }
        let mut payload = json!({"event": "queued", "key": key, "text": text, "quiet": quiet});
        if let Some(h) = hook {
            payload["hook"] = h.clone();
        }
        let entry = EntryKind::Extension {
            domain: DOMAIN.into(),
            payload,
        };
        self.journal.record(&entry, None)?;
        self.journal.sync()?;
        keys.insert(key.to_owned());
        Ok(true)
    }

    /// Replaces the text of notice `key` (not yet handed to the controller).
    pub fn amend(&self, key: &str, text: &str) -> Result<(), StoreError> {
        self.amended(json!({"event": "amended", "key": key, "text": text}))
    }

    /// The `child_finished` hooks of notice `key` ran to the end; `text` is the
    /// notice with their notes.
    pub fn hooked(&self, key: &str, text: &str) -> Result<(), StoreError> {
        self.amended(json!({"event": "amended", "key": key, "text": text, "hooked": true}))
    }

    fn amended(&self, payload: Value) -> Result<(), StoreError> {
        let entry = EntryKind::Extension {
            domain: DOMAIN.into(),
            payload,
        };
        self.journal.record(&entry, None)?;
        self.journal.sync()
    }
}

/// The key of the notice telling a parent that a life of its child ended (exit seen
/// by the supervisor, or found gone at restore): one per child record, whose
/// creation time changes with every spawn or resume of that child.
pub fn end_key(child: &pod_ids::PodName, record_created: time::OffsetDateTime) -> String {
    format!("end:{child}:{}", record_created.unix_timestamp_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(key: &str, text: &str) -> EntryKind {
        EntryKind::Extension {
            domain: DOMAIN.into(),
            payload: json!({"event": "queued", "key": key, "text": text, "quiet": false}),
        }
    }

    fn shown(text: &str) -> EntryKind {
        EntryKind::SystemItem { text: text.into() }
    }

    #[test]
    fn notices_no_system_item_showed_are_waiting_in_order() {
        let log = [
            queued("a", "same"),
            shown("same"),
            queued("b", "same"),
            queued("c", "other"),
            queued("b", "duplicate key ignored"),
        ];
        let r = replay(&log);
        let texts: Vec<&str> = r.waiting.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["same", "other"]);
        assert_eq!(r.keys.len(), 3);
        // A notice shown before it was queued (an older identical one) does not
        // count as showing it.
        let r = replay(&[shown("x"), queued("k", "x")]);
        assert_eq!(r.waiting.len(), 1);
    }

    #[test]
    fn hooks_cut_off_by_a_crash_are_still_due_and_hooked_ones_are_not() {
        let queued_with_hook = EntryKind::Extension {
            domain: DOMAIN.into(),
            payload: json!({"event": "queued", "key": "r", "text": "done", "quiet": false,
                "hook": {"child": "b", "status": "finished", "output": "done"}}),
        };
        let r = replay(std::slice::from_ref(&queued_with_hook));
        assert_eq!(r.waiting[0].key, "r");
        assert_eq!(r.waiting[0].hook.as_ref().unwrap()["child"], "b");
        let hooked = EntryKind::Extension {
            domain: DOMAIN.into(),
            payload: json!({"event": "amended", "key": "r", "text": "done\n[child_finished hook] ok", "hooked": true}),
        };
        let r = replay(&[queued_with_hook, hooked]);
        assert_eq!(r.waiting[0].hook, None);
        assert_eq!(r.waiting[0].text, "done\n[child_finished hook] ok");
        assert_eq!(replay(&[queued("k", "t")]).waiting[0].hook, None);
    }

    #[test]
    fn an_amended_notice_is_consumed_by_its_new_text() {
        let amended = EntryKind::Extension {
            domain: DOMAIN.into(),
            payload: json!({"event": "amended", "key": "a", "text": "final"}),
        };
        let r = replay(&[queued("a", "first"), amended.clone()]);
        assert_eq!(r.waiting[0].text, "final");
        assert!(
            replay(&[queued("a", "first"), amended, shown("final")])
                .waiting
                .is_empty()
        );
    }
}
