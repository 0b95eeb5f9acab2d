//! `view_image`: lets the model look at an image file inside its readable scope.

use schemars::JsonSchema;
use scope::Access;
use serde::Deserialize;

use crate::beneath::Regular;
use crate::capability::resolve;
use crate::error::ToolError;
use crate::tool::{Tool, ToolContext, ToolImage, ToolOutput, blocking, parse_args, schema_of};

/// Largest image sent to a model: the smallest per-image limit of the providers pods
/// speaks to (Anthropic's 5 MB), so an image accepted here is accepted by all.
pub const IMAGE_MAX_BYTES: u64 = 5 * 1024 * 1024;

/// The media type of encoded image bytes, from their signature. Four formats only:
/// the ones every provider accepts, so a tiny match beats an image-probing crate.
pub fn image_media_type(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, ..] => Some("image/png"),
        [0xff, 0xd8, 0xff, ..] => Some("image/jpeg"),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some("image/gif"),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some("image/webp"),
        _ => None,
    }
}

/// Arguments of `view_image`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewImageParams {
    /// Image file (PNG, JPEG, GIF or WebP), absolute or relative to the working directory.
    pub path: String,
}

/// Shows an image file to the model.
#[derive(Debug, Default)]
pub struct ViewImage;

#[async_trait::async_trait]
impl Tool for ViewImage {
    fn name(&self) -> &'static str {
        "view_image"
    }
    fn description(&self) -> &'static str {
        "Look at an image file (PNG, JPEG, GIF or WebP, at most 5 MiB): screenshots, diagrams, rendered output. The image is shown to you after this call's result."
    }
    fn parameters_schema(&self) -> serde_json::Value {
        schema_of::<ViewImageParams>()
    }
    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let p: ViewImageParams = parse_args(self.name(), args)?;
        let scope = ctx.current_scope();
        let cwd = ctx.cwd.clone();
        blocking(self.name(), move || {
            let r = resolve(&scope, &cwd, &p.path, Access::Read)?;
            let root = r.open_root_fd()?;
            let Regular { bytes, .. } = r.read_bounded(
                &root,
                &r.rel,
                IMAGE_MAX_BYTES,
                "view_image",
                "make a smaller copy first (e.g. with bash: convert IN -resize 50% OUT.png)",
            )?;
            let Some(media_type) = image_media_type(&bytes) else {
                return Err(ToolError::Binary {
                    path: r.canonical,
                    why: "not a PNG, JPEG, GIF or WebP image".into(),
                });
            };
            let shown = r.canonical.display().to_string();
            let mut out = ToolOutput::full(format!(
                "{shown}: {media_type}, {} bytes; the image follows.",
                bytes.len()
            ));
            out.images.push(ToolImage {
                media_type: media_type.into(),
                data: bytes,
                source: shown,
            });
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::image_media_type;

    #[test]
    fn signatures_are_recognised_and_text_is_not() {
        assert_eq!(
            image_media_type(b"\x89PNG\r\n\x1a\n\0\0"),
            Some("image/png")
        );
        assert_eq!(image_media_type(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(image_media_type(b"GIF89a..."), Some("image/gif"));
        assert_eq!(
            image_media_type(b"RIFF\0\0\0\0WEBPVP8 "),
            Some("image/webp")
        );
        assert_eq!(image_media_type(b"hello world"), None);
        assert_eq!(image_media_type(b""), None);
    }
}
