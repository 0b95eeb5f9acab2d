//! Context that never runs out, end to end against mock-llm: pruning and
//! compaction before the threshold over 200 turns, compact-and-retry-once on a
//! context-length error, `pod compact`, the plan surviving compaction, and SIGKILL
//! during compaction (before and after the commit point).
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Env, Mock, wait_until};
use pod_ids::PodName;
use serde_json::Value;
use session_store::{EntryKind, SessionStore};

const MARKER: &str = pod::compaction::COMPACTION_MARKER;

fn configure_window(env: &Env, window: u64) {
    env.write_user_config(&format!(
        "[models.m]\nprovider = \"openai\"\ncontext_window = {window}\n"
    ));
}

fn active_segment(env: &Env, name: &str) -> pod_ids::SegmentId {
    pod::record::RecordStore::new(env.roots.pods.clone())
        .load(&PodName::new(name).unwrap())
        .unwrap()
        .unwrap()
        .active_segment()
        .unwrap()
        .1
}

fn start_of(env: &Env, seg: pod_ids::SegmentId) -> session_store::SegmentStart {
    let read = SessionStore::new(env.roots.sessions.clone())
        .read_segment(seg)
        .unwrap();
    match read.entries.into_iter().next().unwrap().kind {
        EntryKind::SegmentStart(s) => *s,
        other => panic!("{other:?}"),
    }
}

fn is_summary_request(body: &Value) -> bool {
    body.to_string().contains(MARKER)
}

#[test]
fn two_hundred_turns_in_a_4k_window_prune_and_compact_and_never_fail() {
    let env = Env::new();
    configure_window(&env, 4000);
    let filler = "x".repeat(600);
    let mock = Mock::start(&format!(
        r#"
responses:
  - when: {{last_user_contains: '{MARKER}'}}
    output: [{{text: 'SUMMARY: the user sends numbered turns; answer each.'}}]
    times: 1000
  - when: {{last_user_contains: 'turn 3:'}}
    output:
      - tool_call: read_file
        id: r1
        arguments: {{"path": "big.txt"}}
  - output: [{{text: 'answer {filler}'}}]
    times: 1000
"#
    ));
    std::fs::write(
        env.project.join("big.txt"),
        format!("{}\n", "b".repeat(60)).repeat(150),
    )
    .unwrap();
    env.ok(&[
        "run",
        "--name",
        "c",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--tools",
        "read_file",
        "--detach",
    ]);
    let first_segment = active_segment(&env, "c");
    let started = Instant::now();
    for i in 0..200 {
        let out = env.ok(&["send", "c", &format!("turn {i}: {filler}"), "--wait"]);
        assert!(out.contains("answer"), "turn {i}: {out}");
    }
    let took = started.elapsed();
    let reqs = mock.requests();
    eprintln!(
        "first request: system {} bytes, tools {} bytes",
        reqs[0].body["messages"][0].to_string().len(),
        reqs[0].body["tools"].to_string().len()
    );
    let summaries = reqs.iter().filter(|r| is_summary_request(&r.body)).count();
    assert!(summaries >= 5, "compacted {summaries} times");
    // Every model request stayed under the window; the one after each compaction
    // carries the summary and is under the threshold.
    let limit_bytes = 4000 * 4;
    for (i, r) in reqs.iter().enumerate() {
        if is_summary_request(&r.body) {
            continue;
        }
        let len = r.body["messages"].to_string().len() + r.body["tools"].to_string().len();
        assert!(len < limit_bytes, "request {i} is {len} bytes");
    }
    let after_first = reqs
        .iter()
        .skip_while(|r| !is_summary_request(&r.body))
        .find(|r| !is_summary_request(&r.body))
        .unwrap();
    assert!(
        after_first
            .body
            .to_string()
            .contains("SUMMARY: the user sends")
    );
    assert!(after_first.body.to_string().len() < 3200 * 4);
    // The Pod now runs in a compacted segment whose lineage leads back.
    let seg = active_segment(&env, "c");
    assert_ne!(seg, first_segment);
    let start = start_of(&env, seg);
    assert!(start.compacted_from.is_some());
    // The first segment was pruned before it was compacted (the big tool output).
    let first = SessionStore::new(env.roots.sessions.clone())
        .read_segment(first_segment)
        .unwrap();
    assert!(first.entries.iter().any(|e| matches!(
        &e.kind,
        EntryKind::Extension { domain, payload } if domain == "pod.context" && payload["event"] == "pruned"
    )));
    eprintln!("200 turns with {summaries} compactions took {took:?}");
    env.ok(&["stop", "c"]);
}

