//! Protocol frames: one line as either side reads it (`ClientMessage` on the Pod,
//! `ServerMessage` on a client). A frame that decodes must encode and decode to the
//! same line again; one that does not is `Malformed` saying where.

use protocol::{ClientMessage, FrameError, ServerMessage, decode_line, encode_line};
use serde::{Serialize, de::DeserializeOwned};

use crate::fuzz::Target;

/// Both directions of the socket protocol.
pub struct ProtocolFrames;

const LINES: &[&str] = &[
    r#"{"type":"hello","protocol_version":1,"client":"pod-cli","since_seq":3,"token":"abc"}"#,
    r#"{"type":"request","id":1,"request":"send_input","text":"hi","mode":"interrupt"}"#,
    r#"{"type":"request","id":2,"request":"snapshot","since_seq":10}"#,
    r#"{"type":"request","id":3,"request":"child_report","child":"worker","token":"t","report":{"kind":"finished","final_text":"done"}}"#,
    r#"{"type":"request","id":4,"request":"resume_child","child":"worker"}"#,
    r#"{"type":"request","id":5,"request":"status"}"#,
    r#"{"type":"hello","protocol_version":1,"status":{"name":"lead","state":"idle","pid":42,"session_id":"01938d2a-5b7e-7c3e-9f00-000000000001","segment_id":"01938d2a-5b7e-7c3e-9f00-000000000002"},"last_seq":0}"#,
    r#"{"type":"ack","id":1,"result":{"events":[1,2.5,"x",null,true]}}"#,
    r#"{"type":"error","id":null,"code":"malformed","message":"bad line"}"#,
    r#"{"type":"event","seq":7,"event":{"kind":"tool_result","result":{"call_id":"c","name":"bash","output":"ok","is_error":false},"duration_ms":3}}"#,
    r#"{"type":"event","seq":8,"event":{"kind":"turn_end","turn":2,"stop":"end_turn"}}"#,
    r#"{"type":"event","seq":9,"event":{"kind":"compacted","why":"auto","from_segment":"a","to_segment":"b","before_tokens":9,"after_tokens":1}}"#,
    r#"{"type":"resync","since_seq":4}"#,
];

impl Target for ProtocolFrames {
    fn name(&self) -> &'static str {
        "protocol-frames"
    }

    fn corpus(&self) -> Vec<Vec<u8>> {
        LINES.iter().map(|l| l.as_bytes().to_vec()).collect()
    }

    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            br#""type":"request""#,
            br#""kind":"notice""#,
            br#""request":"compact""#,
            b"\\u0000",
            b"\n",
        ]
    }

    fn accepts(&self, input: &[u8]) -> bool {
        let line = String::from_utf8_lossy(input);
        decode_line::<ClientMessage>(&line).is_ok() || decode_line::<ServerMessage>(&line).is_ok()
    }

    fn check(&self, input: &[u8], _knob: u64) -> Result<(), String> {
        let line = String::from_utf8_lossy(input);
        round_trip::<ClientMessage>(&line)?;
        round_trip::<ServerMessage>(&line)
    }
}

fn round_trip<T: Serialize + DeserializeOwned>(line: &str) -> Result<(), String> {
    match decode_line::<T>(line) {
        Ok(msg) => {
            let once = encode_line(&msg).map_err(|e| format!("decoded but cannot encode: {e}"))?;
            let back: T = decode_line(&once).map_err(|e| format!("own encoding refused: {e}"))?;
            let twice = encode_line(&back).map_err(|e| e.to_string())?;
            if once != twice {
                return Err(format!("encoding is not stable: {once:?} then {twice:?}"));
            }
            Ok(())
        }
        // Syntax errors say where; data errors (missing or mistyped field) say which
        // field, without a position (serde_json has none inside a tagged enum).
        Err(FrameError::Malformed(e))
            if e.line() > 0 || (e.is_data() && !e.to_string().is_empty()) =>
        {
            Ok(())
        }
        Err(FrameError::TooLong(_)) => Ok(()),
        Err(e) => Err(format!("unclear error: {e}")),
    }
}
