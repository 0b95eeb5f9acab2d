//! A response turned into a dialect-neutral sequence of block starts, deltas and ends.
//!
//! Every dialect renders the same plan, so "what is streamed in which order" (including
//! interleaved tool-call arguments) is decided once, here.

use crate::script::{Part, Response, Stop, Usage};

/// One output block with its pieces already cut.
#[derive(Debug, Clone)]
pub(crate) enum Block {
    /// Assistant text.
    Text {
        text: String,
        pieces: Vec<String>,
        thought_signature: Option<String>,
    },
    /// Reasoning text plus opaque companions.
    Reasoning {
        text: String,
        pieces: Vec<String>,
        signature: Option<String>,
        encrypted_content: Option<String>,
    },
    /// Opaque reasoning data.
    Redacted { data: String },
    /// A tool call; `call_index` is its position among the response's tool calls.
    ToolCall {
        id: Option<String>,
        name: String,
        arguments: String,
        pieces: Vec<String>,
        call_index: usize,
        thought_signature: Option<String>,
    },
}

impl Block {
    /// The streamed pieces of this block (empty for opaque blocks).
    pub(crate) fn pieces(&self) -> &[String] {
        match self {
            Block::Text { pieces, .. }
            | Block::Reasoning { pieces, .. }
            | Block::ToolCall { pieces, .. } => pieces,
            Block::Redacted { .. } => &[],
        }
    }
}

/// One step of the stream, naming blocks by index into `Plan::blocks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The block opens.
    Start(usize),
    /// Piece `.1` of block `.0`.
    Delta(usize, usize),
    /// The block closes.
    End(usize),
}

/// What a dialect renders.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub blocks: Vec<Block>,
    pub steps: Vec<Step>,
    pub stop: Stop,
    pub usage: Usage,
}

impl Plan {
    /// Builds the plan for a response.
    pub(crate) fn of(response: &Response) -> Plan {
        let mut blocks = Vec::new();
        let mut calls = 0;
        for part in &response.output {
            blocks.push(match part {
                Part::Text(t) => Block::Text {
                    text: t.text.clone(),
                    pieces: t.chunking.split(&t.text, false),
                    thought_signature: t.thought_signature.clone(),
                },
                Part::Reasoning(r) => Block::Reasoning {
                    text: r.text.clone(),
                    pieces: r.chunking.split(&r.text, false),
                    signature: r.signature.clone(),
                    encrypted_content: r.encrypted_content.clone(),
                },
                Part::RedactedReasoning(d) => Block::Redacted { data: d.clone() },
                Part::ToolCall(c) => {
                    calls += 1;
                    Block::ToolCall {
                        id: c.id.clone(),
                        name: c.name.clone(),
                        arguments: c.arguments.clone(),
                        pieces: c.chunking.split(&c.arguments, true),
                        call_index: calls - 1,
                        thought_signature: c.thought_signature.clone(),
                    }
                }
            });
        }
        let steps = steps_for(&blocks, response.interleave);
        Plan {
            blocks,
            steps,
            stop: response.effective_stop(),
            usage: response.usage.unwrap_or_default(),
        }
    }

    /// The same plan with its last text or reasoning delta sent twice; `None` when no
    /// such delta exists. `endless` renders both plans and takes the first frame where
    /// they differ as the frame to repeat: that way each dialect's renderer decides what
    /// one more delta looks like (Responses numbers its events, Gemini puts the finish
    /// reason on the last delta), and no renderer needs an endless mode of its own.
    pub(crate) fn with_last_delta_twice(&self) -> Option<Plan> {
        let at = self.steps.iter().rposition(|s| {
            matches!(s, Step::Delta(b, _)
                if matches!(self.blocks[*b], Block::Text { .. } | Block::Reasoning { .. }))
        })?;
        let mut twice = self.clone();
        twice.steps.insert(at, self.steps[at]);
        Some(twice)
    }

    /// The text of all text blocks, concatenated (for non-streaming bodies).
    pub(crate) fn full_text(&self) -> String {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Sequential blocks, except that a run of consecutive tool calls is interleaved round
/// robin when asked: all start, their deltas alternate, all end.
fn steps_for(blocks: &[Block], interleave: bool) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut i = 0;
    while i < blocks.len() {
        let run_end = if interleave && matches!(blocks[i], Block::ToolCall { .. }) {
            let mut j = i;
            while j < blocks.len() && matches!(blocks[j], Block::ToolCall { .. }) {
                j += 1;
            }
            j
        } else {
            i + 1
        };
        let run = i..run_end;
        steps.extend(run.clone().map(Step::Start));
        let longest = run
            .clone()
            .map(|b| blocks[b].pieces().len())
            .max()
            .unwrap_or(0);
        for piece in 0..longest {
            for b in run.clone() {
                if piece < blocks[b].pieces().len() {
                    steps.push(Step::Delta(b, piece));
                }
            }
        }
        steps.extend(run.map(Step::End));
        i = run_end;
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_alternates_argument_deltas_of_parallel_calls() {
        let mut r = Response {
            output: vec![
                Part::text("hi"),
                Part::tool_call("a", "x", "aaa"),
                Part::tool_call("b", "y", "bbb"),
            ],
            ..Default::default()
        };
        let plain = Plan::of(&r).steps;
        assert_eq!(
            plain[3..6],
            [Step::Start(1), Step::Delta(1, 0), Step::Delta(1, 1)]
        );
        r.interleave = true;
        let mixed = Plan::of(&r).steps;
        assert_eq!(
            mixed[3..],
            [
                Step::Start(1),
                Step::Start(2),
                Step::Delta(1, 0),
                Step::Delta(2, 0),
                Step::Delta(1, 1),
                Step::Delta(2, 1),
                Step::Delta(1, 2),
                Step::Delta(2, 2),
                Step::End(1),
                Step::End(2),
            ]
        );
    }
}
