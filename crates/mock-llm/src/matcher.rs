//! Choosing a response for a request: matchers and the per-conversation queue.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::dialect::{Dialect, RequestView};
use crate::script::{Matcher, Response, Script};

impl Matcher {
    /// Whether every given condition holds for this request.
    pub(crate) fn matches(&self, dialect: Dialect, view: &RequestView) -> bool {
        let tool_ok = self
            .last_tool_result
            .as_ref()
            .is_none_or(|name| view.last_tool_results.iter().any(|n| n == name));
        let user_ok = self.last_user_contains.as_ref().is_none_or(|needle| {
            view.last_user_text
                .as_ref()
                .is_some_and(|t| t.contains(needle.as_str()))
        });
        let model_ok = self
            .model
            .as_ref()
            .is_none_or(|m| view.model.as_ref() == Some(m));
        let dialect_ok = self.dialect.is_none_or(|d| d == dialect);
        tool_ok && user_ok && model_ok && dialect_ok
    }
}

/// A response and how many more times it may be served.
#[derive(Debug)]
struct Slot {
    response: Arc<Response>,
    remaining: u32,
}

/// Why no response was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NoResponse {
    /// The header named a conversation the script does not have.
    UnknownConversation(String),
    /// Every response of the conversation is used up or does not match.
    Exhausted,
}

/// The script's responses with their use counts; lives behind the server's mutex.
#[derive(Debug)]
pub(crate) struct Queue {
    default: Vec<Slot>,
    named: BTreeMap<String, Vec<Slot>>,
}

fn slots(responses: Vec<Response>) -> Vec<Slot> {
    responses
        .into_iter()
        .map(|r| Slot {
            remaining: r.times.unwrap_or(1),
            response: Arc::new(r),
        })
        .collect()
}

impl Queue {
    pub(crate) fn new(script: Script) -> Queue {
        Queue {
            default: slots(script.responses),
            named: script
                .conversations
                .into_iter()
                .map(|(k, v)| (k, slots(v)))
                .collect(),
        }
    }

    /// The first unused response whose matcher accepts the request; it is used up by one.
    pub(crate) fn take(
        &mut self,
        conversation: Option<&str>,
        dialect: Dialect,
        view: &RequestView,
    ) -> Result<Arc<Response>, NoResponse> {
        let slots = match conversation {
            None => &mut self.default,
            Some(name) => self
                .named
                .get_mut(name)
                .ok_or_else(|| NoResponse::UnknownConversation(name.to_owned()))?,
        };
        let slot = slots
            .iter_mut()
            .find(|s| {
                s.remaining > 0
                    && s.response
                        .when
                        .as_ref()
                        .is_none_or(|m| m.matches(dialect, view))
            })
            .ok_or(NoResponse::Exhausted)?;
        slot.remaining -= 1;
        Ok(Arc::clone(&slot.response))
    }

    /// Adds responses at the end of a conversation, creating it if needed.
    pub(crate) fn append(&mut self, conversation: Option<&str>, responses: Vec<Response>) {
        let target = match conversation {
            None => &mut self.default,
            Some(name) => self.named.entry(name.to_owned()).or_default(),
        };
        target.extend(slots(responses));
    }

    /// How many servings are left in all conversations.
    pub(crate) fn remaining(&self) -> u64 {
        self.default
            .iter()
            .chain(self.named.values().flatten())
            .map(|s| u64::from(s.remaining))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_unused_matching_response_wins() {
        let script = Script::from_yaml_str(
            r#"
responses:
  - when: {last_tool_result: read_file}
    output: [{text: after-read}]
  - output: [{text: plain}]
    times: 2
"#,
        )
        .unwrap();
        let mut q = Queue::new(script);
        let plain = RequestView::default();
        let after = RequestView {
            last_tool_results: vec!["read_file".into()],
            ..Default::default()
        };
        assert_eq!(
            q.take(None, Dialect::Anthropic, &plain).unwrap().output[0],
            crate::Part::text("plain")
        );
        assert_eq!(
            q.take(None, Dialect::Anthropic, &after).unwrap().output[0],
            crate::Part::text("after-read")
        );
        assert_eq!(
            q.take(None, Dialect::Anthropic, &after).unwrap().output[0],
            crate::Part::text("plain")
        );
        assert_eq!(
            q.take(None, Dialect::Anthropic, &plain).unwrap_err(),
            NoResponse::Exhausted
        );
        assert_eq!(
            q.take(Some("x"), Dialect::Anthropic, &plain).unwrap_err(),
            NoResponse::UnknownConversation("x".into())
        );
    }
}
