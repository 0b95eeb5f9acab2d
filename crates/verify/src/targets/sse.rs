//! The SSE decoders of the four dialects, fed the recorded provider streams of
//! `crates/llm/tests/corpus` taken apart.

use llm::{LlmError, ProviderKind};

use crate::fuzz::Target;

/// One dialect's decoder (`llm::parse_sse`: SSE framing + the dialect's events +
/// tool-call assembly).
pub struct Sse {
    kind: ProviderKind,
    name: &'static str,
    corpus: Vec<Vec<u8>>,
}

impl Sse {
    /// All four dialects.
    pub fn all() -> Vec<Sse> {
        [
            (ProviderKind::OpenAiChat, "sse-openai", "openai"),
            (ProviderKind::Anthropic, "sse-anthropic", "anthropic"),
            (ProviderKind::OpenAiResponses, "sse-responses", "responses"),
            (ProviderKind::Gemini, "sse-gemini", "gemini"),
        ]
        .into_iter()
        .map(|(kind, name, dialect)| Sse {
            kind,
            name,
            corpus: recordings(dialect),
        })
        .collect()
    }
}

/// The recorded bodies of one dialect (the sidecar `.json` names it).
fn recordings(dialect: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../llm/tests/corpus");
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.sort();
    for path in paths {
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(meta) = std::fs::read(&path) else {
            continue;
        };
        let Ok(meta) = serde_json::from_slice::<serde_json::Value>(&meta) else {
            continue;
        };
        if meta["dialect"] == dialect
            && let Ok(body) = std::fs::read(path.with_extension("sse"))
        {
            out.push(body);
        }
    }
    out
}

impl Target for Sse {
    fn name(&self) -> &'static str {
        self.name
    }

    fn corpus(&self) -> Vec<Vec<u8>> {
        self.corpus.clone()
    }

    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            b"data: ",
            b"event: ",
            b"\n\n",
            b"\r\n",
            b"data: [DONE]\n\n",
            b": ping\n",
            b"\xEF\xBB\xBF",
            b"\"index\":",
            b"\"type\":\"content_block_delta\"",
            b"\"finish_reason\":\"length\"",
            b"{}",
        ]
    }

    fn accepts(&self, input: &[u8]) -> bool {
        llm::parse_sse(self.kind, [input]).1.is_ok()
    }

    fn check(&self, input: &[u8], knob: u64) -> Result<(), String> {
        let (events, whole) = llm::parse_sse(self.kind, [input]);
        let chunk = 1 + (knob % 97) as usize;
        let (split_events, split) = llm::parse_sse(self.kind, input.chunks(chunk));
        for outcome in [&whole, &split] {
            if let Err(e) = outcome {
                clear_error(e)?;
            }
        }
        // Where a network chunk ends must never change what the stream means.
        match (&whole, &split) {
            (Ok(a), Ok(b)) => {
                let whole = without_synthetic_ids(&format!("{events:?}{a:?}"));
                if whole != without_synthetic_ids(&format!("{split_events:?}{b:?}")) {
                    return Err(format!(
                        "chunks of {chunk} bytes decode differently from the whole stream"
                    ));
                }
            }
            // Bytes that are not UTF-8 fail the push that carries them, so a stream
            // that ends before them succeeds in small chunks: only that may differ.
            (Ok(_), Err(e)) | (Err(e), Ok(_)) if e.to_string().contains("UTF-8") => {}
            (Ok(_), Err(e)) | (Err(e), Ok(_)) => {
                return Err(format!(
                    "chunks of {chunk} bytes and the whole stream disagree on success: {e}"
                ));
            }
            (Err(_), Err(_)) => {}
        }
        Ok(())
    }
}

/// Gemini sends no call ids; the decoder makes unique ones (`pods_synth_…`), which
/// differ between two decodings by design.
fn without_synthetic_ids(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(at) = rest.find("pods_synth_") {
        out.push_str(&rest[..at]);
        out.push_str("pods_synth");
        rest = &rest[at..];
        rest = &rest[rest.find('"').unwrap_or(rest.len())..];
    }
    out.push_str(rest);
    out
}

/// A stream that is not right is a protocol error (or a cut stream, or the
/// provider's own in-stream error), saying what was wrong; JSON errors say where.
fn clear_error(e: &LlmError) -> Result<(), String> {
    let text = e.to_string();
    let fine = match e {
        LlmError::Protocol { message, .. } => {
            !message.is_empty() && (!message.contains("invalid JSON") || text.contains("column"))
        }
        LlmError::Network { message, .. } => message.contains("stream ended"),
        LlmError::Overloaded { .. }
        | LlmError::RateLimited { .. }
        | LlmError::BadRequest { .. }
        | LlmError::ContextTooLong { .. }
        | LlmError::Auth { .. } => !text.is_empty(),
        _ => false,
    };
    if fine {
        Ok(())
    } else {
        Err(format!("unclear or unexpected error: {text} ({e:?})"))
    }
}
