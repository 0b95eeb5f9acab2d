//! Every example script parses, and the binary prints its base URL first and serves it.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use mock_llm::Script;

fn examples_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

#[test]
fn every_example_script_parses() {
    let mut checked = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            let script = Script::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                !script.responses.is_empty() || !script.conversations.is_empty(),
                "{}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "expected the documented example scripts, found {checked}"
    );
}

#[test]
fn missing_script_file_names_the_path() {
    let err = Script::from_file("/nonexistent/script.yaml").unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/script.yaml"),
        "{err}"
    );
}

/// Kills the child even when an assertion fails.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_prints_base_url_first_and_serves_the_script() {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_mock-llm"))
            .arg("--script")
            .arg(examples_dir().join("hello.yaml"))
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    // The first line arrives once the socket is bound; reading it blocks until then.
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let base = line.trim().to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with('/'),
        "{base:?}"
    );
    let text = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .json(&serde_json::json!({"model": "m", "stream": true, "messages": []}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("\"content\":\"Hello\""), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"));
}
