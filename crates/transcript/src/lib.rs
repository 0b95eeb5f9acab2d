//! Provider-neutral conversation items.
//!
//! Owns: the shape of a conversation as pods stores and replays it: [`Item`]s
//! (user and assistant text, tool calls, tool results, reasoning, notices the model
//! was shown), [`Usage`], [`StopReason`], [`ToolSpec`] and [`RequestConfig`].
//!
//! Must never own: wire formats of any provider (that is `llm`), storage (that is
//! `session-store`), or anything that does I/O.
//!
//! Invariants: items are plain data with stable serde shapes (tagged by `type`,
//! snake_case); provider-opaque fields (reasoning signatures, encrypted reasoning,
//! redacted thinking) are kept verbatim so they can be sent back byte for byte.
#![deny(missing_docs)]

use serde::{Deserialize, Serialize};

/// One element of a conversation, in the order the model saw or produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item {
    /// Text from the user.
    UserMessage {
        /// The text.
        text: String,
    },
    /// Text the assistant produced.
    AssistantMessage {
        /// The text.
        text: String,
    },
    /// The assistant declined to answer (OpenAI Chat `refusal`). Shown to the user
    /// like assistant text; kept apart so the log says it was a refusal. Sent back
    /// to providers as ordinary assistant text.
    Refusal {
        /// The refusal text, verbatim.
        text: String,
    },
    /// A tool call the assistant made.
    ToolCall(ToolCall),
    /// The result of a tool call, sent back to the model.
    ToolResult(ToolResult),
    /// Reasoning the assistant produced (possibly opaque).
    Reasoning(Reasoning),
    /// A notice the runtime showed the model (child finished, scope reclaimed, ...).
    /// Sent to providers as a user-role message; the exact text is what the model saw.
    Notice {
        /// The exact text shown to the model.
        text: String,
    },
    /// An image shown to the model in a user-role message: one the user attached,
    /// or one a tool (`view_image`) produced. Only a reference is stored; the bytes
    /// live in a content-addressed blob file, so logs stay small and the same image
    /// attached twice is stored once.
    Image {
        /// Which image.
        image: ImageRef,
    },
}

/// A reference to image bytes kept outside the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// Lower-case hex SHA-256 of the bytes: the blob's name.
    pub sha256: String,
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
    pub media_type: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Where it came from (a path), for people reading the log; never sent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// A tool call as the assistant made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call; results refer to it.
    pub call_id: String,
    /// Tool name.
    pub name: String,
    /// Arguments as the raw JSON text the model produced (kept verbatim).
    pub arguments: String,
}

/// A tool's answer to one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The call this answers.
    pub call_id: String,
    /// Tool name (some providers need it with the result).
    pub name: String,
    /// Text for the model.
    pub output: String,
    /// True when the tool failed; the output then explains why.
    #[serde(default)]
    pub is_error: bool,
}

/// Reasoning content. Which fields are set depends on the provider; whatever is set
/// must be returned verbatim in later requests to that provider.
///
/// Not `Eq`: [`Reasoning::details`] holds arbitrary provider JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reasoning {
    /// Provider's id for the reasoning item (OpenAI Responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Visible reasoning or summary text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// Anthropic thinking signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Anthropic `redacted_thinking` data (the block carries no text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted_data: Option<String>,
    /// OpenAI Responses `encrypted_content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<String>,
    /// OpenRouter `reasoning_details` entries (`reasoning.text`, `reasoning.summary`,
    /// `reasoning.encrypted`), each assembled from its stream fragments and otherwise
    /// exactly as received, in stream order. Sent back unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<serde_json::Value>,
}

