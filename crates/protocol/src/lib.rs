//! The Pod socket protocol (ARCHITECTURE §10): one JSON object per line over a Unix
//! socket.
//!
//! Owns: the message types shared by the Pod runtime and every client
//! ([`ClientMessage`], [`ServerMessage`], [`Request`], [`Event`]), the protocol
//! version, and line framing ([`encode_line`], [`decode_line`]).
//!
//! Must never own: sockets, tasks or any runtime state; the runtime and clients do
//! the I/O.
//!
//! Invariants:
//! - The first exchange is `hello` both ways, carrying [`PROTOCOL_VERSION`].
//! - Every request carries an `id`; the server answers it with exactly one `ack` or
//!   `error` with that id, to the requester only.
//! - Events carry a monotonic `seq`; a lagging client gets `resync` (with the cursor
//!   to resume from), never a silent drop.
//! - Unknown fields are ignored and unknown event kinds decode to
//!   [`Event::Unknown`], so older clients keep working against newer Pods.
//! - Child Pods talk to their parent with the same protocol: `child_report`
//!   ([`ChildReport`]) carries a per-child token and is accepted only from the
//!   child's own process (the parent checks SO_PEERCRED); `resume_child` asks a live
//!   parent to restore one of its children.
//!
//! ```
//! use protocol::{ClientMessage, Request, decode_line, encode_line};
//! let line = encode_line(&ClientMessage::Request { id: 7, request: Request::Status }).unwrap();
//! let back: ClientMessage = decode_line(&line).unwrap();
//! assert!(matches!(back, ClientMessage::Request { id: 7, request: Request::Status }));
//! ```
#![deny(missing_docs)]

mod event;
mod framing;
mod message;
mod shorten;

pub use event::{Event, PodState, PodStatus};
pub use framing::{FrameError, MAX_LINE_BYTES, decode_line, encode_line};
pub use message::{
    ApprovalDecision, ApprovalRequest, Attachment, ChildReport, ClientMessage, ErrorCode,
    InputMode, Request, ServerMessage,
};
pub use shorten::{MAX_SOCKET_LINE_BYTES, MAX_SOCKET_TEXT_BYTES, SHORTENED_MARKER, event_line};

/// Where a Pod keeps the capability token clients must present in `hello`: a 0600
/// file beside its socket, in a directory every Pod's sandbox hides, so only
/// processes of the user outside any Pod can read it.
pub fn token_path(socket: &std::path::Path) -> std::path::PathBuf {
    socket.with_file_name("token")
}

/// Version of this protocol. A server refuses a client whose major version differs.
pub const PROTOCOL_VERSION: u32 = 1;
