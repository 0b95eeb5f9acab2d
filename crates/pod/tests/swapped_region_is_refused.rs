//! Delegation pins identity, not names: a child's region swapped for a symlink
//! (by a process outside every Pod, here the test) refuses the child's next shell
//! call with an error naming the path, and nothing is written where the symlink
//! points. The child's write root is opened without following symlinks and
//! checked against the (device, inode) recorded at delegation.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, Mock, start_lead, tool_results, wait_until};

#[test]
fn a_region_swapped_for_a_symlink_refuses_the_childs_next_call() {
    let env = Env::new();
    let sub = env.project.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let outside = env.home.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let second = serde_json::json!({ "command": format!("echo two > {}/f2", sub.display()) });
    let script = format!(
        r#"
responses:
  - when: {{model: lead}}
    output:
      - tool_call: spawn_pod
        id: s1
        arguments: {{"name": "c", "task": "write", "write": ["sub"], "model": "mc"}}
  - when: {{model: lead, last_tool_result: spawn_pod}}
    output:
      - text: "spawned"
  - when: {{model: lead}}
    times: 5
    output:
      - text: "noted"
  - when: {{model: mc}}
    output:
      - tool_call: bash
        id: c1
        arguments: {{"command": "echo one > f; while [ ! -e go ]; do sleep 0.02; done"}}
  - when: {{model: mc, last_tool_result: bash}}
    output:
      - tool_call: bash
        id: c2
        arguments: {second}
  - when: {{model: mc, last_tool_result: bash}}
    output:
      - text: "done"
"#
    );
    let mock = Mock::start(&script);
    start_lead(&env, &mock, None);
    wait_until("the child's first write", Duration::from_secs(20), || {
        sub.join("f").exists()
    });
    // The swap, by a process outside every Pod: the region's directory moves
    // away and a symlink to a place outside every scope takes its name.
    let moved = env.project.join("sub.moved");
    std::fs::rename(&sub, &moved).unwrap();
    std::os::unix::fs::symlink(&outside, &sub).unwrap();
    std::fs::write(moved.join("go"), "").unwrap();
    wait_until("the child's second call", Duration::from_secs(20), || {
        tool_results(&env, "c").iter().any(|r| r.call_id == "c2")
    });
    let c2 = tool_results(&env, "c")
        .into_iter()
        .find(|r| r.call_id == "c2")
        .unwrap();
    assert!(c2.is_error, "{c2:?}");
    assert!(
        c2.output.contains(&format!(
            "{} is (or lies under) a symlink now",
            sub.display()
        )),
        "{}",
        c2.output
    );
    assert!(
        !outside.join("f2").exists(),
        "written through the swapped symlink"
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}
