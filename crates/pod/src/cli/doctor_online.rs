//! `pod doctor --online`: one cheap authenticated request per provider (its model
//! list), to tell "reachable and the key works" from "key refused" and "unreachable"
//! before a real run finds out. Written here with reqwest rather than through
//! `llm::Client`, which only streams completions and would spend tokens.

use std::time::Duration;

use crate::config::ProviderSettings;

/// What the provider answered, in one short phrase.
pub async fn probe(p: &ProviderSettings) -> String {
    let cfg = p.provider_config();
    let base = cfg.base_url.trim_end_matches('/');
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => return format!("cannot build an HTTP client: {e}"),
    };
    let key = cfg.api_key.as_ref().map(|k| k.expose().to_owned());
    let req = match cfg.kind {
        llm::ProviderKind::Anthropic => {
            let r = client
                .get(format!("{base}/v1/models"))
                .header("anthropic-version", "2023-06-01");
            match key {
                Some(k) => r.header("x-api-key", sensitive(&k)),
                None => r,
            }
        }
        llm::ProviderKind::Gemini => {
            let r = client.get(format!("{base}/models"));
            match key {
                Some(k) => r.header("x-goog-api-key", sensitive(&k)),
                None => r,
            }
        }
        llm::ProviderKind::OpenAiChat | llm::ProviderKind::OpenAiResponses => {
            let r = client.get(format!("{base}/models"));
            match key {
                Some(k) => r.header("authorization", sensitive(&format!("Bearer {k}"))),
                None => r,
            }
        }
    };
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match status {
                200..=299 => format!("ok (HTTP {status})"),
                401 | 403 => format!("key refused (HTTP {status})"),
                _ => format!("reachable (HTTP {status})"),
            }
        }
        // reqwest errors carry the URL but never the headers, so no key leaks here.
        Err(e) if e.is_connect() => "unreachable (connection failed)".into(),
        Err(e) if e.is_timeout() => "unreachable (timed out)".into(),
        Err(e) => format!("unreachable ({})", e.without_url()),
    }
}

fn sensitive(v: &str) -> reqwest::header::HeaderValue {
    let mut h = reqwest::header::HeaderValue::from_str(v)
        .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
    h.set_sensitive(true);
    h
}
