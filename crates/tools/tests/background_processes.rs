//! The `background` tool: start, list, log, stop round-trip; everything a
//! background process started dies when it is stopped, when the Pod's tool
//! context goes, and before a delegation its scope covers.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use scope::{Access, Scope};
use serde_json::json;

async fn bg(ctx: &tools::ToolContext, args: serde_json::Value) -> String {
    call(ctx, "background", args).await.unwrap().text
}

#[tokio::test]
async fn start_list_log_stop_round_trip() {
    let t = Tree::new();
    let w = t.mkdir("w");
    let (_tx, ctx) = ctx(Scope::allowing(vec![rule(&w, Access::Write)]), &w);
    let tag = format!("5{}", std::process::id());
    let cmd = format!(
        "setsid sleep {tag}.1 & for i in $(seq 1 1000); do echo line-$i; done; sleep {tag}.2"
    );
    let out = bg(&ctx, json!({"action": "start", "command": cmd})).await;
    assert!(out.starts_with("started background process 1"), "{out}");
    let markers = [format!("{tag}.1"), format!("{tag}.2")];
    let mut pids = Vec::new();
    poll_until(
        "the loop to finish and both sleeps to run",
        Duration::from_secs(10),
        || {
            pids = markers.iter().flat_map(|m| pids_with_arg(m)).collect();
            pids.len() == 2
        },
    )
    .await;

    let list = bg(&ctx, json!({"action": "list"})).await;
    assert!(list.starts_with("1\trunning\t"), "{list}");
    assert!(list.contains(&format!("sleep {tag}.2")), "{list}");

    // The newest bytes by default; then by offset, as often as asked. (The pipe
    // may still hold the last line when the sleep has started.)
    let mut tail = String::new();
    for _ in 0..100 {
        tail = bg(&ctx, json!({"action": "log", "id": 1, "max_bytes": 10})).await;
        if tail.starts_with("line-1000\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await; // polling, not synchronising
    }
    assert!(
        tail.starts_with("line-1000\n[bytes 8883..8893 of 8893"),
        "{tail}"
    );
    let head = bg(
        &ctx,
        json!({"action": "log", "id": 1, "since": 0, "max_bytes": 14}),
    )
    .await;
    assert!(
        head.starts_with("line-1\nline-2\n[bytes 0..14 of "),
        "{head}"
    );
    assert!(head.contains("next: 14; running]"), "{head}");
    let again = bg(
        &ctx,
        json!({"action": "log", "id": 1, "since": 7, "max_bytes": 7}),
    )
    .await;
    assert!(again.starts_with("line-2\n[bytes 7..14 "), "{again}");

    let stopped = bg(&ctx, json!({"action": "stop", "id": 1})).await;
    assert!(stopped.starts_with("stopped 1 ("), "{stopped}");
    assert!(stopped.contains("line-1000"), "{stopped}");
    poll_until(
        "the process and what it started to be gone",
        Duration::from_secs(1),
        || pids.iter().all(|p| !alive(*p)),
    )
    .await;
    let list = bg(&ctx, json!({"action": "list"})).await;
    assert!(list.starts_with("1\texited"), "{list}");

    let err = call(&ctx, "background", json!({"action": "log", "id": 9}))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no background process 9"), "{err}");
}

#[tokio::test]
async fn an_immediate_failure_is_reported_by_start() {
    let t = Tree::new();
    let w = t.mkdir("w");
    let (_tx, ctx) = ctx(Scope::allowing(vec![rule(&w, Access::Write)]), &w);
    let out = bg(
        &ctx,
        json!({"action": "start", "command": "echo no such server >&2; exit 3"}),
    )
    .await;
    assert!(
        out.contains("ended at once: exited [exit code: 3]"),
        "{out}"
    );
    assert!(out.contains("no such server"), "{out}");
}

#[tokio::test]
async fn background_processes_die_with_the_context_and_before_a_covering_delegation() {
    let t = Tree::new();
    let w = t.mkdir("w");
    let sub = t.mkdir("w/sub");
    let other = t.mkdir("other");
    let tag = format!("4{}", std::process::id());
    let (_tx, ctx) = ctx(
        Scope::allowing(vec![rule(&w, Access::Write), rule(&other, Access::Write)]),
        &w,
    );
    let (_tx2, narrow) = common::ctx(Scope::allowing(vec![rule(&other, Access::Write)]), &other);
    let narrow = tools::ToolContext {
        background: ctx.background.clone(),
        ..narrow
    };
    bg(
        &ctx,
        json!({"action": "start", "command": format!("setsid sleep {tag}.1; sleep 1")}),
    )
    .await;
    bg(
        &narrow,
        json!({"action": "start", "command": format!("sleep {tag}.2")}),
    )
    .await;
    let mut pids = Vec::new();
    poll_until("both to run", Duration::from_secs(10), || {
        pids = [1, 2]
            .iter()
            .flat_map(|i| pids_with_arg(&format!("{tag}.{i}")))
            .collect();
        pids.len() == 2
    })
    .await;
    // Delegating w/sub: the one whose scope covers it is stopped, the other not.
    let stopped = ctx
        .background
        .stop_covering(&rule(&sub, Access::Write))
        .await;
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    assert!(stopped[0].starts_with("1 (setsid sleep"), "{stopped:?}");
    poll_until(
        "the covering one to be gone",
        Duration::from_secs(1),
        || !alive(pids[0]),
    )
    .await;
    assert!(alive(pids[1]));
    // The Pod's tool context goes: the rest goes with it.
    drop(ctx);
    drop(narrow);
    poll_until("the other to be gone", Duration::from_secs(1), || {
        !alive(pids[1])
    })
    .await;
}

#[tokio::test]
async fn a_bash_call_in_flight_is_ended_by_a_covering_delegation() {
    let t = Tree::new();
    let w = t.mkdir("w");
    let sub = t.mkdir("w/sub");
    let (_tx, ctx) = ctx(Scope::allowing(vec![rule(&w, Access::Write)]), &w);
    let tag = format!("3{}", std::process::id());
    let jobs = ctx.background.clone();
    let cmd = format!("setsid sleep {tag}.1 & sleep {tag}.2");
    let task = tokio::spawn(async move { call(&ctx, "bash", json!({"command": cmd})).await });
    let mut pids = Vec::new();
    poll_until(
        "the call's processes to run",
        Duration::from_secs(10),
        || {
            pids = [1, 2]
                .iter()
                .flat_map(|i| pids_with_arg(&format!("{tag}.{i}")))
                .collect();
            pids.len() == 2
        },
    )
    .await;
    let stopped = jobs.stop_covering(&rule(&sub, Access::Write)).await;
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    assert!(
        stopped[0].starts_with("a bash call in flight (pid "),
        "{stopped:?}"
    );
    let out = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        out.text.contains("[killed: a child Pod was given a region"),
        "{}",
        out.text
    );
    poll_until(
        "the call's processes to be gone",
        Duration::from_secs(1),
        || pids.iter().all(|p| !alive(*p)),
    )
    .await;
}

