//! A server's `CallToolResult` as the text of a tool result.
//!
//! Tool results in the session log and in every provider dialect are text, so
//! images, audio and binary resources become a line naming their type and size
//! (the model learns they exist and can ask for a text form); text resources are
//! inlined with their URI; structured content is added as JSON when the server sent
//! no text (the spec asks servers to mirror it in a text block, most do).

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

/// Most bytes of one result given to the model; the rest is cut with a marker (a
/// tool that returns a whole database dump must not fill the context window).
pub const MAX_RESULT_BYTES: usize = 100_000;

/// The text for the model and whether the server flagged the result as an error.
pub fn result_text(r: &CallToolResult) -> (String, bool) {
    let mut parts: Vec<String> = Vec::new();
    for block in &r.content {
        parts.push(match block {
            ContentBlock::Text(t) => t.text.clone(),
            ContentBlock::Image(i) => format!(
                "[image: {}, {} bytes, not shown]",
                i.mime_type,
                base64_len(&i.data)
            ),
            ContentBlock::Audio(a) => format!(
                "[audio: {}, {} bytes, not shown]",
                a.mime_type,
                base64_len(&a.data)
            ),
            ContentBlock::Resource(res) => match &res.resource {
                ResourceContents::TextResourceContents { uri, text, .. } => {
                    format!("[resource {uri}]\n{text}")
                }
                ResourceContents::BlobResourceContents {
                    uri,
                    mime_type,
                    blob,
                    ..
                } => format!(
                    "[resource {uri}: {}, {} bytes, not shown]",
                    mime_type.as_deref().unwrap_or("binary"),
                    base64_len(blob)
                ),
                _ => "[resource of a kind this version cannot show]".into(),
            },
            ContentBlock::ResourceLink(l) => {
                let what = l.description.as_deref().unwrap_or(&l.name);
                format!("[resource link {}: {what}]", l.uri)
            }
            _ => "[content of a kind this version cannot show]".into(),
        });
    }
    let has_text = r
        .content
        .iter()
        .any(|b| matches!(b, ContentBlock::Text(_) | ContentBlock::Resource(_)));
    if let Some(s) = &r.structured_content
        && !has_text
    {
        parts.push(s.to_string());
    }
    let mut text = parts.join("\n");
    if text.is_empty() {
        text = "(no content)".into();
    }
    (cap(text), r.is_error.unwrap_or(false))
}

/// Decoded size of base64 data, without decoding it.
fn base64_len(data: &str) -> usize {
    let pad = data.bytes().rev().take_while(|b| *b == b'=').count();
    (data.len() / 4 * 3).saturating_sub(pad)
}

fn cap(mut text: String) -> String {
    if text.len() <= MAX_RESULT_BYTES {
        return text;
    }
    let total = text.len();
    let mut cut = MAX_RESULT_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(&format!(
        "\n[result cut: {total} bytes, the first {cut} shown]"
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{EmbeddedResource, ImageContent};

    #[test]
    fn every_kind_of_content_becomes_text() {
        let mut r = CallToolResult::success(vec![
            ContentBlock::text("hello"),
            ContentBlock::Image(ImageContent::new("aGVsbG8=", "image/png")),
            ContentBlock::Resource(EmbeddedResource::new(ResourceContents::text(
                "body",
                "file:///a",
            ))),
        ]);
        r.structured_content = Some(serde_json::json!({"n": 1}));
        let (text, is_error) = result_text(&r);
        assert!(!is_error);
        assert_eq!(
            text,
            "hello\n[image: image/png, 5 bytes, not shown]\n[resource file:///a]\nbody"
        );
    }

    #[test]
    fn structured_content_alone_is_shown_and_errors_are_flagged() {
        let mut r = CallToolResult::error(vec![]);
        r.structured_content = Some(serde_json::json!({"sum": 3}));
        assert_eq!(result_text(&r), (r#"{"sum":3}"#.to_owned(), true));
    }

    #[test]
    fn huge_results_are_cut_with_a_marker() {
        let r = CallToolResult::success(vec![ContentBlock::text("é".repeat(MAX_RESULT_BYTES))]);
        let (text, _) = result_text(&r);
        assert!(text.len() < MAX_RESULT_BYTES + 100);
        assert!(text.ends_with("shown]"));
    }
}
