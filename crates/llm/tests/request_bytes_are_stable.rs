//! Prompt caching depends on byte-identical requests: identical inputs, in any tool
//! registration order, must give identical bodies in every dialect.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use llm::{ApiKey, Client, ProviderConfig, ProviderKind, Request};
use serde_json::json;
use transcript::{Item, ToolCall, ToolResult, ToolSpec};

fn tool(name: &str) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: format!("the {name} tool"),
        parameters: json!({"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}, "a": {"type": "integer"}}}),
    }
}

fn request(tool_order: &[&str]) -> Request {
    let mut r = Request {
        system: "sys".into(),
        tools: tool_order.iter().map(|n| tool(n)).collect(),
        ..Default::default()
    };
    r.config.model = "m".into();
    r.config.max_output_tokens = Some(1000);
    r.history = vec![
        Item::UserMessage { text: "hi".into() },
        Item::ToolCall(ToolCall {
            call_id: "c1".into(),
            name: "read_file".into(),
            arguments: r#"{"z":1,"a":2}"#.into(),
        }),
        Item::ToolResult(ToolResult {
            call_id: "c1".into(),
            name: "read_file".into(),
            output: "x".into(),
            is_error: false,
        }),
    ];
    r
}

#[test]
fn identical_inputs_give_identical_bytes_regardless_of_tool_order() {
    for kind in [
        ProviderKind::OpenAiChat,
        ProviderKind::Anthropic,
        ProviderKind::OpenAiResponses,
        ProviderKind::Gemini,
    ] {
        let c = Client::new(ProviderConfig::new(
            kind,
            "http://127.0.0.1:1",
            Some(ApiKey::new("k")),
        ))
        .unwrap();
        let a = c
            .request_body(&request(&["write_file", "grep", "read_file"]))
            .unwrap();
        let b = c
            .request_body(&request(&["read_file", "write_file", "grep"]))
            .unwrap();
        let again = c
            .request_body(&request(&["write_file", "grep", "read_file"]))
            .unwrap();
        assert_eq!(a, b, "{kind:?}");
        assert_eq!(a, again, "{kind:?}");
        let text = String::from_utf8(a).unwrap();
        let g = text.find("the grep tool").unwrap();
        let r = text.find("the read_file tool").unwrap();
        let w = text.find("the write_file tool").unwrap();
        assert!(g < r && r < w, "{kind:?}: tools sorted by name: {text}");
        assert!(!text.contains("\"k\""), "no key in the body");
    }
}
