//! The client against independently written servers: the reference
//! `@modelcontextprotocol/server-everything` from npm, over stdio (confined) and
//! over streamable HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mcp::{Hub, ServerConfig};
use scope::{Access, Scope, ScopeRule};
use tools::ToolContext;

fn ctx(dir: &std::path::Path) -> ToolContext {
    let dir = scope::canonicalize(dir).unwrap().as_path().to_path_buf();
    let (tx, rx) = tokio::sync::watch::channel(Scope::allowing(vec![
        ScopeRule::new(&dir, Access::Write, true).unwrap(),
    ]));
    std::mem::forget(tx);
    ToolContext::new(rx, dir)
}

async fn exercise(hub: &Hub, server: &str) {
    let started = hub.start_all().await;
    assert!(started[0].outcome.is_ok(), "{:?}", started[0].outcome);
    let names: Vec<String> = hub.specs().into_iter().map(|s| s.name).collect();
    for t in ["echo", "get-sum", "get-tiny-image"] {
        assert!(names.contains(&format!("mcp__{server}__{t}")), "{names:?}");
    }
    let echo = hub
        .call(&format!("mcp__{server}__echo"), r#"{"message":"hello"}"#)
        .await
        .unwrap();
    assert!(!echo.is_error);
    assert!(echo.text.contains("hello"), "{}", echo.text);
    let sum = hub
        .call(&format!("mcp__{server}__get-sum"), r#"{"a":2,"b":3}"#)
        .await
        .unwrap()
        .text;
    assert!(sum.contains('5'), "{sum}");
    let img = hub
        .call(&format!("mcp__{server}__get-tiny-image"), "{}")
        .await
        .unwrap();
    assert!(img.text.contains("[image 1: image/png"), "{}", img.text);
    assert_eq!(img.images.len(), 1);
    assert_eq!(img.images[0].media_type, "image/png");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_over_stdio() {
    let Some(bin) = common::reference_servers() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        command: Some(bin.join("mcp-server-everything").display().to_string()),
        enabled: true,
        ..Default::default()
    };
    let hub = Hub::new(
        &BTreeMap::from([("every".to_owned(), config)]),
        &ctx(dir.path()),
    );
    exercise(&hub, "every").await;
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_over_streamable_http() {
    let Some(bin) = common::reference_servers() else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new(bin.join("mcp-server-everything"))
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the HTTP server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        url: Some(format!("http://127.0.0.1:{port}/mcp")),
        enabled: true,
        ..Default::default()
    };
    let hub = Hub::new(
        &BTreeMap::from([("web".to_owned(), config)]),
        &ctx(dir.path()),
    );
    exercise(&hub, "web").await;
    hub.shutdown().await;
    server.kill().unwrap();
    server.wait().unwrap();
}
