//! pods' own directories are never in scope (issues 17 and 19): a Pod whose write
//! scope covers the data, runtime and config roots still cannot read or change its
//! record, its logs, the registry or another Pod's socket — neither through the file
//! tools nor through the shell.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, Mock, path_str};
use session_store::EntryKind;

const TRY_OWN_STATE: &str = r#"
responses:
  - output:
      - tool_call: read_file
        id: call_read
        arguments: {"path": "data/pods/own/metadata.json"}
      - tool_call: write_file
        id: call_write
        arguments: {"path": "config/config.toml", "content": "[defaults]\nwrite = [\"/\"]\n"}
      - tool_call: bash
        id: call_bash
        arguments: {"command": "cat data/pods/own/metadata.json; ls run/own; echo '{}' > data/pods/own/metadata.json; echo poisoned > config/config.toml; echo shell-done"}
  - when: {last_tool_result: bash}
    output: [{text: "tried"}]
"#;

#[test]
fn a_pod_cannot_reach_its_record_logs_sockets_or_config_through_any_tool() {
    let env = Env::new();
    let mock = Mock::start(TRY_OWN_STATE);
    std::fs::create_dir_all(env.home.path().join("config")).unwrap();
    let home = path_str(env.home.path());
    let out = env.ok(&[
        "run",
        "look",
        "--name",
        "own",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--cwd",
        &home,
        "--write",
        &home,
        "--print",
    ]);
    assert_eq!(out.trim(), "tried");
    let results: Vec<transcript::ToolResult> = env
        .log("own")
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::ToolResult { result } => Some(result.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 3, "{results:?}");
    assert!(
        results[0].is_error,
        "read_file of the record: {:?}",
        results[0]
    );
    assert!(
        results[1].is_error,
        "write_file of the config: {:?}",
        results[1]
    );
    let shell = &results[2].output;
    assert!(shell.contains("shell-done"), "{shell}");
    assert!(
        !shell.contains("\"manifest\""),
        "the shell read the record: {shell}"
    );
    assert!(
        !shell.contains("sock"),
        "the shell listed the runtime dir: {shell}"
    );
    assert!(!env.home.path().join("config/config.toml").exists());
    // The record is intact: the Pod resumes from it.
    let rec = std::fs::read_to_string(env.roots.pods.join("own/metadata.json")).unwrap();
    assert!(rec.contains("\"manifest\""), "{rec}");
    env.ok(&["show", "own"]);
}
