//! Turns dialect-specific fragments into provider-neutral events and items.
//!
//! Every dialect decoder feeds this one assembler, so the rules that PITFALLS.md lists
//! live in one place:
//! - each block (text, reasoning, tool call) is keyed by the provider's own block key
//!   (Anthropic content index, Chat tool-call index, Responses output index), so
//!   interleaved parallel calls never mix their arguments;
//! - a tool call is released as finished only once the stop reason is known, and a
//!   call still open (or with unparsable arguments) when the token limit hit is
//!   reported as truncated and never as executable;
//! - items are released in output order, so the log order equals the model's order.

use transcript::{Item, Reasoning, StopReason, ToolCall, Usage};

use crate::event::{Completed, StreamEvent};

/// Prefix of call ids this layer invents when a provider gives none (Gemini may omit
/// them). Dialects never send such ids back to the provider.
pub(crate) const SYNTH_ID_PREFIX: &str = "pods_synth_";

/// A process-wide unique call id: the session log needs ids unique across turns.
fn synth_call_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!(
        "{SYNTH_ID_PREFIX}{micros:x}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A provider's block key (content index, tool-call index, output index ...).
pub(crate) type Key = u64;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Refusal,
    Reasoning,
    Tool,
}

#[derive(Debug)]
struct Block {
    key: Key,
    kind: Kind,
    open: bool,
    /// The provider said this block ended (as opposed to us closing it at the end).
    closed_by_provider: bool,
    text: String,
    reasoning: Reasoning,
    call_index: usize,
    call_id: String,
    name: String,
    args: String,
}

impl Block {
    fn new(key: Key, kind: Kind) -> Block {
        Block {
            key,
            kind,
            open: true,
            closed_by_provider: false,
            text: String::new(),
            reasoning: Reasoning::default(),
            call_index: 0,
            call_id: String::new(),
            name: String::new(),
            args: String::new(),
        }
    }
}

/// Accumulates one response. Decoders call the methods; the transport drains
/// [`Assembler::out`] after every wire event.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    blocks: Vec<Block>,
    released: usize,
    calls: usize,
    items: Vec<Item>,
    truncated: Vec<ToolCall>,
    usage: Usage,
    stop: Option<StopReason>,
    /// Events produced since the last drain.
    pub out: Vec<StreamEvent>,
}

impl Assembler {
    fn open_block(&self, key: Key, kind: Kind) -> Option<usize> {
        self.blocks
            .iter()
            .rposition(|b| b.open && b.key == key && b.kind == kind)
    }

    fn block_mut(&mut self, key: Key, kind: Kind) -> &mut Block {
        let i = match self.open_block(key, kind) {
            Some(i) => i,
            None => {
                self.blocks.push(Block::new(key, kind));
                self.blocks.len() - 1
            }
        };
        &mut self.blocks[i]
    }

    /// Appends visible text to the text block `key` (opening it if needed).
    pub fn text(&mut self, key: Key, delta: &str) {
        if delta.is_empty() {
            return;
        }
        self.block_mut(key, Kind::Text).text.push_str(delta);
        self.out.push(StreamEvent::TextDelta(delta.to_owned()));
    }

    /// Appends refusal text (OpenAI `delta.refusal`) to the refusal block `key`. The
    /// user sees it like text (a `TextDelta`); the item is an [`Item::Refusal`], so
    /// the log says the model refused instead of holding an empty answer.
    pub fn refusal(&mut self, key: Key, delta: &str) {
        if delta.is_empty() {
            return;
        }
        self.block_mut(key, Kind::Refusal).text.push_str(delta);
        self.out.push(StreamEvent::TextDelta(delta.to_owned()));
    }

    /// Appends reasoning text to the reasoning block `key`.
    pub fn reasoning_text(&mut self, key: Key, delta: &str) {
        if delta.is_empty() {
            return;
        }
        self.block_mut(key, Kind::Reasoning)
            .reasoning
            .text
            .push_str(delta);
        self.out.push(StreamEvent::ReasoningDelta(delta.to_owned()));
    }

    /// The opaque fields of reasoning block `key` (opening it if needed).
    pub fn reasoning(&mut self, key: Key) -> &mut Reasoning {
        &mut self.block_mut(key, Kind::Reasoning).reasoning
    }