#[tokio::test]
async fn a_halt_kills_every_call_and_process_and_any_started_until_resumed() {
    let t = Tree::new();
    let w = t.mkdir("w");
    let (_tx, ctx) = ctx(Scope::allowing(vec![rule(&w, Access::Write)]), &w);
    let tag = format!("2{}", std::process::id());
    bg(
        &ctx,
        json!({"action": "start", "command": format!("sleep {tag}.1")}),
    )
    .await;
    let c = ctx.clone();
    let cmd = format!("sleep {tag}.2");
    let task = tokio::spawn(async move { call(&c, "bash", json!({"command": cmd})).await });
    let mut pids = Vec::new();
    poll_until("both to run", Duration::from_secs(10), || {
        pids = [1, 2]
            .iter()
            .flat_map(|i| pids_with_arg(&format!("{tag}.{i}")))
            .collect();
        pids.len() == 2
    })
    .await;
    let killed = ctx.background.halt("the lease lapsed");
    assert_eq!(killed.len(), 2, "{killed:?}");
    let out = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        out.text.contains("[killed: the lease lapsed]"),
        "{}",
        out.text
    );
    poll_until("both to be gone", Duration::from_secs(1), || {
        pids.iter().all(|p| !alive(*p))
    })
    .await;
    // Halted: a call that starts now is killed before it can do anything.
    let out = call(&ctx, "bash", json!({"command": "echo ran > f"}))
        .await
        .unwrap();
    assert!(
        out.text.contains("[killed: the lease lapsed]"),
        "{}",
        out.text
    );
    assert!(!w.join("f").exists());
    ctx.background.resume();
    let out = call(&ctx, "bash", json!({"command": "echo ran > f"}))
        .await
        .unwrap();
    assert!(!out.text.contains("killed"), "{}", out.text);
    assert!(w.join("f").exists());
}
