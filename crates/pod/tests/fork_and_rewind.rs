//! `pod fork` and `pod rewind` make new segments and never touch the old one (byte
//! for byte), against mock-llm: what the forked or rewound Pod sends next holds the
//! history up to the cut and nothing after it.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, Mock};
use pod_ids::PodName;
use session_store::{EntryKind, SessionStore};

fn record(env: &Env, name: &str) -> pod::record::PodRecord {
    pod::record::RecordStore::new(env.roots.pods.clone())
        .load(&PodName::new(name).unwrap())
        .unwrap()
        .unwrap()
}

fn seq_of_user(env: &Env, name: &str, text: &str) -> u64 {
    env.log(name)
        .iter()
        .find(|e| matches!(&e.kind, EntryKind::UserInput { text: t } if t == text))
        .map(|e| e.seq)
        .unwrap()
}

#[test]
fn fork_and_rewind_continue_in_new_segments_and_leave_the_old_one_unchanged() {
    let env = Env::new();
    let mock = Mock::start(
        r#"
responses:
  - when: {last_user_contains: 'one'}
    output: [{text: 'r-one'}]
  - when: {last_user_contains: 'two'}
    output: [{text: 'r-two'}]
  - when: {last_user_contains: 'three'}
    output: [{text: 'r-three'}]
  - output: [{text: 'ok'}]
    times: 10
"#,
    );
    env.ok(&[
        "run",
        "one",
        "--name",
        "orig",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--print",
        "--keep",
    ]);
    env.ok(&["send", "orig", "two", "--wait"]);
    env.ok(&["send", "orig", "three", "--wait"]);
    let sessions = SessionStore::new(env.roots.sessions.clone());
    let (orig_session, orig_seg) = record(&env, "orig").active_segment().unwrap();
    let two = seq_of_user(&env, "orig", "two");
    let three = seq_of_user(&env, "orig", "three");

    // Rewinding a live Pod is refused; so is a seq that is not a user message.
    let err = env.fails_with(2, &["rewind", "orig", "--to", &three.to_string()]);
    assert!(err.contains("stop it first"), "{err}");
    env.ok(&["stop", "orig"]);
    let path = sessions.segment_path(orig_seg).unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = env.fails_with(2, &["rewind", "orig", "--to", "0"]);
    assert!(err.contains("not a user message"), "{err}");

    // Fork at "two": the new Pod has "one" and its answer, nothing after.
    let out = env.ok(&["fork", "orig", "--as", "alt", "--at", &two.to_string()]);
    assert!(out.contains("read-only"), "{out}");
    let n = mock.requests().len();
    assert_eq!(env.ok(&["send", "alt", "four", "--wait"]).trim(), "ok");
    let sent = mock.requests()[n].body.to_string();
    assert!(sent.contains("r-one") && !sent.contains("r-two"), "{sent}");
    assert!(
        sent.contains("You are \\\"alt\\\""),
        "the fork's own prompt"
    );
    assert!(sent.contains("may not write anywhere"), "read-only: {sent}");
    let alt = record(&env, "alt");
    let (alt_session, alt_seg) = alt.active_segment().unwrap();
    assert_ne!(alt_session, orig_session, "a session of its own");
    let start = sessions.read_segment(alt_seg).unwrap().entries[0]
        .kind
        .clone();
    let EntryKind::SegmentStart(start) = start else {
        panic!("{start:?}")
    };
    assert_eq!(
        start.forked_from.map(|l| (l.segment_id, l.at_turn)),
        Some((orig_seg, 1))
    );
    assert!(
        alt.manifest
            .scope
            .allow
            .iter()
            .all(|r| r.access == scope::Access::Read)
    );
    env.ok(&["stop", "alt"]);

    // Rewind to before "three": the same Pod continues without it.
    let out = env.ok(&["rewind", "orig", "--to", &three.to_string()]);
    assert!(out.contains("NOT undone"), "{out}");
    assert!(out.contains("three"), "the message is shown: {out}");
    let (_, rewound) = record(&env, "orig").active_segment().unwrap();
    assert_ne!(rewound, orig_seg);
    let n = mock.requests().len();
    assert_eq!(env.ok(&["resume", "orig", "again", "--print"]).trim(), "ok");
    let sent = mock.requests()[n].body.to_string();
    assert!(
        sent.contains("r-two") && !sent.contains("r-three"),
        "{sent}"
    );

    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the original segment is byte-for-byte unchanged"
    );
}
