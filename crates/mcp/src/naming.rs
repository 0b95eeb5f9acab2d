//! The names and schemas the model sees for a server's tools.
//!
//! `mcp__SERVER__TOOL`, with every character outside `[A-Za-z0-9_-]` replaced by
//! `_` and at most [`MAX_TOOL_NAME`] characters (OpenAI's and Gemini's limit;
//! Anthropic allows 128). A name that had to be cut, or that collides with another
//! tool's after replacement, ends in `_` + 8 hex digits of a hash of the server's
//! own name, so it is stable across runs: a restored Pod maps the names in its log
//! back to the same tools.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Longest tool name any supported provider accepts.
pub const MAX_TOOL_NAME: usize = 64;
/// What every MCP tool name starts with.
pub const PREFIX: &str = "mcp__";

/// `mcp__SERVER__` (server names are already checked to be safe).
pub fn server_prefix(server: &str) -> String {
    format!("{PREFIX}{server}__")
}

/// Exposed name → the server's own name, for one server's offered tools. Stable:
/// the same list gives the same names whatever its order.
pub fn exposed_names<'a>(
    server: &str,
    tools: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, String> {
    let prefix = server_prefix(server);
    let mut originals: Vec<&str> = tools.into_iter().collect();
    originals.sort_unstable();
    originals.dedup();
    let plain: Vec<String> = originals
        .iter()
        .map(|t| format!("{prefix}{}", sanitize(t)))
        .collect();
    let mut out = BTreeMap::new();
    for (i, original) in originals.iter().enumerate() {
        let clash = plain.iter().filter(|p| **p == plain[i]).count() > 1;
        let name = if plain[i].len() <= MAX_TOOL_NAME && !clash {
            plain[i].clone()
        } else {
            let tag = format!("_{:08x}", fnv1a(original.as_bytes()) as u32);
            let keep = MAX_TOOL_NAME - tag.len();
            // ASCII only after sanitising, so byte slicing is on char boundaries.
            format!("{}{tag}", &plain[i][..plain[i].len().min(keep)])
        };
        out.insert(name, (*original).to_owned());
    }
    out
}

fn sanitize(tool: &str) -> String {
    tool.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// FNV-1a, 64 bits: a stable hash for name tags (std's hasher is not stable
/// across releases, and a name must survive an upgrade).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The server's input schema made acceptable to every provider: an object schema
/// (a missing or non-object schema becomes `{"type": "object"}`), with `$schema`
/// and `$id` removed (OpenAI and Gemini reject them) and `properties` present.
pub fn model_schema(schema: &Map<String, Value>) -> Value {
    let mut s = schema.clone();
    s.remove("$schema");
    s.remove("$id");
    if s.get("type").and_then(Value::as_str) != Some("object") {
        s.insert("type".into(), Value::String("object".into()));
    }
    s.entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    Value::Object(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prefixed_sanitised_and_stable() {
        let m = exposed_names("fs", ["read_file", "get.info", "b"]);
        assert_eq!(m["mcp__fs__read_file"], "read_file");
        assert_eq!(m["mcp__fs__get_info"], "get.info");
        let again = exposed_names("fs", ["b", "get.info", "read_file"]);
        assert_eq!(m, again);
    }

    #[test]
    fn long_and_clashing_names_get_a_stable_tag_and_fit() {
        let long = "x".repeat(100);
        let m = exposed_names("srv", [long.as_str(), "a.b", "a_b"]);
        assert_eq!(m.len(), 3);
        for name in m.keys() {
            assert!(name.len() <= MAX_TOOL_NAME, "{name}");
            assert!(name.starts_with("mcp__srv__"));
        }
        let tagged: Vec<_> = m
            .keys()
            .filter(|k| k.starts_with("mcp__srv__a_b_"))
            .collect();
        assert_eq!(tagged.len(), 2, "{m:?}");
        assert_eq!(m, exposed_names("srv", ["a_b", long.as_str(), "a.b"]));
    }

    #[test]
    fn schemas_become_plain_object_schemas() {
        let mut raw = Map::new();
        raw.insert(
            "$schema".into(),
            "http://json-schema.org/draft-07/schema#".into(),
        );
        raw.insert("type".into(), "object".into());
        let s = model_schema(&raw);
        assert_eq!(s, serde_json::json!({"type": "object", "properties": {}}));
        assert_eq!(
            model_schema(&Map::new()),
            serde_json::json!({"type": "object", "properties": {}})
        );
    }
}