    /// True when a tool block `key` is open.
    pub fn has_open_tool(&self, key: Key) -> bool {
        self.open_block(key, Kind::Tool).is_some()
    }

    /// Opens tool call `key`. A missing id is synthesised (unique, prefixed `pods_synth_`) so results can
    /// still refer to the call.
    pub fn tool_start(&mut self, key: Key, call_id: Option<&str>, name: &str) {
        let index = self.calls;
        self.calls += 1;
        let call_id = match call_id {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => synth_call_id(),
        };
        let mut b = Block::new(key, Kind::Tool);
        b.call_index = index;
        b.call_id = call_id.clone();
        b.name = name.to_owned();
        self.blocks.push(b);
        self.out.push(StreamEvent::ToolCallStarted {
            index,
            call_id,
            name: name.to_owned(),
        });
    }

    /// Appends an argument fragment to tool call `key`. Returns false if no such call
    /// is open (the decoder decides whether that is a protocol error).
    pub fn tool_args(&mut self, key: Key, delta: &str) -> bool {
        let Some(i) = self.open_block(key, Kind::Tool) else {
            return false;
        };
        if delta.is_empty() {
            return true;
        }
        let b = &mut self.blocks[i];
        b.args.push_str(delta);
        self.out.push(StreamEvent::ToolCallArgsDelta {
            index: b.call_index,
            delta: delta.to_owned(),
        });
        true
    }

    /// Replaces the arguments of tool call `key` with the provider's final text (the
    /// Responses `output_item.done` carries them whole).
    pub fn tool_set_args(&mut self, key: Key, full: &str) {
        if let Some(i) = self.open_block(key, Kind::Tool) {
            self.blocks[i].args = full.to_owned();
        }
    }

    /// The provider ended block `key` (of any kind).
    pub fn close(&mut self, key: Key) {
        if let Some(b) = self
            .blocks
            .iter_mut()
            .rev()
            .find(|b| b.open && b.key == key)
        {
            b.open = false;
            b.closed_by_provider = true;
        }
        self.release();
    }

    /// Ends every open text and reasoning block (Chat and Gemini have no block-end
    /// events: a block ends when something else starts).
    pub fn close_text_and_reasoning(&mut self) {
        for b in &mut self.blocks {
            if b.open && b.kind != Kind::Tool {
                b.open = false;
                b.closed_by_provider = true;
            }
        }
        self.release();
    }

    /// Merges a usage report (see [`Usage::merge`]).
    pub fn usage(&mut self, u: &Usage) {
        self.usage.merge(u);
    }

    /// Records the stop reason; tool calls become releasable.
    pub fn stop(&mut self, reason: StopReason) {
        self.stop = Some(reason);
        self.release();
    }

    /// The stop reason, once known.
    pub fn stop_reason(&self) -> Option<&StopReason> {
        self.stop.as_ref()
    }

    /// Number of tool calls started so far.
    pub fn call_count(&self) -> usize {
        self.calls
    }

    fn release(&mut self) {
        while self.released < self.blocks.len() {
            let b = &self.blocks[self.released];
            if b.open || (b.kind == Kind::Tool && self.stop.is_none()) {
                return;
            }
            let b = &self.blocks[self.released];
            match b.kind {
                Kind::Text if !b.text.is_empty() => {
                    let item = Item::AssistantMessage {
                        text: b.text.clone(),
                    };
                    self.items.push(item.clone());
                    self.out.push(StreamEvent::ItemDone(item));
                }
                Kind::Refusal if !b.text.is_empty() => {
                    let item = Item::Refusal {
                        text: b.text.clone(),
                    };
                    self.items.push(item.clone());
                    self.out.push(StreamEvent::ItemDone(item));
                }
                Kind::Reasoning if b.reasoning != Reasoning::default() => {
                    let item = Item::Reasoning(b.reasoning.clone());
                    self.items.push(item.clone());
                    self.out.push(StreamEvent::ItemDone(item));
                }
                Kind::Tool => {
                    let args = if b.args.trim().is_empty() {
                        "{}".to_owned()
                    } else {
                        b.args.clone()
                    };
                    let call = ToolCall {
                        call_id: b.call_id.clone(),
                        name: b.name.clone(),
                        arguments: args,
                    };
                    let cut = self.stop == Some(StopReason::MaxTokens)
                        && (!b.closed_by_provider
                            || serde_json::from_str::<serde::de::IgnoredAny>(&call.arguments)
                                .is_err());
                    if cut {
                        self.out.push(StreamEvent::ToolCallTruncated {
                            index: b.call_index,
                            call_id: call.call_id.clone(),
                            name: call.name.clone(),
                            partial_arguments: b.args.clone(),
                        });
                        self.truncated.push(call);
                    } else {
                        self.out.push(StreamEvent::ToolCallFinished {
                            index: b.call_index,
                            call: call.clone(),
                        });
                        let item = Item::ToolCall(call);
                        self.items.push(item.clone());
                        self.out.push(StreamEvent::ItemDone(item));
                    }
                }
                _ => {}
            }
            self.released += 1;
        }
    }

