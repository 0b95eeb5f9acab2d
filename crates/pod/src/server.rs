//! The Pod's Unix socket server (ARCHITECTURE §10).
//!
//! Per connection: the peer's uid (SO_PEERCRED) must equal ours, else one
//! `unauthorized` error and the connection is closed. The first client line must be
//! `hello` with our major version; the server answers `hello` with its status and
//! last seq, replays the events after the client's cursor (`since_seq`), then
//! forwards live events. Requests are answered exactly once, to the requester only.
//! A malformed line gets an `error` on that connection and the connection stays
//! usable. A client that falls behind the broadcast gets `resync`.

use futures::{SinkExt, StreamExt};
use protocol::{
    ClientMessage, ErrorCode, PROTOCOL_VERSION, Request, ServerMessage, decode_line, encode_line,
};
use serde_json::json;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec, LinesCodecError};
use tokio_util::sync::CancellationToken;

use crate::controller::{Command, ControllerHandle, Reply};
use crate::journal::Journal;

/// Shared by every connection.
#[derive(Clone)]
pub struct ServerCtx {
    /// The controller.
    pub controller: ControllerHandle,
    /// Events.
    pub journal: Journal,
    /// Cancelled to make the Pod process shut down (the `shutdown` request).
    pub shutdown: CancellationToken,
    /// This Pod's children (checks and takes their reports).
    pub children: std::sync::Arc<crate::children::Children>,
    /// Tool calls waiting for an approval.
    pub approvals: std::sync::Arc<crate::policy::Approvals>,
    /// The capability token every client must present in `hello`.
    pub token: std::sync::Arc<String>,
    /// This Pod's MCP servers.
    pub mcp: mcp::Hub,
    /// A child's parent's liveness lock: input from the process holding it is the
    /// parent's; other input makes a quiet run (see `Event::RunStarted`).
    pub parent_lock: Option<std::path::PathBuf>,
    /// `Some(why)`: this Pod takes no input (a `pod work run` lead, driven by code).
    pub refuses_input: Option<String>,
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from
/// timing. Hand-written: one loop, not worth a dependency.
fn same_token(given: Option<&str>, ours: &str) -> bool {
    let Some(given) = given else { return false };
    let (a, b) = (given.as_bytes(), ours.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Accepts connections until `stop` is cancelled.
pub async fn serve(listener: UnixListener, ctx: ServerCtx, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    let ctx = ctx.clone();
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            () = stop.cancelled() => {}
                            () = connection(stream, ctx) => {}
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
        }
    }
}

fn error_line(id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> String {
    line(&ServerMessage::Error {
        id,
        code,
        message: message.into(),
    })
}

/// An event as a line, shortened if it would be too long for clients (the log keeps
/// it whole).
fn event_line(seq: u64, event: protocol::Event) -> String {
    let mut s = protocol::event_line(seq, event);
    s.pop();
    s
}

fn line(msg: &ServerMessage) -> String {
    // Our own message types always serialise; an empty line would be skipped by clients.
    encode_line(msg).map_or_else(
        |_| String::new(),
        |mut s| {
            s.pop();
            s
        },
    )
}

async fn connection(stream: UnixStream, ctx: ServerCtx) {
    let cred = stream.peer_cred().ok();
    let peer_ok = cred.is_some_and(|c| c.uid() == rustix::process::getuid().as_raw());
    // The kernel's word for who is on the other end (child reports are checked
    // against it).
    let peer_pid = cred
        .and_then(|c| c.pid())
        .and_then(|p| u32::try_from(p).ok());
    let (r, w) = stream.into_split();
    let mut reader = FramedRead::new(r, LinesCodec::new_with_max_length(protocol::MAX_LINE_BYTES));
    let mut writer = FramedWrite::new(w, LinesCodec::new());
    if !peer_ok {
        let _ = writer
            .send(error_line(
                None,
                ErrorCode::Unauthorized,
                "peer uid differs from the Pod's owner",
            ))
            .await;
        return;
    }
    let (reply_tx, mut reply_rx) = mpsc::channel::<String>(64);
    let mut events: Option<broadcast::Receiver<crate::journal::Sequenced>> = None;
    let mut last_sent = 0u64;
    loop {
        tokio::select! {
            l = reader.next() => {
                let l = match l {
                    None => return,
                    Some(Ok(l)) => l,
                    Some(Err(LinesCodecError::MaxLineLengthExceeded)) => {
                        if writer.send(error_line(None, ErrorCode::Malformed, "line too long")).await.is_err() { return; }
                        continue;
                    }
                    Some(Err(_)) => return,
                };
                if l.trim().is_empty() { continue; }
                let msg: ClientMessage = match decode_line(&l) {
                    Ok(m) => m,
                    Err(e) => {
                        let id = serde_json::from_str::<serde_json::Value>(&l).ok().and_then(|v| v.get("id").and_then(|i| i.as_u64()));
                        if writer.send(error_line(id, ErrorCode::Malformed, e.to_string())).await.is_err() { return; }
                        continue;
                    }
                };
                match msg {
                    ClientMessage::Hello { protocol_version, since_seq, token, .. } => {
                        // Same uid is not enough: a process confined in another Pod
                        // runs as the user too. The token is in a file that no Pod's
                        // tools can read (ARCHITECTURE §13).
                        if !same_token(token.as_deref(), &ctx.token) {
                            let _ = writer.send(error_line(None, ErrorCode::Unauthorized,
                                "missing or wrong token: clients read it from the file beside the socket")).await;
                            return;
                        }
                        if protocol_version != PROTOCOL_VERSION {
                            let _ = writer.send(error_line(None, ErrorCode::VersionMismatch,
                                format!("client speaks protocol {protocol_version}, this Pod speaks {PROTOCOL_VERSION}"))).await;
                            return;
                        }
                        let Some(mut status) = ctx.controller.status().await else { return };
                        status.pending_approvals = ctx.approvals.pending();
                        let (rx, snap) = ctx.journal.subscribe_since(since_seq);
                        let hello = ServerMessage::Hello { protocol_version: PROTOCOL_VERSION, status, last_seq: snap.last_seq, in_progress_text: snap.in_progress_text.clone() };
                        if writer.send(line(&hello)).await.is_err() { return; }
                        last_sent = snap.last_seq;
                        if since_seq.is_some() {
                            if snap.truncated {
                                let first = snap.events.first().map_or(snap.last_seq, |e| e.0.saturating_sub(1));
                                if writer.send(line(&ServerMessage::Resync { since_seq: first })).await.is_err() { return; }
                            }
                            for (seq, event) in snap.events {
                                if writer.feed(event_line(seq, event)).await.is_err() { return; }
                            }
                            if SinkExt::<String>::flush(&mut writer).await.is_err() { return; }
                        }
                        events = Some(rx);
                    }
                    ClientMessage::Request { id, .. } if events.is_none() => {
                        // Nothing but `hello` is served before `hello`.
                        if writer.send(error_line(Some(id), ErrorCode::Unauthorized, "say hello (with the token) first")).await.is_err() { return; }
                    }
                    ClientMessage::Request { id, request } => {
                        let ctx = ctx.clone();
                        let tx = reply_tx.clone();
                        tokio::spawn(async move {
                            let reply = answer(&ctx, peer_pid, request).await;
                            let msg = match reply {
                                Ok(result) => ServerMessage::Ack { id, result },
                                Err((code, message)) => ServerMessage::Error { id: Some(id), code, message },
                            };
                            let _ = tx.send(line(&msg)).await;
                        });
                    }
                }
            }
            Some(reply) = reply_rx.recv() => {
                if writer.send(reply).await.is_err() { return; }
            }
            ev = async { match events.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                match ev {
                    Ok((seq, event)) => {
                        if seq <= last_sent { continue; }
                        last_sent = seq;
                        if writer.send(event_line(seq, event)).await.is_err() { return; }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if writer.send(line(&ServerMessage::Resync { since_seq: last_sent })).await.is_err() { return; }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    }
}

async fn ask(ctx: &ServerCtx, make: impl FnOnce(oneshot::Sender<Reply>) -> Command) -> Reply {
    let (tx, rx) = oneshot::channel();
    if !ctx.controller.send(make(tx)).await {
        return Err((ErrorCode::InvalidState, "the Pod is shutting down".into()));
    }
    rx.await
        .unwrap_or_else(|_| Err((ErrorCode::InvalidState, "the Pod is shutting down".into())))
}

async fn answer(ctx: &ServerCtx, peer_pid: Option<u32>, request: Request) -> Reply {
    match request {
        Request::ChildReport {
            child,
            token,
            report,
            quiet,
            report_id,
        } => ctx
            .children
            .report(peer_pid, &child, &token, report, quiet, report_id)
            .map(|()| json!({"accepted": true}))
            .map_err(|e| (ErrorCode::Unauthorized, e)),
        Request::ResumeChild { child } => {
            let name = pod_ids::PodName::new(&child)
                .map_err(|e| (ErrorCode::InvalidState, e.to_string()))?;
            ctx.children
                .resume_child(&name)
                .await
                .map(|pid| json!({"pid": pid}))
                .map_err(|e| (ErrorCode::InvalidState, e))
        }
        Request::SendInput { .. } if ctx.refuses_input.is_some() => Err((
            ErrorCode::InvalidState,
            ctx.refuses_input.clone().unwrap_or_default(),
        )),
        Request::SendInput {
            text,
            mode,
            attachments,
        } => {
            let quiet = ctx
                .parent_lock
                .as_ref()
                .is_some_and(|l| crate::liveness::probe(l) != Some(peer_pid));
            ask(ctx, |reply| Command::Input {
                text,
                mode,
                attachments,
                quiet,
                reply,
            })
            .await
        }
        Request::Interrupt => ask(ctx, |reply| Command::Interrupt { reply }).await,
        Request::Pause => ask(ctx, |reply| Command::Pause { reply }).await,
        Request::Compact => ask(ctx, |reply| Command::Compact { reply }).await,
        Request::Resume => ask(ctx, |reply| Command::Resume { reply }).await,
        Request::AnswerApproval {
            approval,
            decision,
            reason,
        } => {
            // Who answered, for the log: a client of the user (the token was checked
            // at hello) or the parent Pod's process.
            let by = peer_pid.map_or_else(|| "client".to_string(), |p| format!("client pid {p}"));
            ctx.approvals
                .answer(approval, decision, reason, &by)
                .map(|r| json!({"answered": r.id}))
                .map_err(|e| (ErrorCode::InvalidState, e))
        }
        Request::Status => match ctx.controller.status().await {
            Some(mut s) => {
                s.pending_approvals = ctx.approvals.pending();
                serde_json::to_value(s).map_err(|e| (ErrorCode::Internal, e.to_string()))
            }
            None => Err((ErrorCode::InvalidState, "the Pod is shutting down".into())),
        },
        Request::Snapshot { since_seq } => {
            let snap = ctx.journal.snapshot(since_seq);
            let events: Vec<_> = snap
                .events
                .into_iter()
                .map(|(seq, event)| json!({"seq": seq, "event": event}))
                .collect();
            Ok(
                json!({"events": events, "truncated": snap.truncated, "last_seq": snap.last_seq,
                "in_progress_text": snap.in_progress_text}),
            )
        }
        Request::McpServers => Ok(json!({"servers": ctx.mcp.statuses()})),
        Request::Shutdown => {
            ctx.shutdown.cancel();
            Ok(json!({"stopping": true}))
        }
    }
}
