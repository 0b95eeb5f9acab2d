//! Mutations of valid inputs: byte-level (flip, set, insert, delete, truncate,
//! duplicate, splice with another corpus entry, dictionary token) and JSON-aware (on
//! one line of a JSON or JSON-lines input: swap a value for another one of the same
//! document, delete it, null it, push numbers and strings to extremes, change its
//! type, add an unknown key). The JSON ones reach the checks *after* parsing (names
//! that point at each other, seqs out of order, huge counts) that byte noise rarely
//! gets past the parser to.

use serde_json::Value;

/// One mutation; its fields are raw randomness, interpreted by [`apply`].
#[derive(Debug, Clone, Copy)]
pub struct Mutation {
    /// Which mutation.
    pub kind: u8,
    /// Usually a position.
    pub a: u32,
    /// Usually a length or a choice.
    pub b: u32,
    /// Usually a seed or a second choice.
    pub c: u64,
}

const INTERESTING_BYTES: &[u8] = b"\0\xff\n\r\"{}[]:,\\ \x80\xc3\xef0-";

/// Applies `m` to `bytes` (never panics, whatever the fields are).
pub fn apply(m: &Mutation, bytes: &mut Vec<u8>, corpus: &[Vec<u8>], dict: &[&[u8]]) {
    let len = bytes.len();
    let at = |x: u32| if len == 0 { 0 } else { x as usize % (len + 1) };
    match m.kind % 12 {
        0 | 1 => {
            if len > 0 {
                let i = m.a as usize % len;
                bytes[i] ^= 1 << (m.b % 8);
            }
        }
        2 => {
            if len > 0 {
                let i = m.a as usize % len;
                bytes[i] = INTERESTING_BYTES[m.b as usize % INTERESTING_BYTES.len()];
            }
        }
        3 => {
            let n = (m.b % 16) as usize + 1;
            let noise: Vec<u8> = (0..n).map(|k| (m.c >> ((k % 8) * 8)) as u8).collect();
            let i = at(m.a);
            bytes.splice(i..i, noise);
        }
        4 => {
            let i = at(m.a);
            let end = (i + (m.b % 64) as usize + 1).min(len);
            bytes.drain(i..end);
        }
        5 => bytes.truncate(at(m.a)),
        6 => {
            let i = at(m.a);
            let end = (i + (m.b % 256) as usize + 1).min(len);
            let copy = bytes[i..end].to_vec();
            bytes.splice(end..end, copy);
        }
        7 => {
            if let Some(other) = corpus.get(m.c as usize % corpus.len().max(1)) {
                let from = if other.is_empty() {
                    0
                } else {
                    m.b as usize % other.len()
                };
                let end = (from + (m.c >> 32) as usize % 512).min(other.len());
                let i = at(m.a);
                bytes.splice(i..i, other[from..end].iter().copied());
            }
        }
        8 => {
            if let Some(tok) = dict.get(m.b as usize % dict.len().max(1)) {
                let i = at(m.a);
                bytes.splice(i..i, tok.iter().copied());
            }
        }
        _ => mutate_json_line(m, bytes),
    }
}

/// The JSON-aware mutations, on one line of the input; inputs that are not JSON
/// there get a bit flip instead.
fn mutate_json_line(m: &Mutation, bytes: &mut Vec<u8>) {
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let idx = m.c as usize % lines.len();
    let Ok(mut doc) = serde_json::from_slice::<Value>(lines[idx]) else {
        if !bytes.is_empty() {
            let i = m.a as usize % bytes.len();
            bytes[i] ^= 0x20;
        }
        return;
    };
    let mut pointers = Vec::new();
    collect_pointers(&doc, String::new(), &mut pointers);
    let target = pointers[m.a as usize % pointers.len()].clone();
    let other = pointers[(m.b as usize >> 3) % pointers.len()].clone();
    let donor = doc.pointer(&other).cloned().unwrap_or(Value::Null);
    match m.b % 8 {
        0 => set(&mut doc, &target, donor),
        1 => remove(&mut doc, &target),
        2 => set(&mut doc, &target, Value::Null),
        3 => {
            let numbers = [
                serde_json::json!(0),
                serde_json::json!(-1),
                serde_json::json!(u64::MAX),
                serde_json::json!(i64::MIN),
                serde_json::json!(1e308),
                serde_json::json!(0.5),
                serde_json::json!(4_294_967_296u64),
            ];
            set(
                &mut doc,
                &target,
                numbers[(m.c >> 8) as usize % numbers.len()].clone(),
            );
        }
        4 => {
            let strings = [
                String::new(),
                "a".repeat(70_000),
                "../../etc".into(),
                "\u{0}".into(),
                "é✓\u{10FFFF}".into(),
                "/".into(),
                "x".into(),
            ];
            let s = strings[(m.c >> 8) as usize % strings.len()].clone();
            set(&mut doc, &target, Value::String(s));
        }
        5 => {
            if let Some(v) = doc.pointer(&target).cloned() {
                set(&mut doc, &target, Value::Array(vec![v.clone(), v]));
            }
        }
        6 => {
            if let Some(v) = doc.pointer(&target).cloned() {
                set(&mut doc, &target, Value::String(v.to_string()));
            }
        }
        _ => {
            if let Some(Value::Object(map)) = doc.pointer_mut(&target) {
                map.insert("zz_unknown".into(), Value::from(1));
            }
        }
    }
    let Ok(line) = serde_json::to_vec(&doc) else {
        return;
    };
    let mut out = Vec::with_capacity(bytes.len());
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(if i == idx { &line } else { l });
    }
    *bytes = out;
}

fn collect_pointers(v: &Value, here: String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let key = k.replace('~', "~0").replace('/', "~1");
                collect_pointers(child, format!("{here}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect_pointers(child, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(here);
}

fn set(doc: &mut Value, pointer: &str, value: Value) {
    if let Some(slot) = doc.pointer_mut(pointer) {
        *slot = value;
    }
}

fn remove(doc: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&last.replace("~1", "/").replace("~0", "~"));
        }
        Some(Value::Array(items)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
        }
        _ => {}
    }
}