    /// Ends the response: closes what is still open, releases every item and emits
    /// `Usage`, `Stop` and `Completed`. `stop` must have been recorded.
    pub fn finish(&mut self) -> Completed {
        let mut stop = self.stop.clone().unwrap_or(StopReason::EndTurn);
        self.stop = Some(stop.clone());
        for b in &mut self.blocks {
            b.open = false;
        }
        self.release();
        let has_calls = self.items.iter().any(|i| matches!(i, Item::ToolCall(_)));
        // Some OpenAI-compatible servers say "stop" even when they called tools; the
        // calls are what matters to the runtime.
        if has_calls && stop == StopReason::EndTurn {
            stop = StopReason::ToolUse;
        }
        let done = Completed {
            items: self.items.clone(),
            usage: self.usage,
            stop: stop.clone(),
            truncated_calls: self.truncated.clone(),
        };
        self.out.push(StreamEvent::Usage(self.usage));
        self.out.push(StreamEvent::Stop(stop));
        self.out.push(StreamEvent::Completed(done.clone()));
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_calls_keep_their_own_arguments() {
        let mut a = Assembler::default();
        a.tool_start(0, Some("a"), "read");
        a.tool_start(1, Some("b"), "write");
        a.tool_args(0, "{\"p\":");
        a.tool_args(1, "{\"q\":");
        a.tool_args(0, "1}");
        a.tool_args(1, "2}");
        a.stop(StopReason::ToolUse);
        let done = a.finish();
        assert_eq!(
            done.items,
            vec![
                Item::ToolCall(ToolCall {
                    call_id: "a".into(),
                    name: "read".into(),
                    arguments: "{\"p\":1}".into()
                }),
                Item::ToolCall(ToolCall {
                    call_id: "b".into(),
                    name: "write".into(),
                    arguments: "{\"q\":2}".into()
                }),
            ]
        );
    }

    #[test]
    fn open_call_at_max_tokens_is_truncated_not_finished() {
        let mut a = Assembler::default();
        a.text(0, "hi");
        a.tool_start(1, Some("a"), "read");
        a.tool_args(1, "{\"p\":\"/x");
        a.close(1); // Anthropic closes the block even when cut
        a.stop(StopReason::MaxTokens);
        let done = a.finish();
        assert_eq!(done.items.len(), 1);
        assert_eq!(done.truncated_calls.len(), 1);
        assert!(
            !a.out
                .iter()
                .any(|e| matches!(e, StreamEvent::ToolCallFinished { .. }))
        );
    }

    #[test]
    fn items_are_released_in_output_order() {
        let mut a = Assembler::default();
        a.reasoning_text(0, "think");
        a.close(0);
        a.tool_start(1, Some("c"), "t");
        a.close(1);
        a.text(2, "after");
        a.close(2);
        // The text after the call waits for the call, which waits for the stop reason.
        let done_items: Vec<_> = a
            .out
            .iter()
            .filter(|e| matches!(e, StreamEvent::ItemDone(_)))
            .collect();
        assert_eq!(done_items.len(), 1);
        a.stop(StopReason::ToolUse);
        let kinds: Vec<_> = a
            .out
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ItemDone(i) => Some(std::mem::discriminant(i)),
                _ => None,
            })
            .collect();
        assert_eq!(kinds.len(), 3);
    }
}
