//! The machine interface (docs/json.md): every `--json` output of a real run and of
//! every listing validates against its schema in docs/schema/v1, and every property a
//! schema names is required there (keys are never missing).
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, Mock};
use serde_json::Value;

fn schema(name: &str) -> Value {
    let path = format!(
        "{}/../../docs/schema/v1/{name}.schema.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Every object schema requires every property it names.
fn assert_all_required(s: &Value, at: &str) {
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        let req: Vec<&str> = s["required"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (k, v) in props {
            assert!(
                req.contains(&k.as_str()),
                "{at}.{k} is named but not required"
            );
            assert_all_required(v, &format!("{at}.{k}"));
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = s.get(key) {
            assert_all_required(sub, &format!("{at}[]"));
        }
    }
}

fn validate(name: &str, instance: &Value) {
    let s = schema(name);
    assert_all_required(&s, name);
    let v = jsonschema::validator_for(&s).unwrap_or_else(|e| panic!("{name}: {e}"));
    let errors: Vec<String> = v.iter_errors(instance).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{name} does not match its schema: {errors:?}\n{instance:#}"
    );
}

const TOOL_THEN_TEXT: &str = r#"
responses:
  - output:
      - tool_call: read_file
        id: call_1
        arguments: {"path": "a.txt"}
  - when: {last_tool_result: read_file}
    output:
      - text: "It says alpha."
    usage: {input: 12, output: 3}
  - when: {last_user_contains: "again"}
    output:
      - text: "Again."
"#;

fn validate_run(out: &str, with_started: bool) -> Vec<Value> {
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 2, "{out}");
    let first_event = usize::from(with_started);
    if with_started {
        validate("run-started", &lines[0]);
    }
    validate("run-result", lines.last().unwrap());
    for l in &lines[first_event..lines.len() - 1] {
        validate("event", l);
    }
    lines
}

#[test]
fn run_events_and_every_listing_match_the_documented_schema() {
    let env = Env::new();
    // A one-shot Pod first: stopped afterwards, so listings show `pid: null`.
    std::fs::create_dir_all(env.project.join("sub")).unwrap();
    let mock2 = Mock::start("responses: [{output: [{text: 'done'}]}]");
    let out = env.ok(&[
        "run",
        "hi",
        "--name",
        "gone",
        "--model",
        "m",
        "--base-url",
        &mock2.url(),
        "--json",
        "--cwd",
        "sub",
        "--write",
        "sub",
    ]);
    validate_run(&out, true);

    let mock = Mock::start(TOOL_THEN_TEXT);
    let out = env.ok(&[
        "run",
        "read a",
        "--name",
        "kept",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--json",
        "--keep",
    ]);
    let lines = validate_run(&out, true);
    let result = lines.last().unwrap();
    assert_eq!(result["usage"]["input_tokens"], 12);
    assert_eq!(result["turns"], 1);
    assert_eq!(
        lines[0]["pid"].as_u64().map(|p| p as u32),
        Some(env.pid("kept"))
    );

    // `pod send --json`: the events of the run it started, then `result`.
    let out = env.run(&["send", "kept", "again", "--json"]);
    let lines = validate_run(&String::from_utf8(out.stdout).unwrap(), false);
    let result = lines.last().unwrap();
    assert_eq!(result["status"], "completed");
    assert_eq!(result["final_text"], "Again.");
    assert_eq!(result["exit_code"], out.status.code().unwrap());

    let ls: Value = serde_json::from_str(&env.ok(&["ls", "--json"])).unwrap();
    validate("ls", &ls);
    let status = |name: &str| {
        ls.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("gone"), "stopped");
    assert_eq!(status("kept"), "idle");
    for name in ["kept", "gone"] {
        let show: Value = serde_json::from_str(&env.ok(&["show", name, "--json"])).unwrap();
        validate("show", &show);
    }
    let reg: Value = serde_json::from_str(&env.ok(&["registry", "--json"])).unwrap();
    validate("registry", &reg);
    let config: Value = serde_json::from_str(&env.ok(&["config", "--json"])).unwrap();
    validate("config", &config);
    let doctor: Value = serde_json::from_str(&env.ok(&["doctor", "--json"])).unwrap();
    validate("doctor", &doctor);
    for line in env.ok(&["logs", "kept", "--json"]).lines() {
        validate("log-entry", &serde_json::from_str(line).unwrap());
    }
    env.ok(&["stop", "kept"]);
}
