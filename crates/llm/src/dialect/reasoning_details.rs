//! OpenRouter `reasoning_details`: the entries a Chat stream carries in
//! `delta.reasoning_details[]`, assembled into whole entries.
//!
//! Wire facts (OpenRouter "Reasoning Tokens" guide and the recordings in
//! `tests/corpus/openrouter_*`): each entry has a `type` (`reasoning.text`,
//! `reasoning.summary`, `reasoning.encrypted`) and usually an `index`; a
//! `reasoning.text` entry arrives as many fragments with the same `index`, each
//! carrying a piece of `text`, and its `signature` (Anthropic models) in a later
//! fragment; an encrypted entry (`data`, e.g. Gemini's thought signature or OpenAI's
//! encrypted reasoning) arrives whole. OpenRouter requires "the entire sequence of
//! consecutive reasoning blocks" back exactly as produced, so fragments are joined
//! per entry and every other field is kept as received; entries keep stream order.

use serde_json::{Map, Value};

/// The string fields that arrive in pieces and are concatenated.
const PIECEWISE: [&str; 3] = ["text", "summary", "data"];

/// Entries of the current reasoning block of one response.
#[derive(Debug, Default)]
pub(crate) struct DetailsAccumulator {
    entries: Vec<Value>,
}

impl DetailsAccumulator {
    /// Folds one delta's entries in; returns the visible reasoning text they add
    /// (`text` of `reasoning.text`, `summary` of `reasoning.summary` fragments).
    pub fn feed(&mut self, fragments: &[Value]) -> String {
        let mut visible = String::new();
        for f in fragments {
            let Some(obj) = f.as_object() else {
                // Not an entry at all: keep it verbatim rather than guess.
                self.entries.push(f.clone());
                continue;
            };
            match obj.get("type").and_then(Value::as_str) {
                Some("reasoning.text") => push_str(&mut visible, obj.get("text")),
                Some("reasoning.summary") => push_str(&mut visible, obj.get("summary")),
                _ => {}
            }
            match self.same_entry(obj) {
                Some(i) => merge(&mut self.entries[i], obj),
                None => self.entries.push(f.clone()),
            }
        }
        visible
    }

    /// Takes the assembled entries of the current reasoning item, in stream order;
    /// entries from here on belong to the next item.
    pub fn take(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.entries)
    }

    /// The entry a fragment continues: the same `type` and `index`. Fragments without
    /// an `index` continue the last entry only if it has no index either and the same
    /// type (servers that omit indexes send one entry at a time).
    fn same_entry(&self, f: &Map<String, Value>) -> Option<usize> {
        let ty = f.get("type");
        match f.get("index").filter(|i| !i.is_null()) {
            Some(idx) => self
                .entries
                .iter()
                .rposition(|e| e.get("index") == Some(idx) && e.get("type") == ty),
            None => {
                let last = self.entries.len().checked_sub(1)?;
                let e = &self.entries[last];
                (e.get("index").is_none_or(Value::is_null)
                    && e.get("type") == ty
                    && ty.and_then(Value::as_str) != Some("reasoning.encrypted"))
                .then_some(last)
            }
        }
    }
}

fn push_str(out: &mut String, v: Option<&Value>) {
    if let Some(s) = v.and_then(Value::as_str) {
        out.push_str(s);
    }
}

/// Joins fragment `f` into `entry`: piecewise strings are appended, any other field
/// takes the fragment's value unless that is a placeholder.
fn merge(entry: &mut Value, f: &Map<String, Value>) {
    let Some(e) = entry.as_object_mut() else {
        return;
    };
    for (k, v) in f {
        match (e.get_mut(k.as_str()), v) {
            (Some(Value::String(old)), Value::String(piece)) if PIECEWISE.contains(&k.as_str()) => {
                old.push_str(piece)
            }
            // A placeholder (`null`, or `""` as OpenRouter sends for a signature still
            // to come) never erases a value already received.
            (Some(_), Value::Null) => {}
            (Some(old), Value::String(piece)) if piece.is_empty() && !old.is_null() => {}
            _ => {
                e.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_fragments_join_per_index_and_the_signature_lands_on_the_entry() {
        let mut acc = DetailsAccumulator::default();
        let a = acc.feed(&[
            json!({"type":"reasoning.text","text":"Two","format":"anthropic-claude-v1","index":0}),
        ]);
        let b = acc.feed(&[
            json!({"type":"reasoning.text","text":" plus two","format":"anthropic-claude-v1","index":0}),
        ]);
        let c = acc.feed(&[
            json!({"type":"reasoning.text","signature":"sig==","format":"anthropic-claude-v1","index":0}),
        ]);
        assert_eq!(
            (a.as_str(), b.as_str(), c.as_str()),
            ("Two", " plus two", "")
        );
        assert_eq!(
            acc.take(),
            [
                json!({"type":"reasoning.text","text":"Two plus two","signature":"sig==","format":"anthropic-claude-v1","index":0})
            ]
        );
    }

    #[test]
    fn encrypted_entries_stay_whole_and_ordered() {
        let mut acc = DetailsAccumulator::default();
        acc.feed(&[json!({"type":"reasoning.text","text":"t","index":0})]);
        acc.feed(&[
            json!({"type":"reasoning.encrypted","data":"AAA","id":"tool_1","format":"google-gemini-v1","index":1}),
        ]);
        acc.feed(&[json!({"type":"reasoning.encrypted","data":"BBB","format":"google-gemini-v1"})]);
        acc.feed(&[json!({"type":"reasoning.encrypted","data":"CCC","format":"google-gemini-v1"})]);
        let entries = acc.take();
        let types: Vec<_> = entries
            .iter()
            .map(|e| e["data"].as_str().unwrap_or("-"))
            .collect();
        assert_eq!(types, ["-", "AAA", "BBB", "CCC"]);
        assert!(acc.take().is_empty());
    }
}
