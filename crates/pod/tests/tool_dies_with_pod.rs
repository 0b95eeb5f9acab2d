//! A `bash` command does not outlive a Pod killed with SIGKILL: the tools crate sets
//! PR_SET_PDEATHSIG on it, so the kernel kills it when the Pod process dies.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, Mock, wait_until};

#[test]
fn bash_command_dies_with_a_sigkilled_pod() {
    let env = Env::new();
    let pidfile = env.project.join("cmd.pid");
    let script = format!(
        r#"
responses:
  - output:
      - tool_call: bash
        id: c1
        arguments: {{"command": "echo $$ > {p}.tmp && mv {p}.tmp {p}; exec sleep 60"}}
"#,
        p = pidfile.display()
    );
    let mock = Mock::start(&script);
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
    wait_until("the command's pid", Duration::from_secs(10), || {
        pidfile.exists()
    });
    let cmd: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let alive = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    };
    assert!(alive(cmd));
    common::signal(env.pid("k"), rustix::process::Signal::KILL);
    wait_until(
        "the command to die with its Pod",
        Duration::from_secs(10),
        || !alive(cmd),
    );
}
