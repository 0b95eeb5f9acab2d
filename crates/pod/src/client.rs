//! A protocol client over the Pod's socket, used by the CLI (and by tests and,
//! later, parent Pods). Events that arrive while waiting for a reply are buffered,
//! never lost.

use std::collections::VecDeque;
use std::path::Path;

use futures::{SinkExt, StreamExt};
use protocol::{
    ClientMessage, Event, PROTOCOL_VERSION, PodStatus, Request, ServerMessage, decode_line,
    encode_line,
};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec};

/// Client errors.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Cannot connect (no Pod listening).
    #[error("cannot connect to {path}: {source}")]
    Connect {
        /// Socket path.
        path: String,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// The Pod closed the connection.
    #[error("the Pod closed the connection")]
    Closed,
    /// The Pod answered with an error.
    #[error("the Pod refused: {0}")]
    Refused(String),
    /// Anything on the wire.
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// One connection.
pub struct PodClient {
    reader: FramedRead<OwnedReadHalf, LinesCodec>,
    writer: FramedWrite<OwnedWriteHalf, LinesCodec>,
    next_id: u64,
    buffered: VecDeque<ServerMessage>,
    /// The status from `hello`.
    pub status: PodStatus,
    /// The last seq at `hello`.
    pub last_seq: u64,
    /// Assistant text being streamed at `hello` (see [`ServerMessage::Hello`]).
    pub in_progress_text: String,
}

impl PodClient {
    /// Connects and says hello; `since_seq` replays events after it.
    pub async fn connect(sock: &Path, since_seq: Option<u64>) -> Result<PodClient, ClientError> {
        let stream = UnixStream::connect(sock)
            .await
            .map_err(|source| ClientError::Connect {
                path: sock.display().to_string(),
                source,
            })?;
        let (r, w) = stream.into_split();
        let mut reader =
            FramedRead::new(r, LinesCodec::new_with_max_length(protocol::MAX_LINE_BYTES));
        let mut writer = FramedWrite::new(w, LinesCodec::new());
        let hello = ClientMessage::Hello {
            protocol_version: PROTOCOL_VERSION,
            client: "pod-cli".into(),
            since_seq,
            token: read_token(sock),
        };
        send(&mut writer, &hello).await?;
        loop {
            match read(&mut reader).await? {
                ServerMessage::Hello {
                    status,
                    last_seq,
                    in_progress_text,
                    ..
                } => {
                    return Ok(PodClient {
                        reader,
                        writer,
                        next_id: 1,
                        buffered: VecDeque::new(),
                        status,
                        last_seq,
                        in_progress_text,
                    });
                }
                ServerMessage::Error { message, .. } => return Err(ClientError::Refused(message)),
                _ => {}
            }
        }
    }

    /// Sends a request and waits for its answer.
    pub async fn request(&mut self, request: Request) -> Result<serde_json::Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        send(&mut self.writer, &ClientMessage::Request { id, request }).await?;
        loop {
            match read(&mut self.reader).await? {
                ServerMessage::Ack { id: i, result } if i == id => return Ok(result),
                ServerMessage::Error {
                    id: Some(i),
                    message,
                    ..
                } if i == id => {
                    return Err(ClientError::Refused(message));
                }
                other => self.buffered.push_back(other),
            }
        }
    }

    /// The next event (or resync, as `Err`-free `None` seq) from the Pod.
    pub async fn next_message(&mut self) -> Result<ServerMessage, ClientError> {
        if let Some(m) = self.buffered.pop_front() {
            return Ok(m);
        }
        read(&mut self.reader).await
    }

    /// The next event, skipping other messages.
    pub async fn next_event(&mut self) -> Result<(u64, Event), ClientError> {
        loop {
            if let ServerMessage::Event { seq, event } = self.next_message().await? {
                return Ok((seq, event));
            }
        }
    }

    /// Messages received while waiting for replies and not yet read.
    pub fn take_buffered(&mut self) -> Vec<ServerMessage> {
        self.buffered.drain(..).collect()
    }

    /// Sends a raw line (tests use this for malformed input).
    pub async fn send_raw(&mut self, line: &str) -> Result<(), ClientError> {
        self.writer
            .send(line.to_owned())
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }
}

async fn send(
    w: &mut FramedWrite<OwnedWriteHalf, LinesCodec>,
    msg: &ClientMessage,
) -> Result<(), ClientError> {
    let mut line = encode_line(msg).map_err(|e| ClientError::Protocol(e.to_string()))?;
    line.pop();
    w.send(line).await.map_err(|_| ClientError::Closed)
}

async fn read(r: &mut FramedRead<OwnedReadHalf, LinesCodec>) -> Result<ServerMessage, ClientError> {
    loop {
        match r.next().await {
            None => return Err(ClientError::Closed),
            Some(Err(e)) => return Err(ClientError::Protocol(e.to_string())),
            Some(Ok(l)) if l.trim().is_empty() => continue,
            Some(Ok(l)) => {
                return decode_line(&l).map_err(|e| ClientError::Protocol(e.to_string()));
            }
        }
    }
}

/// The capability token of the Pod behind `sock` (`None` when there is no file: the
/// Pod then refuses us with a clear error).
pub fn read_token(sock: &Path) -> Option<String> {
    std::fs::read_to_string(protocol::token_path(sock))
        .ok()
        .map(|t| t.trim().to_owned())
}
