//! One response's parser: SSE events in, [`StreamEvent`]s out. Shared by the HTTP
//! transport and by [`parse_sse`] (tests, benchmarks, replaying recorded bytes), so
//! fixtures always go through exactly the code the client runs.

use crate::assemble::Assembler;
use crate::config::ProviderKind;
use crate::dialect::{Decoder, decoder};
use crate::error::LlmError;
use crate::event::{Completed, StreamEvent};
use crate::sse::SseDecoder;

/// Parser state of one attempt.
pub(crate) struct ResponseParser {
    kind: ProviderKind,
    decoder: Box<dyn Decoder>,
    asm: Assembler,
    ended: bool,
}

impl ResponseParser {
    pub(crate) fn new(kind: ProviderKind) -> ResponseParser {
        ResponseParser {
            kind,
            decoder: decoder(kind),
            asm: Assembler::default(),
            ended: false,
        }
    }

    /// Feeds one SSE event; `Ok(true)` when the provider said the response is complete.
    pub(crate) fn feed(&mut self, event: &str, data: &str) -> Result<bool, LlmError> {
        let end = self.decoder.event(event, data, &mut self.asm)?;
        self.ended |= end;
        Ok(end)
    }

    /// Events produced since the last call.
    pub(crate) fn take_events(&mut self) -> Vec<StreamEvent> {
        std::mem::take(&mut self.asm.out)
    }

    /// The stream ended (end marker or EOF). A stream that ends before the provider
    /// marked the end or gave a stop reason was cut: that is a retryable network error.
    pub(crate) fn finish(&mut self) -> Result<Completed, LlmError> {
        if !self.ended && self.asm.stop_reason().is_none() {
            return Err(LlmError::Network {
                provider: self.kind.name(),
                attempts: 1,
                message:
                    "the stream ended before the provider finished the response (connection cut)"
                        .into(),
            });
        }
        Ok(self.asm.finish())
    }
}

/// Parses a complete raw SSE byte stream of `kind` (split into arbitrary chunks, as it
/// came off the wire) into the events a live call would produce, and the outcome.
///
/// ```
/// let raw = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
/// let (events, done) = llm::parse_sse(llm::ProviderKind::OpenAiChat, [&raw[..10], &raw[10..]]);
/// assert!(events.contains(&llm::StreamEvent::TextDelta("hi".into())));
/// assert_eq!(done.unwrap().stop, transcript::StopReason::EndTurn);
/// ```
pub fn parse_sse<'a>(
    kind: ProviderKind,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<StreamEvent>, Result<Completed, LlmError>) {
    let mut sse = SseDecoder::default();
    let mut p = ResponseParser::new(kind);
    let mut events = Vec::new();
    'chunks: for chunk in chunks {
        if let Err(e) = sse.push(chunk) {
            let err = LlmError::Protocol {
                provider: kind.name(),
                message: format!("malformed SSE: {e}"),
            };
            return (events, Err(err));
        }
        while let Some(ev) = sse.next_event() {
            let end = p.feed(&ev.event, &ev.data);
            events.extend(p.take_events());
            match end {
                Ok(true) => break 'chunks,
                Ok(false) => {}
                Err(e) => return (events, Err(e)),
            }
        }
    }
    let done = p.finish();
    events.extend(p.take_events());
    (events, done)
}
