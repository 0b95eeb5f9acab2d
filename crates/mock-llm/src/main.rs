//! `mock-llm --script FILE [--addr 127.0.0.1:0]`: serve a script until killed.
//!
//! The first line of stdout is the base URL, flushed, so a parent process can read it
//! and connect.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// Scripted LLM provider server (OpenAI Chat, Anthropic, OpenAI Responses, Gemini).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Script file (YAML, or JSON when the name ends in .json).
    #[arg(long)]
    script: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let script = mock_llm::Script::from_file(&args.script)?;
    let server = mock_llm::MockServer::start_on(args.addr, script).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", server.base_url()).context("writing the base URL to stdout")?;
    out.flush().context("flushing stdout")?;
    drop(out);
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    server.shutdown().await;
    Ok(())
}
