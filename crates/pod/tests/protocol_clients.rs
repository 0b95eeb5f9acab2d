//! Two clients on one Pod: both see the same events with increasing `seq`; a reply
//! goes only to the requester; a malformed line gets an error on that connection
//! only, and the connection stays usable. Snapshot from a cursor.
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Env, Mock};
use pod::client::PodClient;
use protocol::{ErrorCode, Event, InputMode, Request, ServerMessage};

async fn until_run_end(c: &mut PodClient) -> Vec<(u64, Event)> {
    let mut seen = Vec::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), c.next_message())
            .await
            .expect("run end within 10s")
            .unwrap();
        // Replies are read by `request`; anything else here is a broadcast event, or a
        // `resync` when this reader itself fell behind (possible on a loaded machine:
        // 3000 deltas outrun the broadcast buffer; it is not what these tests check).
        let ServerMessage::Event { seq, event: ev } = msg else {
            assert!(
                matches!(msg, ServerMessage::Resync { .. }),
                "a non-event message reached a client that did not ask: {msg:?}"
            );
            continue;
        };
        let end = matches!(ev, Event::RunCompleted { .. } | Event::RunErrored { .. });
        seen.push((seq, ev));
        if end {
            return seen;
        }
    }
}

#[test]
fn two_clients_see_the_same_events_and_replies_go_to_the_sender_only() {
    let env = Env::new();
    let mock = Mock::start(
        r#"
responses:
  - output:
      - tool_call: read_file
        id: call_a
        arguments: {"path": "a.txt"}
  - output:
      - text: "alpha seen"
        chunks: 3
"#,
    );
    env.ok(&[
        "run",
        "--name",
        "two",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--detach",
    ]);
    let sock = env.socket("two");
    mock.rt.block_on(async {
        let mut a = PodClient::connect(&sock, None).await.unwrap();
        let mut b = PodClient::connect(&sock, None).await.unwrap();

        // Malformed line on b: error on b only, b stays usable.
        b.send_raw("{this is not json").await.unwrap();
        match b.next_message().await.unwrap() {
            ServerMessage::Error { code, id, .. } => {
                assert_eq!(code, ErrorCode::Malformed);
                assert_eq!(id, None);
            }
            other => panic!("expected an error, got {other:?}"),
        }
        let st = b.request(Request::Status).await.unwrap();
        assert_eq!(st["name"], "two");

        // a asks; only a gets the ack.
        a.request(Request::SendInput { text: "read a".into(), mode: InputMode::Queue, attachments: Vec::new() })
            .await
            .unwrap();
        let ea = until_run_end(&mut a).await;
        let eb = until_run_end(&mut b).await;
        assert_eq!(ea, eb, "both clients see the same events");
        assert!(ea.windows(2).all(|w| w[0].0 < w[1].0), "seq increases: {ea:?}");
        assert!(ea.iter().any(|(_, e)| matches!(e, Event::ToolResult { result, .. } if result.output.contains("alpha") && !result.is_error)));
        assert!(ea.iter().any(|(_, e)| matches!(e, Event::TextDelta { .. })));
        assert!(matches!(ea.last().unwrap().1, Event::RunCompleted { ref final_text } if final_text == "alpha seen"));

        // Every message b received besides its own replies is an event: a's ack never
        // reached b (ids are per connection, so a stray ack would be buffered here).
        let st = b.request(Request::Status).await.unwrap();
        assert_eq!(st["state"], "idle");
        let stray: Vec<_> = b
            .take_buffered()
            .into_iter()
            .filter(|m| !matches!(m, ServerMessage::Event { .. }))
            .collect();
        assert!(stray.is_empty(), "b got messages meant for a: {stray:?}");

        // Snapshot from a cursor returns exactly the events after it.
        let cursor = ea[2].0;
        let snap = a.request(Request::Snapshot { since_seq: Some(cursor) }).await.unwrap();
        let seqs: Vec<u64> = snap["events"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs.first().copied(), Some(cursor + 1));
        assert!(seqs.contains(&ea.last().unwrap().0));

        // A client attaching with a cursor is replayed the events after it.
        let mut c = PodClient::connect(&sock, Some(cursor)).await.unwrap();
        let (first, _) = c.next_event().await.unwrap();
        assert_eq!(first, cursor + 1);
    });
    env.ok(&["stop", "two"]);
}

#[test]
fn a_client_with_another_protocol_version_is_refused() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let env = Env::new();
    let mock = Mock::start("responses: []");
    env.ok(&[
        "run",
        "--name",
        "v",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--detach",
    ]);
    let sock = env.socket("v");
    mock.rt.block_on(async {
        let mut s = tokio::net::UnixStream::connect(&sock).await.unwrap();
        let token = std::fs::read_to_string(protocol::token_path(&sock)).unwrap();
        let hello =
            format!("{{\"type\":\"hello\",\"protocol_version\":999,\"token\":\"{token}\"}}\n");
        s.write_all(hello.as_bytes()).await.unwrap();
        let mut line = String::new();
        BufReader::new(&mut s).read_line(&mut line).await.unwrap();
        let msg: ServerMessage = protocol::decode_line(&line).unwrap();
        assert!(
            matches!(
                msg,
                ServerMessage::Error {
                    code: ErrorCode::VersionMismatch,
                    ..
                }
            ),
            "{msg:?}"
        );
    });
    env.ok(&["stop", "v"]);
}

