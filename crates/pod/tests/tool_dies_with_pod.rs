//! Nothing a Pod's tools start outlives the tool call or the Pod: each `bash` call
//! (and each background process) runs in its own PID namespace whose init dies
//! with the call and, through PR_SET_PDEATHSIG, with a Pod killed by SIGKILL.
//! Processes are found and checked by pid from outside (inside the namespace `$$`
//! means something else).
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, Mock, wait_until};

/// Pids of live processes with `arg` among their arguments.
fn pids_with_arg(arg: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            (cmdline.split(|b| *b == 0).any(|a| a == arg.as_bytes()) && alive(pid)).then_some(pid)
        })
        .collect()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// One process per way of leaving the command's process group, each a `sleep`
/// with its own marker argument.
fn escapers(tag: &str) -> (String, Vec<String>) {
    (
        format!(
            "setsid sleep {tag}.1 & nohup sleep {tag}.2 >/dev/null 2>&1 & \
             (setsid bash -c 'sleep {tag}.3 & exit' &) ; sleep {tag}.4 & disown; "
        ),
        (1..=4).map(|i| format!("{tag}.{i}")).collect(),
    )
}

/// Waits until every marker names one live process; returns their pids.
fn started(markers: &[String]) -> Vec<i32> {
    let mut pids = Vec::new();
    wait_until("the processes to start", Duration::from_secs(15), || {
        pids = markers.iter().flat_map(|m| pids_with_arg(m)).collect();
        pids.len() == markers.len()
    });
    pids
}

fn bash_call(id: &str, command: &str) -> String {
    format!(
        "      - tool_call: bash\n        id: {id}\n        arguments: {}\n",
        serde_json::json!({ "command": command })
    )
}

fn run_detached(env: &Env, mock: &Mock, name: &str) {
    env.ok(&[
        "run",
        "go",
        "--name",
        name,
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--detach",
    ]);
}

#[test]
fn processes_that_left_the_group_die_when_their_call_ends() {
    let env = Env::new();
    let tag = format!("7{}", std::process::id());
    let (launch, markers) = escapers(&tag);
    let go = env.project.join("go");
    let command = format!(
        "{launch} while [ ! -e {} ]; do sleep 0.02; done; echo launched",
        go.display()
    );
    let script = format!(
        "responses:\n  - output:\n{}  - output:\n      - text: done\n",
        bash_call("c1", &command)
    );
    let mock = Mock::start(&script);
    run_detached(&env, &mock, "calls");
    let pids = started(&markers);
    std::fs::write(&go, "").unwrap();
    // The second request carries the call's result: the call has ended.
    wait_until("the call to end", Duration::from_secs(15), || {
        mock.requests().len() >= 2
    });
    let last = serde_json::to_string(&mock.requests()[1].body).unwrap();
    assert!(last.contains("launched"), "{last}");
    wait_until(
        "every process of the call to be gone",
        Duration::from_secs(1),
        || pids.iter().all(|p| !alive(*p)),
    );
}

#[test]
fn processes_of_a_running_call_and_background_ones_die_with_a_sigkilled_pod() {
    let env = Env::new();
    let tag = format!("6{}", std::process::id());
    let (launch, markers) = escapers(&tag);
    let command = format!("{launch} exec sleep {tag}.5");
    let background = serde_json::json!({
        "action": "start",
        "command": format!("setsid sleep {tag}.6 & sleep {tag}.7"),
    });
    let script = format!(
        "responses:\n  - output:\n      - tool_call: background\n        id: b1\n        arguments: {background}\n  - output:\n{}",
        bash_call("c1", &command)
    );
    let mock = Mock::start(&script);
    run_detached(&env, &mock, "k");
    let mut all = markers.clone();
    all.extend([5, 6, 7].map(|i| format!("{tag}.{i}")));
    let pids = started(&all);
    common::signal(env.pid("k"), rustix::process::Signal::KILL);
    wait_until(
        "every process the Pod's tools started to die with it",
        Duration::from_secs(1),
        || pids.iter().all(|p| !alive(*p)),
    );
}
