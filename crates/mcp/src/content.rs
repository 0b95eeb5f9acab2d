//! A server's `CallToolResult` as a tool result: text, plus the images it holds.
//!
//! Images go to the model the way `view_image`'s do (stored as blobs, shown after
//! the batch's results), under the same checks: the bytes must really be PNG,
//! JPEG, GIF or WebP (their signature, not the server's claimed type) and at most
//! [`tools::IMAGE_MAX_BYTES`]. An image that fails them, audio and binary resources
//! become a line naming their type and size (the model learns they exist and can
//! ask for a text form); text resources are inlined with their URI; structured
//! content is added as JSON when the server sent no text (the spec asks servers to
//! mirror it in a text block, most do).

use base64::Engine as _;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use tools::{IMAGE_MAX_BYTES, ToolImage, image_media_type};

/// Most bytes of one result given to the model; the rest is cut with a marker (a
/// tool that returns a whole database dump must not fill the context window).
pub const MAX_RESULT_BYTES: usize = 100_000;

/// Most images one result shows the model; more are named but not shown (a tool
/// that returns a hundred frames must not fill the context window).
pub const MAX_RESULT_IMAGES: usize = 8;

/// What one call gave the model.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutput {
    /// The result text.
    pub text: String,
    /// Whether the server flagged the result as an error.
    pub is_error: bool,
    /// Images to show after the result, in order.
    pub images: Vec<ToolImage>,
}

/// The result of a call to `server`, as the model gets it.
pub fn call_output(r: &CallToolResult, server: &str) -> CallOutput {
    let mut parts: Vec<String> = Vec::new();
    let mut images = Vec::new();
    for block in &r.content {
        parts.push(match block {
            ContentBlock::Text(t) => t.text.clone(),
            ContentBlock::Image(i) => match image(&i.data, images.len()) {
                Ok((media_type, data)) => {
                    let line = format!(
                        "[image {}: {media_type}, {} bytes, shown after this result]",
                        images.len() + 1,
                        data.len()
                    );
                    images.push(ToolImage {
                        media_type: media_type.to_owned(),
                        data,
                        source: format!("MCP server {server}"),
                    });
                    line
                }
                Err(why) => format!(
                    "[image: {}, {} bytes, not shown: {why}]",
                    i.mime_type,
                    base64_len(&i.data)
                ),
            },
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
    CallOutput {
        text: cap(text),
        is_error: r.is_error.unwrap_or(false),
        images,
    }
}

/// An image block's bytes and real media type, or why it is not shown.
fn image(b64: &str, shown: usize) -> Result<(&'static str, Vec<u8>), String> {
    if shown >= MAX_RESULT_IMAGES {
        return Err(format!("a result shows at most {MAX_RESULT_IMAGES} images"));
    }
    if base64_len(b64) as u64 > IMAGE_MAX_BYTES {
        return Err(format!("larger than {IMAGE_MAX_BYTES} bytes"));
    }
    let data = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("not valid base64 ({e})"))?;
    let media_type =
        image_media_type(&data).ok_or("not a PNG, JPEG, GIF or WebP image".to_owned())?;
    Ok((media_type, data))
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
        let out = call_output(&r, "s");
        assert!(!out.is_error);
        // "hello" is no PNG, whatever the server says: named, not shown.
        assert_eq!(
            out.text,
            "hello\n[image: image/png, 5 bytes, not shown: not a PNG, JPEG, GIF or WebP image]\n[resource file:///a]\nbody"
        );
        assert!(out.images.is_empty());
    }

    #[test]
    fn real_images_are_shown_up_to_the_cap_with_their_true_type() {
        let gif = base64::engine::general_purpose::STANDARD.encode(b"GIF89a\x01\x00\x01\x00");
        let blocks = (0..MAX_RESULT_IMAGES + 1)
            // The claimed type is wrong; the signature decides.
            .map(|_| ContentBlock::Image(ImageContent::new(gif.clone(), "image/png")))
            .collect();
        let out = call_output(&CallToolResult::success(blocks), "pics");
        assert_eq!(out.images.len(), MAX_RESULT_IMAGES);
        assert!(out.images.iter().all(|i| i.media_type == "image/gif"));
        assert_eq!(out.images[0].source, "MCP server pics");
        assert!(
            out.text
                .starts_with("[image 1: image/gif, 10 bytes, shown after this result]")
        );
        assert!(
            out.text
                .ends_with("not shown: a result shows at most 8 images]"),
            "{}",
            out.text
        );
    }

    #[test]
    fn structured_content_alone_is_shown_and_errors_are_flagged() {
        let mut r = CallToolResult::error(vec![]);
        r.structured_content = Some(serde_json::json!({"sum": 3}));
        let out = call_output(&r, "s");
        assert_eq!((out.text.as_str(), out.is_error), (r#"{"sum":3}"#, true));
    }

    #[test]
    fn huge_results_are_cut_with_a_marker() {
        let r = CallToolResult::success(vec![ContentBlock::text("é".repeat(MAX_RESULT_BYTES))]);
        let text = call_output(&r, "s").text;
        assert!(text.len() < MAX_RESULT_BYTES + 100);
        assert!(text.ends_with("shown]"));
    }
}