#[test]
fn a_client_that_falls_behind_gets_resync_and_catches_up_with_a_snapshot() {
    let env = Env::new();
    // 3000 one-character deltas: far more events than a client that does not read can
    // have buffered in its socket plus the broadcast channel.
    let text = "x".repeat(3000);
    let mock = Mock::start(&format!(
        "responses: [{{output: [{{text: '{text}', chunk_size: 1}}]}}]"
    ));
    env.ok(&[
        "run",
        "--name",
        "lag",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--detach",
    ]);
    let sock = env.socket("lag");
    mock.rt.block_on(async {
        let mut slow = PodClient::connect(&sock, None).await.unwrap();
        let mut fast = PodClient::connect(&sock, None).await.unwrap();
        fast.request(Request::SendInput {
            text: "go".into(),
            mode: InputMode::Queue,
            attachments: Vec::new(),
        })
        .await
        .unwrap();
        until_run_end(&mut fast).await;
        // Now the slow client reads what it was sent.
        let mut resync = None;
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(10), slow.next_message())
                .await
                .unwrap()
                .unwrap()
            {
                ServerMessage::Resync { since_seq } => {
                    resync = Some(since_seq);
                    break;
                }
                ServerMessage::Event { seq, event } => {
                    seen.push(seq);
                    if matches!(event, Event::RunCompleted { .. }) {
                        break;
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let since = resync.expect("the lagging client was told to resync");
        // The cursor is the last event this client was actually sent.
        assert_eq!(since, seen.last().copied().unwrap_or(slow.last_seq));
        assert!(
            seen.windows(2).all(|w| w[1] == w[0] + 1),
            "no gap before the resync"
        );
        // Catch up from the cursor: the snapshot continues right after it.
        let snap = slow
            .request(Request::Snapshot {
                since_seq: Some(since),
            })
            .await
            .unwrap();
        let events = snap["events"].as_array().unwrap();
        assert_eq!(events[0]["seq"].as_u64().unwrap(), since + 1);
        assert_eq!(events.last().unwrap()["event"]["kind"], "run_completed");
    });
    env.ok(&["stop", "lag"]);
}

/// A raw socket client: writes `lines`, returns what the Pod answered until it
/// closed the connection or 2 s passed.
async fn raw_exchange(sock: &std::path::Path, lines: &[String]) -> Vec<String> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut s = tokio::net::UnixStream::connect(sock).await.unwrap();
    for l in lines {
        s.write_all(format!("{l}\n").as_bytes()).await.unwrap();
    }
    let mut out = Vec::new();
    let mut r = BufReader::new(s).lines();
    while let Ok(Ok(Some(l))) = tokio::time::timeout(Duration::from_secs(2), r.next_line()).await {
        out.push(l);
    }
    out
}

#[test]
fn without_the_token_a_client_is_refused_and_nothing_is_served_before_hello() {
    let env = Env::new();
    let mock = Mock::start("responses: []");
    env.ok(&[
        "run",
        "--name",
        "tok",
        "--model",
        "m",
        "--base-url",
        &mock.url(),
        "--detach",
    ]);
    let sock = env.socket("tok");
    let token_file = protocol::token_path(&sock);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&token_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    mock.rt.block_on(async {
        // A request before hello is refused, not served: the Pod keeps running.
        let shutdown = r#"{"type":"request","id":1,"request":"shutdown"}"#.to_string();
        let answers = raw_exchange(&sock, &[shutdown]).await;
        assert!(
            answers[0].contains("unauthorized") && answers[0].contains("hello"),
            "{answers:?}"
        );
        // Hello without the token (as a process in another Pod's sandbox would send).
        let hello = r#"{"type":"hello","protocol_version":1,"client":"intruder"}"#.to_string();
        let answers = raw_exchange(&sock, &[hello]).await;
        assert_eq!(
            answers.len(),
            1,
            "one error, then the connection is closed: {answers:?}"
        );
        assert!(
            answers[0].contains("unauthorized") && answers[0].contains("token"),
            "{answers:?}"
        );
        let wrong = r#"{"type":"hello","protocol_version":1,"token":"00"}"#.to_string();
        assert!(raw_exchange(&sock, &[wrong]).await[0].contains("unauthorized"));
        // With the token from the file: served.
        let token = std::fs::read_to_string(&token_file).unwrap();
        let ok = format!(r#"{{"type":"hello","protocol_version":1,"token":"{token}"}}"#);
        let answers = raw_exchange(&sock, &[ok]).await;
        assert!(answers[0].contains("\"type\":\"hello\""), "{answers:?}");
    });
    assert!(
        env.is_live("tok"),
        "the unauthorised shutdown was not served"
    );
    env.ok(&["stop", "tok"]);
    assert!(!token_file.exists(), "the token goes with the socket");
}