#[test]
fn a_context_length_error_compacts_once_and_retries_once() {
    let env = Env::new();
    let mock = Mock::start(&format!(
        r#"
responses:
  - when: {{last_user_contains: '{MARKER}'}}
    output: [{{text: 'SUMMARY-1'}}]
    times: 10
  - when: {{last_user_contains: 'first'}}
    status: 400
    message: "This model's maximum context length is 8192 tokens"
  - when: {{last_user_contains: 'SUMMARY-1'}}
    output: [{{text: 'answered after compaction'}}]
  - status: 400
    message: "context_length_exceeded"
    times: 2
"#
    ));
    let out = env.ok(&[
        "run",
        "first",
        "--name",
        "t",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--print",
    ]);
    assert_eq!(out.trim(), "answered after compaction");
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 3, "rejected, summary, retried");
    assert!(is_summary_request(&reqs[1].body));
    assert!(reqs[2].body.to_string().contains("SUMMARY-1"));
    let seg = active_segment(&env, "t");
    assert!(start_of(&env, seg).compacted_from.is_some());

    // Rejected again after the retry: the run fails, with exactly one more
    // compaction (not a loop).
    let n = mock.requests().len();
    let err = env.fails(&["resume", "t", "second", "--print"]);
    assert!(err.contains("context"), "{err}");
    let later = &mock.requests()[n..];
    assert_eq!(later.len(), 3, "rejected, summary, rejected");
    assert_eq!(
        later.iter().filter(|r| is_summary_request(&r.body)).count(),
        1
    );
}

