//! Recorded bodies (`raw_sse`): a provider stream captured from the real service,
//! served byte for byte.
//!
//! The body is cut into its SSE events only so that the stream faults (`cut_after_events`,
//! `split_frames`, `pace_ms`, stalls) count and pace events as they do for rendered
//! responses; the frames concatenate to the file exactly.

/// Splits `body` after every blank line (`\n\n`, or `\r\n\r\n` / `\r\r` as SSE also
/// allows), keeping the separators with the event they end. Trailing bytes after the
/// last blank line form a final frame.
pub(crate) fn frames(body: &str) -> Vec<String> {
    let bytes = body.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let end = if bytes[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if bytes[i..].starts_with(b"\n\n") || bytes[i..].starts_with(b"\r\r") {
            Some(i + 2)
        } else {
            None
        };
        match end {
            Some(e) => {
                // Separators are ASCII, so `start..e` are char boundaries.
                out.push(body[start..e].to_owned());
                start = e;
                i = e;
            }
            None => i += 1,
        }
    }
    if start < bytes.len() {
        out.push(body[start..].to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::frames;

    #[test]
    fn frames_concatenate_to_the_body_and_end_at_blank_lines() {
        let body = ": OPENROUTER PROCESSING\n\ndata: {\"a\":1}\n\ndata: [DONE]\n\n";
        let f = frames(body);
        assert_eq!(
            f,
            [
                ": OPENROUTER PROCESSING\n\n",
                "data: {\"a\":1}\n\n",
                "data: [DONE]\n\n"
            ]
        );
        assert_eq!(f.concat(), body);
        let crlf = "data: x\r\n\r\ndata: y\r\n\r\ntail";
        assert_eq!(frames(crlf), ["data: x\r\n\r\n", "data: y\r\n\r\n", "tail"]);
        assert_eq!(frames(crlf).concat(), crlf);
        assert!(frames("").is_empty());
    }
}
