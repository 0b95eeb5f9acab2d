//! Session and segment ids: UUIDv7, so they sort by creation time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a string is not a valid session or segment id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {input:?} is invalid: expected a UUID like 0190b2a4-7c1e-7d3a-9f00-0123456789ab")]
pub struct IdError {
    /// `session id` or `segment id`.
    pub kind: &'static str,
    /// The rejected input.
    pub input: String,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new time-ordered (v7) id.
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }
            /// The underlying UUID.
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Uuid::parse_str(s)
                    .map($name)
                    .map_err(|_| IdError { kind: $kind, input: s.to_owned() })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }
    };
}

uuid_id!(
    /// Identifies a session: a tree of segments sharing one conversation.
    SessionId,
    "session id"
);
uuid_id!(
    /// Identifies one segment (one JSONL file) of a session.
    SegmentId,
    "segment id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_display_and_serde() {
        let s = SegmentId::new();
        assert_eq!(s.to_string().parse::<SegmentId>().unwrap(), s);
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<SegmentId>(&j).unwrap(), s);
        assert_eq!(s.as_uuid().get_version_num(), 7);
    }

    #[test]
    fn ids_sort_by_creation() {
        let a = SessionId::new();
        let b = SessionId::new();
        assert!(a < b);
    }

    #[test]
    fn garbage_is_rejected_with_the_input_named() {
        let e = "nope".parse::<SessionId>().unwrap_err().to_string();
        assert!(e.contains("session id \"nope\""), "{e}");
        assert!(serde_json::from_str::<SessionId>("\"x\"").is_err());
    }
}