#[test]
fn pod_compact_keeps_the_plan_and_sigkill_mid_compaction_loses_nothing() {
    let env = Env::new();
    let mock = Mock::start(&format!(
        r#"
responses:
  - when: {{last_user_contains: '{MARKER}'}}
    output: [{{text: 'SUMMARY-X'}}]
    times: 10
  - when: {{last_user_contains: 'plan'}}
    output:
      - tool_call: update_plan
        id: p1
        arguments: {{"steps": [{{"text": "step one", "status": "in_progress"}}]}}
  - output: [{{text: 'ok'}}]
    usage: {{input: 100, output: 10}}
    times: 20
"#
    ));
    let sessions = SessionStore::new(env.roots.sessions.clone());
    let run = |crash: Option<&str>| {
        let mut c = env.pod();
        c.args(["resume", "k", "--detach"]);
        if let Some(at) = crash {
            c.env("POD_TEST_CRASH_MID_COMPACTION", at);
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    env.ok(&[
        "run",
        "plan",
        "--name",
        "k",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--print",
        "--keep",
    ]);
    env.ok(&["stop", "k"]);

    // Killed before the commit point: the old segment stays active and whole.
    run(Some("before_commit"));
    let old = active_segment(&env, "k");
    let before = std::fs::read(sessions.segment_path(old).unwrap()).unwrap();
    let _ = env.run(&["compact", "k"]);
    wait_until("the Pod died", Duration::from_secs(10), || {
        !env.is_live("k")
    });
    assert_eq!(active_segment(&env, "k"), old);
    let after = std::fs::read(sessions.segment_path(old).unwrap()).unwrap();
    assert_eq!(before, after, "the old segment is unchanged");
    run(None);
    assert_eq!(
        active_segment(&env, "k"),
        old,
        "restored from the old segment"
    );
    env.ok(&["stop", "k"]);

    // Killed after the commit point: the finished new segment is active.
    run(Some("after_commit"));
    let entries_before = sessions.read_segment(old).unwrap().entries.len();
    let _ = env.run(&["compact", "k"]);
    wait_until("the Pod died", Duration::from_secs(10), || {
        !env.is_live("k")
    });
    let new = active_segment(&env, "k");
    assert_ne!(new, old);
    let start = start_of(&env, new);
    assert_eq!(start.compacted_from.map(|l| l.segment_id), Some(old));
    assert!(
        serde_json::to_string(&start.history)
            .unwrap()
            .contains("SUMMARY-X")
    );
    assert_eq!(
        sessions.read_segment(old).unwrap().entries.len(),
        entries_before
    );
    run(None);
    let show: Value = serde_json::from_str(&env.ok(&["show", "k", "--json"])).unwrap();
    assert_eq!(show["plan"]["steps"][0]["text"], "step one", "{show}");
    assert_eq!(show["segment_id"], new.to_string());

    // On demand, live: a new segment again, and the next request carries it; turn
    // numbers and usage totals carry on across it.
    let shown = |k: &str| -> Value {
        let v: Value = serde_json::from_str(&env.ok(&["show", "k", "--json"])).unwrap();
        v[k].clone()
    };
    let (turns, input) = (shown("turns"), shown("usage")["input_tokens"].clone());
    assert!(input.as_u64().unwrap() >= 100, "{input}");
    let out = env.ok(&["compact", "k"]);
    assert!(out.contains("compacted"), "{out}");
    let third = active_segment(&env, "k");
    assert_ne!(third, new);
    assert_eq!(shown("turns"), turns);
    assert_eq!(shown("usage")["input_tokens"], input);
    let out = env.ok(&["send", "k", "continue", "--wait"]);
    assert_eq!(out.trim(), "ok");
    let last = mock.requests().last().unwrap().body.to_string();
    assert!(last.contains("SUMMARY-X") && !last.contains(MARKER));
    let show: Value = serde_json::from_str(&env.ok(&["show", "k", "--json"])).unwrap();
    assert_eq!(show["plan"]["steps"][0]["text"], "step one");
    env.ok(&["stop", "k"]);
}

#[test]
fn sigkill_right_after_a_mid_run_compaction_restores_paused() {
    let env = Env::new();
    configure_window(&env, 4000);
    let filler = "y".repeat(3000);
    let mock = Mock::start(&format!(
        r#"
responses:
  - when: {{last_user_contains: '{MARKER}'}}
    output: [{{text: 'SUMMARY-M'}}]
    times: 10
  - output: [{{text: 'ok {filler}'}}]
    times: 10
"#
    ));
    env.ok(&[
        "run",
        "--name",
        "m1",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--tools",
        "read_file",
        "--detach",
    ]);
    env.ok(&["send", "m1", "first", "--wait"]);
    let old = active_segment(&env, "m1");
    env.ok(&["stop", "m1"]);
    let out = env
        .pod()
        .args(["resume", "m1", "--detach"])
        .env("POD_TEST_CRASH_MID_COMPACTION", "after_commit")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // The second message passes the threshold: compaction inside the run, then the
    // Pod dies right after the commit point.
    let _ = env.run(&["send", "m1", &format!("second {filler} {filler}"), "--wait"]);
    wait_until("the Pod died", Duration::from_secs(10), || {
        !env.is_live("m1")
    });
    let new = active_segment(&env, "m1");
    assert_ne!(new, old);
    env.ok(&["resume", "m1", "--detach"]);
    let show: Value = serde_json::from_str(&env.ok(&["show", "m1", "--json"])).unwrap();
    assert_eq!(show["status"], "paused", "{show}");
    assert!(env.log("m1").iter().any(
        |e| matches!(&e.kind, EntryKind::RunErrored { error } if error.contains("interrupted"))
    ));
    env.ok(&["stop", "m1"]);
}