/// Token usage of one or more model calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens, excluding cache reads and writes where the provider separates them.
    #[serde(default)]
    pub input_tokens: u64,
    /// Output tokens (including reasoning tokens where the provider counts them there).
    #[serde(default)]
    pub output_tokens: u64,
    /// Input tokens served from the provider's prompt cache.
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Input tokens written to the provider's prompt cache.
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Reasoning tokens, where reported separately.
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl Usage {
    /// Field-wise sum.
    pub fn add(&mut self, o: &Usage) {
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cache_read_tokens += o.cache_read_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
        self.reasoning_tokens += o.reasoning_tokens;
    }

    /// Merges a later partial report into this one: fields the later report sets
    /// (non-zero) replace ours. Anthropic reports input in `message_start` and output
    /// in `message_delta`; both describe one call, so they merge rather than add.
    pub fn merge(&mut self, later: &Usage) {
        let pick = |a: &mut u64, b: u64| {
            if b != 0 {
                *a = b;
            }
        };
        pick(&mut self.input_tokens, later.input_tokens);
        pick(&mut self.output_tokens, later.output_tokens);
        pick(&mut self.cache_read_tokens, later.cache_read_tokens);
        pick(&mut self.cache_write_tokens, later.cache_write_tokens);
        pick(&mut self.reasoning_tokens, later.reasoning_tokens);
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model finished its answer.
    EndTurn,
    /// The model wants tool results.
    ToolUse,
    /// The output token limit cut the answer; any unfinished tool call is truncated.
    MaxTokens,
    /// A stop sequence matched.
    StopSequence,
    /// The provider refused or filtered the content.
    ContentFilter,
    /// Anything else, verbatim.
    Other(String),
}

/// A tool as offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Tool name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of its parameters.
    pub parameters: serde_json::Value,
}

/// The model settings of a conversation, as recorded in the session log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestConfig {
    /// Provider kind or configured provider name (e.g. `openai`, `anthropic`).
    pub provider: String,
    /// Model id as the provider names it.
    pub model: String,
    /// Output token limit per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Reasoning budget in tokens (Anthropic thinking, Gemini thinking budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_budget: Option<u32>,
    /// Reasoning effort (`low`/`medium`/`high`, OpenAI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_have_stable_tagged_shapes() {
        let call = Item::ToolCall(ToolCall {
            call_id: "c1".into(),
            name: "read_file".into(),
            arguments: "{\"path\":\"/a\"}".into(),
        });
        let j = serde_json::to_value(&call).unwrap();
        assert_eq!(j["type"], "tool_call");
        assert_eq!(j["call_id"], "c1");
        assert_eq!(serde_json::from_value::<Item>(j).unwrap(), call);
        let r = Item::Reasoning(Reasoning {
            signature: Some("sig".into()),
            text: "hm".into(),
            ..Default::default()
        });
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"type": "reasoning", "text": "hm", "signature": "sig"})
        );
        let refusal = Item::Refusal {
            text: "I can't help with that.".into(),
        };
        let j = serde_json::to_value(&refusal).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"type": "refusal", "text": "I can't help with that."})
        );
        assert_eq!(serde_json::from_value::<Item>(j).unwrap(), refusal);
    }

    #[test]
    fn reasoning_details_are_optional_and_kept_verbatim() {
        // Logs written before `details` existed still read.
        let old: Item =
            serde_json::from_str(r#"{"type":"reasoning","text":"t","encrypted_content":"e"}"#)
                .unwrap();
        let Item::Reasoning(r) = &old else {
            panic!("{old:?}")
        };
        assert!(r.details.is_empty());
        let with = Item::Reasoning(Reasoning {
            details: vec![serde_json::json!({
                "type": "reasoning.encrypted", "data": "abc", "index": 0, "format": "google-gemini-v1"
            })],
            ..Default::default()
        });
        let text = serde_json::to_string(&with).unwrap();
        assert_eq!(serde_json::from_str::<Item>(&text).unwrap(), with);
    }

    #[test]
    fn usage_merge_keeps_both_halves() {
        let mut u = Usage {
            input_tokens: 10,
            cache_read_tokens: 5,
            ..Default::default()
        };
        u.merge(&Usage {
            output_tokens: 7,
            ..Default::default()
        });
        assert_eq!(
            u,
            Usage {
                input_tokens: 10,
                output_tokens: 7,
                cache_read_tokens: 5,
                ..Default::default()
            }
        );
        let mut total = Usage::default();
        total.add(&u);
        total.add(&u);
        assert_eq!(total.output_tokens, 14);
    }
}
