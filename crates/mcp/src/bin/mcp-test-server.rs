//! A small MCP server built with `rmcp` for the tests: echo and add, a tool that
//! returns every kind of content, one that sleeps, one that writes a file, and one
//! that kills its own process in the middle of a call.
#![allow(missing_docs)]

use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{CallToolResult, ContentBlock, ImageContent};
use rmcp::{ServiceExt, schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

#[derive(Clone)]
struct TestServer;

#[derive(Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    text: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct AddArgs {
    a: i64,
    b: i64,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Sum {
    sum: i64,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct SleepArgs {
    secs: f64,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct WriteArgs {
    path: String,
    text: String,
}

#[tool_router(server_handler)]
impl TestServer {
    #[tool(description = "Echo the text back")]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        format!("echo: {text}")
    }

    #[tool(description = "Add two integers (structured result)")]
    fn add(&self, Parameters(AddArgs { a, b }): Parameters<AddArgs>) -> Json<Sum> {
        Json(Sum { sum: a + b })
    }

    #[tool(description = "A text block and a 1x1 PNG")]
    fn picture(&self) -> CallToolResult {
        CallToolResult::success(vec![
            ContentBlock::text("a picture:"),
            ContentBlock::Image(ImageContent::new(
                "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
                "image/png",
            )),
        ])
    }

    #[tool(description = "Sleep, then answer")]
    async fn sleep(&self, Parameters(SleepArgs { secs }): Parameters<SleepArgs>) -> String {
        tokio::time::sleep(std::time::Duration::from_secs_f64(secs)).await;
        "slept".into()
    }

    #[tool(description = "Write text to a file")]
    fn write(&self, Parameters(WriteArgs { path, text }): Parameters<WriteArgs>) -> String {
        match std::fs::write(&path, text) {
            Ok(()) => format!("wrote {path}"),
            Err(e) => format!("cannot write {path}: {e}"),
        }
    }

    #[tool(description = "Report this server's process id")]
    fn pid(&self) -> String {
        std::process::id().to_string()
    }

    #[tool(description = "Kill this server's own process in the middle of the call")]
    fn crash(&self) -> String {
        std::process::exit(7)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow_free::Result {
    let service = TestServer
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| e.to_string())?;
    service.waiting().await.map_err(|e| e.to_string())?;
    Ok(())
}

mod anyhow_free {
    pub type Result = std::result::Result<(), String>;
}
