//! One socket connection to a Pod: hello, then server lines become
//! [`LinkUpdate`]s and requests go out with ids.

use std::collections::HashSet;
use std::path::PathBuf;

use futures::{SinkExt, StreamExt};
use pod_ids::PodName;
use protocol::{
    ClientMessage, Event, PROTOCOL_VERSION, Request, ServerMessage, decode_line, encode_line,
};
use serde_json::Value;
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec};

use super::Input;
use crate::pod_view::LinkUpdate;

/// Parses a snapshot answer: `{"events": [{"seq", "event"}], "truncated", "last_seq"}`
/// (also accepting `[seq, event]` pairs). Anything unreadable counts as truncated, so
/// the view reloads from the log rather than showing a gap.
pub fn parse_snapshot(result: &Value) -> LinkUpdate {
    let truncated_all = || LinkUpdate::Snapshot {
        events: Vec::new(),
        truncated: true,
        last_seq: result.get("last_seq").and_then(Value::as_u64).unwrap_or(0),
    };
    let Some(list) = result.get("events").and_then(Value::as_array) else {
        return truncated_all();
    };
    let mut events = Vec::with_capacity(list.len());
    for e in list {
        let (seq, ev) = match e {
            Value::Object(o) => (o.get("seq").and_then(Value::as_u64), o.get("event")),
            Value::Array(a) if a.len() == 2 => (a[0].as_u64(), a.get(1)),
            _ => (None, None),
        };
        let (Some(seq), Some(ev)) = (seq, ev) else {
            return truncated_all();
        };
        let ev: Event = serde_json::from_value(ev.clone()).unwrap_or(Event::Unknown);
        events.push((seq, ev));
    }
    LinkUpdate::Snapshot {
        events,
        truncated: result
            .get("truncated")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        last_seq: result.get("last_seq").and_then(Value::as_u64).unwrap_or(0),
    }
}

/// Runs one connection until it closes or `requests` is dropped. Always ends by
/// reporting `Closed` (unless the app is gone).
pub async fn run_connection(
    name: PodName,
    socket: PathBuf,
    tx: mpsc::UnboundedSender<Input>,
    mut requests: mpsc::UnboundedReceiver<Request>,
) {
    let reason = serve(&name, &socket, &tx, &mut requests).await;
    let _ = tx.send(Input::Link(name, LinkUpdate::Closed { reason }));
}

async fn serve(
    name: &PodName,
    socket: &PathBuf,
    tx: &mpsc::UnboundedSender<Input>,
    requests: &mut mpsc::UnboundedReceiver<Request>,
) -> String {
    let stream = match UnixStream::connect(socket).await {
        Ok(s) => s,
        Err(e) => return format!("cannot connect to {}: {e}", socket.display()),
    };
    let (r, w) = stream.into_split();
    let mut reader = FramedRead::new(r, LinesCodec::new_with_max_length(protocol::MAX_LINE_BYTES));
    let mut writer = FramedWrite::new(w, LinesCodec::new());
    let hello = ClientMessage::Hello {
        protocol_version: PROTOCOL_VERSION,
        client: "pod-tui".into(),
        since_seq: None,
        token: std::fs::read_to_string(protocol::token_path(socket))
            .ok()
            .map(|t| t.trim().to_owned()),
    };
    let send = |msg: &ClientMessage| {
        encode_line(msg).map(|mut s| {
            s.pop(); // LinesCodec adds the newline
            s
        })
    };
    match send(&hello) {
        Ok(line) => {
            if let Err(e) = writer.send(line).await {
                return format!("hello failed: {e}");
            }
        }
        Err(e) => return e.to_string(),
    }
    let mut next_id = 1u64;
    let mut snapshot_ids = HashSet::new();
    loop {
        tokio::select! {
            line = reader.next() => {
                let line = match line {
                    None => return "the Pod closed the connection".into(),
                    Some(Err(e)) => return format!("read failed: {e}"),
                    Some(Ok(l)) => l,
                };
                if line.trim().is_empty() {
                    continue;
                }
                let msg: ServerMessage = match decode_line(&line) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(pod = %name, "ignoring a malformed line: {e}");
                        continue;
                    }
                };
                let update = match msg {
                    // The protocol's `in_progress_text` (issue 14, Pod side) fills
                    // this once it is on the wire.
                    ServerMessage::Hello { status, last_seq, in_progress_text, .. } => LinkUpdate::Hello { status, last_seq, in_progress_text },
                    ServerMessage::Event { seq, event } => LinkUpdate::Event { seq, event },
                    ServerMessage::Resync { since_seq } => LinkUpdate::Resync { since_seq },
                    ServerMessage::Ack { id, result } => {
                        if snapshot_ids.remove(&id) {
                            parse_snapshot(&result)
                        } else {
                            LinkUpdate::Answer { ok: true, message: String::new() }
                        }
                    }
                    ServerMessage::Error { id, message, .. } => {
                        if id.is_some_and(|id| snapshot_ids.remove(&id)) {
                            LinkUpdate::Snapshot { events: Vec::new(), truncated: true, last_seq: 0 }
                        } else {
                            LinkUpdate::Answer { ok: false, message }
                        }
                    }
                    ServerMessage::Unknown => continue,
                };
                if tx.send(Input::Link(name.clone(), update)).is_err() {
                    return "the dashboard quit".into();
                }
            }
            req = requests.recv() => {
                let Some(request) = req else { return "closed by the dashboard".into() };
                let id = next_id;
                next_id += 1;
                if matches!(request, Request::Snapshot { .. }) {
                    snapshot_ids.insert(id);
                }
                let line = match send(&ClientMessage::Request { id, request }) {
                    Ok(l) => l,
                    Err(e) => return e.to_string(),
                };
                if let Err(e) = writer.send(line).await {
                    return format!("write failed: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_answers_parse_and_garbage_counts_as_truncated() {
        let v = serde_json::json!({
            "events": [{"seq": 4, "event": {"kind": "notice", "text": "x"}}, [5, {"kind": "new_kind"}]],
            "truncated": false, "last_seq": 5
        });
        assert_eq!(
            parse_snapshot(&v),
            LinkUpdate::Snapshot {
                events: vec![(4, Event::Notice { text: "x".into() }), (5, Event::Unknown)],
                truncated: false,
                last_seq: 5
            }
        );
        let v = serde_json::json!({"events": [{"nope": 1}], "last_seq": 9});
        assert!(matches!(
            parse_snapshot(&v),
            LinkUpdate::Snapshot {
                truncated: true,
                last_seq: 9,
                ..
            }
        ));
    }
}
