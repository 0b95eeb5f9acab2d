//! MCP servers run by a Pod, end to end, with the reference servers from npm
//! (`@modelcontextprotocol/server-everything` and `server-filesystem`, installed by
//! `.ci/install-mcp-servers`): a scripted model calls their tools and the results
//! (images included) arrive; a server killed mid-call gives a tool error and is restarted; the
//! filesystem server cannot write outside the Pod's write scope and dies with a
//! SIGKILLed Pod; a restored Pod says which tools changed.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, Mock, wait_until};
use serde_json::Value;

// The reference servers' install-or-locate helper, shared with the `mcp` crate's tests.
#[path = "../../mcp/tests/common/mod.rs"]
mod mcp_common;
use mcp_common::reference_servers;

/// `(output, is_error)` of every tool result in the Pod's log.
fn tool_results(env: &Env, name: &str) -> Vec<(String, bool)> {
    env.log(name)
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .filter(|v| v["kind"] == "tool_result")
        .map(|v| {
            let r = &v["data"]["result"];
            (
                r["output"].as_str().unwrap().to_owned(),
                r["is_error"] == true,
            )
        })
        .collect()
}

fn mcp_list(env: &Env, name: &str) -> Value {
    serde_json::from_str(&env.ok(&["mcp", "list", name, "--json"])).unwrap()
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[test]
fn the_model_calls_server_everything_tools_and_gets_their_results() {
    let Some(bin) = reference_servers() else {
        return;
    };
    let env = Env::new();
    env.write_user_config(&format!(
        "[mcp_servers.every]\ncommand = \"{}\"\n",
        bin.join("mcp-server-everything").display()
    ));
    let mock = Mock::start(
        r#"
responses:
  - output:
      - tool_call: mcp__every__echo
        id: c1
        arguments: {"message": "hello from the model"}
      - tool_call: mcp__every__get-sum
        id: c2
        arguments: {"a": 20, "b": 22}
      - tool_call: mcp__every__get-tiny-image
        id: c3
        arguments: {}
  - output: [{text: "done"}]
"#,
    );
    let out = env.ok(&[
        "run",
        "go",
        "--name",
        "e",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--print",
    ]);
    assert!(out.contains("done"), "{out}");
    let reqs = mock.requests();
    let offered: Vec<&str> = reqs[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(offered.contains(&"mcp__every__echo"), "{offered:?}");
    assert!(offered.contains(&"read_file"), "{offered:?}");
    let results = tool_results(&env, "e");
    assert_eq!(results.len(), 3, "{results:?}");
    assert!(results.iter().all(|(_, err)| !err), "{results:?}");
    assert!(
        results
            .iter()
            .any(|(o, _)| o.contains("hello from the model"))
    );
    assert!(results.iter().any(|(o, _)| o.contains("42")));
    // The results reached the model.
    let second = reqs[1].body.to_string();
    assert!(second.contains("hello from the model") && second.contains("42"));
    // The server's image is shown to the model after the results, as a real PNG.
    assert!(
        second.contains("data:image/png;base64,iVBORw0KGgo"),
        "{second}"
    );
    // The start is in the log.
    let started = env
        .log("e")
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .any(|v| {
            v["data"]["domain"] == "pod.mcp"
                && v["data"]["payload"]["servers"][0]["state"] == "running"
        });
    assert!(started);
}

#[test]
fn a_server_killed_mid_call_is_a_tool_error_and_is_restarted_on_next_use() {
    let Some(bin) = reference_servers() else {
        return;
    };
    let env = Env::new();
    env.write_user_config(&format!(
        "[mcp_servers.every]\ncommand = \"{}\"\n",
        bin.join("mcp-server-everything").display()
    ));
    let mock = Mock::start(
        r#"
responses:
  - output:
      - tool_call: mcp__every__trigger-long-running-operation
        id: c1
        arguments: {"duration": 60, "steps": 2}
  - output:
      - tool_call: mcp__every__echo
        id: c2
        arguments: {"message": "after the restart"}
  - output: [{text: "done"}]
"#,
    );
    env.ok(&[
        "run",
        "go",
        "--name",
        "k",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--detach",
    ]);
    let listed = mcp_list(&env, "k");
    let first = listed["servers"][0]["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("{listed:#}"));
    wait_until("the long call to start", Duration::from_secs(20), || {
        env.log("k")
            .iter()
            .any(|e| serde_json::to_value(e).unwrap()["kind"] == "assistant_item")
    });
    common::signal(first as u32, rustix::process::Signal::KILL);
    wait_until("the run to end", Duration::from_secs(30), || {
        tool_results(&env, "k").len() == 2
    });
    let results = tool_results(&env, "k");
    assert!(results[0].1, "{results:?}");
    assert!(
        results[0].0.contains("stopped during the call"),
        "{results:?}"
    );
    assert_eq!(results[1], (results[1].0.clone(), false));
    assert!(results[1].0.contains("after the restart"), "{results:?}");
    let list = mcp_list(&env, "k");
    let s = &list["servers"][0];
    assert_eq!(
        (s["state"].as_str(), s["restarts"].as_u64()),
        (Some("running"), Some(1))
    );
    assert_ne!(s["pid"].as_u64(), Some(first));
    env.ok(&["stop", "k"]);
}

#[test]
fn the_filesystem_server_cannot_write_outside_the_pods_scope_and_dies_with_the_pod() {
    let Some(bin) = reference_servers() else {
        return;
    };
    let env = Env::new();
    let home = scope::canonicalize(env.home.path())
        .unwrap()
        .as_path()
        .to_path_buf();
    // The server itself would allow all of `area`; the Pod may only write `area/work`.
    let area = home.join("area");
    let work = area.join("work");
    std::fs::create_dir_all(&work).unwrap();
    env.write_user_config(&format!(
        "[mcp_servers.fs]\ncommand = \"{}\"\nargs = [\"{}\"]\n",
        bin.join("mcp-server-filesystem").display(),
        area.display()
    ));
    let outside = area.join("outside.txt");
    let inside = work.join("inside.txt");
    let mock = Mock::start(&format!(
        r#"
responses:
  - output:
      - tool_call: mcp__fs__write_file
        id: c1
        arguments: {{"path": "{}", "content": "escaped"}}
  - output:
      - tool_call: mcp__fs__write_file
        id: c2
        arguments: {{"path": "{}", "content": "inside"}}
  - output: [{{text: "done"}}]
"#,
        outside.display(),
        inside.display()
    ));
    let (work_s, area_s) = (common::path_str(&work), common::path_str(&area));
    env.ok(&[
        "run",
        "go",
        "--name",
        "f",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--detach",
        "--write",
        &work_s,
        "--read",
        &area_s,
    ]);
    wait_until("both calls", Duration::from_secs(30), || {
        tool_results(&env, "f").len() == 2
    });
    let results = tool_results(&env, "f");
    assert!(
        results[0].1,
        "the write outside was not refused: {results:?}"
    );
    // Refused by the sandbox (read-only mount or Landlock), not by the server's own
    // directory check: the server itself allows `area`.
    assert!(
        results[0].0.contains("EROFS") || results[0].0.contains("EACCES"),
        "{results:?}"
    );
    assert!(
        !outside.exists(),
        "the MCP server wrote outside the Pod's write scope"
    );
    assert!(!results[1].1, "{results:?}");
    assert_eq!(std::fs::read_to_string(&inside).unwrap(), "inside");
    let pid = mcp_list(&env, "f")["servers"][0]["pid"].as_u64().unwrap();
    assert!(alive(pid));
    common::signal(env.pid("f"), rustix::process::Signal::KILL);
    wait_until(
        "the server to die with its Pod",
        Duration::from_secs(10),
        || !alive(pid),
    );
}

#[test]
fn a_restored_pod_offers_its_recorded_tools_and_says_what_changed() {
    let Some(bin) = reference_servers() else {
        return;
    };
    let env = Env::new();
    // A server whose tools depend on a file: everything first, filesystem later.
    let script = env.project.join("srv.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ -e \"$(dirname \"$0\")/switch\" ]; then exec {b}/mcp-server-filesystem \"$(dirname \"$0\")\"; fi\nexec {b}/mcp-server-everything\n",
            b = bin.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    env.write_user_config(&format!(
        "[mcp_servers.s]\ncommand = \"./srv.sh\"\nread = [\"{}\"]\n",
        bin.parent().unwrap().display()
    ));
    let mock = Mock::start("responses: [{output: [{text: 'ok'}], times: 4}]");
    env.ok(&[
        "run",
        "go",
        "--name",
        "r",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--print",
    ]);
    std::fs::write(env.project.join("switch"), "").unwrap();
    env.ok(&["resume", "r", "again", "--print"]);
    let reqs = mock.requests();
    let names = |i: usize| -> Vec<String> {
        reqs[i].body["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(0),
        names(1),
        "a restored Pod must offer the tools it had"
    );
    let notice = env
        .log("r")
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .filter(|v| v["kind"] == "system_item")
        .map(|v| v["data"]["text"].as_str().unwrap().to_owned())
        .find(|t| t.contains("MCP server `s`"))
        .expect("a notice about the changed tools");
    assert!(
        notice.contains("no longer offers") && notice.contains("mcp__s__echo"),
        "{notice}"
    );
    assert!(
        notice.contains("now also offers") && notice.contains("mcp__s__read_text_file"),
        "{notice}"
    );
    assert!(reqs[1].body.to_string().contains("no longer offers"));
}
