//! The request log: what clients sent, with secrets masked before anything is stored.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Headers whose values are credentials; they are masked before being recorded.
const SECRET_HEADERS: [&str; 4] = ["authorization", "x-api-key", "x-goog-api-key", "api-key"];

/// How many trailing characters of a secret stay visible (enough to tell two keys apart).
const VISIBLE_SECRET_CHARS: usize = 4;

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// The path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The query string without `?`, if any.
    pub query: Option<String>,
    /// Headers by lower-case name (repeated headers joined with `, `); secrets masked.
    pub headers: BTreeMap<String, String>,
    /// The body parsed as JSON; `null` when empty, a JSON string when not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// Builds the record; secret-bearing headers are masked here, so no unmasked key is ever stored.
    pub(crate) fn new(
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Self {
        let mut map: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in headers {
            let name = name.as_str().to_ascii_lowercase();
            let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
            let text = if SECRET_HEADERS.contains(&name.as_str()) {
                mask_secret(&text)
            } else {
                text
            };
            map.entry(name)
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&text);
                })
                .or_insert(text);
        }
        RecordedRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.map(mask_query),
            headers: map,
            body: parse_body(body),
        }
    }
}

/// `****` plus the last few characters; short values are masked entirely.
pub(crate) fn mask_secret(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 2 * VISIBLE_SECRET_CHARS {
        return "****".to_owned();
    }
    let tail: String = chars[chars.len() - VISIBLE_SECRET_CHARS..].iter().collect();
    format!("****{tail}")
}

/// Query parameters that carry credentials (Gemini accepts `?key=`); masked like headers.
const SECRET_QUERY_PARAMS: [&str; 2] = ["key", "api_key"];

/// The query with credential parameters masked, so a key a client put in the URL is
/// never stored (tests can still see that it was there, and assert it should not be).
pub(crate) fn mask_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if SECRET_QUERY_PARAMS.contains(&name) => {
                format!("{name}={}", mask_secret(value))
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The body as JSON, falling back to the raw text so nothing a client sent is lost.
pub(crate) fn parse_body(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_keep_only_the_last_four_characters() {
        assert_eq!(mask_secret("Bearer sk-test-SECRET-9876"), "****9876");
        assert_eq!(mask_secret("short"), "****");
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "sk-ant-RECOGNISABLE-1234".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        let r = RecordedRequest::new("POST", "/v1/messages", None, &h, b"{\"a\":1}");
        assert_eq!(r.headers["x-api-key"], "****1234");
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.body["a"], 1);
        assert!(!format!("{r:?}").contains("RECOGNISABLE"));
        assert_eq!(
            mask_query("alt=sse&key=AIzaSECRETKEY9999"),
            "alt=sse&key=****9999"
        );
    }
}
