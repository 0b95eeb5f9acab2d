//! The entry format: one JSON object per line,
//! `{"seq":N,"ts":UNIX_MS,"kind":"...","data":{...}}` (`data` is absent for kinds
//! without payload, e.g. `run_completed`).
//!
//! `ts` is Unix time in milliseconds (UTC): cheaper to write and parse than RFC 3339
//! and unambiguous. `seq` starts at 0 (the `segment_start` entry) and grows by one per
//! line, so line `n` (1-based) holds `seq == n - 1`.
//!
//! Entries are parsed in one pass: the `kind` key is written before `data`, so the
//! payload is deserialised straight into its typed variant (no intermediate
//! `serde_json::Value`, which would halve replay throughput). A file written by some
//! other tool with `data` before `kind` still parses, through a buffered slow path.
//! Kinds this version does not know become [`EntryKind::Unknown`] holding the raw
//! object, so logs written by newer binaries stay readable.

use std::fmt;

use pod_ids::{SegmentId, SessionId};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use transcript::{Item, RequestConfig, ToolResult, ToolSpec, Usage};

/// One line of a segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Position in the segment: 0 for `segment_start`, then +1 per entry.
    pub seq: u64,
    /// When it was written, Unix milliseconds (UTC). Stored as `ts`.
    pub ts_ms: u64,
    /// What happened.
    pub kind: EntryKind,
}

/// Where a segment came from: the segment and the turn it was forked or compacted at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    /// The source segment.
    pub segment_id: SegmentId,
    /// The last turn of the source that the new segment's seed history covers.
    pub at_turn: u64,
}

/// The first entry of every segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentStart {
    /// The session this segment belongs to.
    pub session_id: SessionId,
    /// This segment (equals the file name).
    pub segment_id: SegmentId,
    /// The system prompt for every request in this segment.
    pub system_prompt: String,
    /// The request config at the start (see `config_changed`).
    pub config: RequestConfig,
    /// Tools offered to the model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// History the segment starts from (fork prefix or compaction summary).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Item>,
    /// Set when this segment is a fork (or rewind) of another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from: Option<Lineage>,
    /// Set when this segment replaces another's history with a summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compacted_from: Option<Lineage>,
}

impl SegmentStart {
    /// The turn this segment's numbering continues from (its fork or compaction
    /// point), 0 for a fresh segment.
    pub fn base_turn(&self) -> u64 {
        self.forked_from
            .or(self.compacted_from)
            .map_or(0, |l| l.at_turn)
    }
}

/// The kinds of entry. Serialised adjacently tagged: `"kind"` + `"data"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum EntryKind {
    /// First entry of a segment.
    SegmentStart(Box<SegmentStart>),
    /// Input from the user; opens a run.
    UserInput {
        /// The text.
        text: String,
    },
    /// An item the assistant produced (message, tool call, reasoning).
    AssistantItem {
        /// The item.
        item: Item,
    },
    /// A tool's result, as sent back to the model.
    ToolResult {
        /// The result.
        result: ToolResult,
    },
    /// Images shown to the model in a user-role message, right after the user input
    /// they were attached to or after the tool results that produced them. The bytes
    /// are blobs ([`crate::SessionStore::put_blob`]).
    Images {
        /// The images, in order.
        images: Vec<transcript::ImageRef>,
    },
    /// A notice the model was shown, with the exact text.
    SystemItem {
        /// The exact text the model saw.
        text: String,
    },
    /// End of turn `turn` (turns are numbered from 1 along the segment lineage).
    TurnEnd {
        /// The turn that ended.
        turn: u64,
    },
    /// The run ended normally.
    RunCompleted,
    /// The run ended with an error.
    RunErrored {
        /// What went wrong.
        error: String,
    },
    /// The request config changed from here on.
    ConfigChanged {
        /// The new config.
        config: RequestConfig,
    },
    /// Token usage of a model call.
    Usage {
        /// The usage.
        usage: Usage,
    },
    /// Data owned by some other layer (the runtime), opaque to the store.
    Extension {
        /// Who owns it, e.g. `pod.children`.
        domain: String,
        /// Its data.
        payload: Value,
    },
    /// A kind this version does not know: the whole raw object (including `seq` and
    /// `ts`), kept so nothing is lost; replay skips it. Cannot be appended.
    #[serde(skip)]
    Unknown(Value),
}

/// Every `kind` string the derive above accepts. Kept next to the enum; a unit test
/// checks it against the serialised form of every variant.
const KNOWN_KINDS: &[&str] = &[
    "segment_start",
    "user_input",
    "assistant_item",
    "tool_result",
    "system_item",
    "images",
    "turn_end",
    "run_completed",
    "run_errored",
    "config_changed",
    "usage",
    "extension",
];

impl EntryKind {
    /// Entries after which the writer fsyncs: the ends of turns and runs.
    pub fn is_turn_boundary(&self) -> bool {
        matches!(
            self,
            EntryKind::TurnEnd { .. } | EntryKind::RunCompleted | EntryKind::RunErrored { .. }
        )
    }
}

/// Borrowed view used for writing, so `append(&EntryKind)` needs no clone.
pub(crate) struct EntryRef<'a> {
    pub seq: u64,
    pub ts_ms: u64,
    pub kind: &'a EntryKind,
}

impl Serialize for EntryRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let EntryKind::Unknown(raw) = self.kind {
            // The raw object already carries its own seq and ts.
            return raw.serialize(s);
        }
        #[derive(Serialize)]
        struct Flat<'a> {
            seq: u64,
            ts: u64,
            #[serde(flatten)]
            kind: &'a EntryKind,
        }
        // Flatten on the serialising side streams (no buffering), so it costs nothing.
        Flat {
            seq: self.seq,
            ts: self.ts_ms,
            kind: self.kind,
        }
        .serialize(s)
    }
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        EntryRef {
            seq: self.seq,
            ts_ms: self.ts_ms,
            kind: &self.kind,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EntryVisitor)
    }
}

enum Key {
    Seq,
    Ts,
    Kind,
    Data,
    Other(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an entry field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "seq" => Key::Seq,
                    "ts" => Key::Ts,
                    "kind" => Key::Kind,
                    "data" => Key::Data,
                    other => Key::Other(other.to_owned()),
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

struct EntryVisitor;

/// The `kind` string, borrowed from the input when it has no escapes (always, for
/// our own writer), so parsing an entry does not allocate for it.
enum KindName<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl KindName<'_> {
    fn as_str(&self) -> &str {
        match self {
            KindName::Borrowed(s) => s,
            KindName::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for KindName<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KindName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an entry kind string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<KindName<'de>, E> {
                Ok(KindName::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KindName<'de>, E> {
                Ok(KindName::Owned(v.to_owned()))
            }
        }
        d.deserialize_str(V)
    }
}

/// What the `data` key produced: the typed kind, or the raw payload of an unknown
/// kind (or of any kind, when `data` came before `kind`).
enum Data {
    Typed(EntryKind),
    Raw(Value),
}

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a session log entry object with seq, ts and kind")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
        let mut seq = None;
        let mut ts = None;
        let mut kind: Option<KindName<'de>> = None;
        let mut data: Option<Data> = None;
        let mut extra = Map::new();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Seq => seq = Some(map.next_value::<u64>()?),
                Key::Ts => ts = Some(map.next_value::<u64>()?),
                Key::Kind => kind = Some(map.next_value::<KindName<'de>>()?),
                Key::Data => {
                    data = Some(match kind.as_ref().map(KindName::as_str) {
                        Some(k) if KNOWN_KINDS.contains(&k) => {
                            Data::Typed(map.next_value_seed(KindSeed(k))?)
                        }
                        _ => Data::Raw(map.next_value::<Value>()?),
                    })
                }
                Key::Other(name) => {
                    extra.insert(name, map.next_value::<Value>()?);
                }
            }
        }
        let seq = seq.ok_or_else(|| de::Error::missing_field("seq"))?;
        let ts_ms = ts.ok_or_else(|| de::Error::missing_field("ts"))?;
        let kind_name = kind.ok_or_else(|| de::Error::missing_field("kind"))?;
        let kind_name = kind_name.as_str();
        let kind = if KNOWN_KINDS.contains(&kind_name) {
            match data {
                Some(Data::Typed(k)) => k,
                // Slow path: `data` came before `kind`, or is absent (unit kinds).
                Some(Data::Raw(v)) => KindSeed(kind_name)
                    .deserialize(v.into_deserializer())
                    .map_err(de::Error::custom)?,
                None => EntryKind::deserialize(Tagged::<serde_json::Value> {
                    kind: kind_name,
                    data: None,
                })
                .map_err(de::Error::custom)?,
            }
        } else {
            let mut raw = extra;
            raw.insert("seq".into(), seq.into());
            raw.insert("ts".into(), ts_ms.into());
            raw.insert("kind".into(), Value::String(kind_name.to_owned()));
            if let Some(Data::Raw(v)) = data {
                raw.insert("data".into(), v);
            }
            EntryKind::Unknown(Value::Object(raw))
        };
        Ok(Entry { seq, ts_ms, kind })
    }
}

/// Deserialises the `data` of a known kind straight into `EntryKind`, by presenting
/// the derived adjacently-tagged impl with a map `{kind: K, data: <the real input>}`.
/// Hand-written because serde's `flatten` would buffer every entry into an
/// intermediate tree first.
struct KindSeed<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for KindSeed<'_> {
    type Value = EntryKind;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<EntryKind, D::Error> {
        EntryKind::deserialize(Tagged {
            kind: self.0,
            data: Some(d),
        })
    }
}

struct Tagged<'a, D> {
    kind: &'a str,
    data: Option<D>,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Tagged<'_, D> {
    type Error = D::Error;
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        v.visit_map(TaggedMap {
            kind: self.kind,
            data: self.data,
            state: 0,
        })
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct TaggedMap<'a, D> {
    kind: &'a str,
    data: Option<D>,
    state: u8,
}

impl<'de, D: Deserializer<'de>> MapAccess<'de> for TaggedMap<'_, D> {
    type Error = D::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, D::Error> {
        let key = match self.state {
            0 => "kind",
            2 if self.data.is_some() => "data",
            _ => return Ok(None),
        };
        self.state += 1;
        seed.deserialize(key.into_deserializer()).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, D::Error> {
        self.state += 1;
        if self.state == 2 {
            return seed.deserialize(self.kind.into_deserializer());
        }
        match self.data.take() {
            Some(d) => seed.deserialize(d),
            None => Err(de::Error::custom("entry data read twice")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use transcript::ToolCall;

    fn all_kinds() -> Vec<EntryKind> {
        vec![
            EntryKind::SegmentStart(Box::new(SegmentStart {
                session_id: SessionId::new(),
                segment_id: SegmentId::new(),
                system_prompt: "be brief".into(),
                config: RequestConfig {
                    provider: "openai".into(),
                    model: "m".into(),
                    ..Default::default()
                },
                tools: vec![ToolSpec {
                    name: "t".into(),
                    description: "d".into(),
                    parameters: serde_json::json!({"type": "object"}),
                }],
                history: vec![Item::UserMessage { text: "hi".into() }],
                forked_from: Some(Lineage {
                    segment_id: SegmentId::new(),
                    at_turn: 3,
                }),
                compacted_from: None,
            })),
            EntryKind::UserInput {
                text: "q\n\"x\"".into(),
            },
            EntryKind::AssistantItem {
                item: Item::ToolCall(ToolCall {
                    call_id: "c".into(),
                    name: "n".into(),
                    arguments: "{}".into(),
                }),
            },
            EntryKind::ToolResult {
                result: ToolResult {
                    call_id: "c".into(),
                    name: "n".into(),
                    output: "o".into(),
                    is_error: true,
                },
            },
            EntryKind::SystemItem {
                text: "child done".into(),
            },
            EntryKind::Images {
                images: vec![transcript::ImageRef {
                    sha256: "ab".into(),
                    media_type: "image/png".into(),
                    bytes: 3,
                    source: "s.png".into(),
                }],
            },
            EntryKind::TurnEnd { turn: 7 },
            EntryKind::RunCompleted,
            EntryKind::RunErrored {
                error: "boom".into(),
            },
            EntryKind::ConfigChanged {
                config: RequestConfig::default(),
            },
            EntryKind::Usage {
                usage: Usage {
                    input_tokens: 4,
                    ..Default::default()
                },
            },
            EntryKind::Extension {
                domain: "pod.children".into(),
                payload: serde_json::json!({"a": [1, 2]}),
            },
        ]
    }

    #[test]
    fn every_kind_round_trips_and_is_listed_as_known() {
        for (i, kind) in all_kinds().into_iter().enumerate() {
            let e = Entry {
                seq: i as u64,
                ts_ms: 1_700_000_000_000 + i as u64,
                kind,
            };
            let line = serde_json::to_string(&e).unwrap();
            let v: Value = serde_json::from_str(&line).unwrap();
            let name = v["kind"].as_str().unwrap();
            assert!(
                KNOWN_KINDS.contains(&name),
                "{name} missing from KNOWN_KINDS"
            );
            assert_eq!(serde_json::from_str::<Entry>(&line).unwrap(), e, "{line}");
        }
        assert_eq!(all_kinds().len(), KNOWN_KINDS.len());
    }

    #[test]
    fn kind_is_written_before_data_and_unit_kinds_have_no_data() {
        let line = serde_json::to_string(&Entry {
            seq: 3,
            ts_ms: 9,
            kind: EntryKind::UserInput { text: "a".into() },
        })
        .unwrap();
        assert_eq!(
            line,
            r#"{"seq":3,"ts":9,"kind":"user_input","data":{"text":"a"}}"#
        );
        let unit = serde_json::to_string(&Entry {
            seq: 4,
            ts_ms: 9,
            kind: EntryKind::RunCompleted,
        })
        .unwrap();
        assert_eq!(unit, r#"{"seq":4,"ts":9,"kind":"run_completed"}"#);
    }

    #[test]
    fn data_before_kind_still_parses() {
        let e: Entry =
            serde_json::from_str(r#"{"data":{"turn":2},"ts":1,"kind":"turn_end","seq":5}"#)
                .unwrap();
        assert_eq!(e.kind, EntryKind::TurnEnd { turn: 2 });
        assert_eq!(e.seq, 5);
    }

    #[test]
    fn unknown_kind_is_kept_verbatim() {
        let line = r#"{"seq":2,"ts":1,"kind":"hologram","data":{"x":1},"extra":true}"#;
        let e: Entry = serde_json::from_str(line).unwrap();
        let EntryKind::Unknown(raw) = &e.kind else {
            panic!("expected Unknown, got {:?}", e.kind)
        };
        assert_eq!(raw, &serde_json::from_str::<Value>(line).unwrap());
        // Re-serialising gives the same object back.
        let again: Value = serde_json::to_value(&e).unwrap();
        assert_eq!(&again, raw);
    }

    #[test]
    fn bad_payload_of_known_kind_is_an_error() {
        assert!(
            serde_json::from_str::<Entry>(
                r#"{"seq":1,"ts":1,"kind":"turn_end","data":{"turn":"x"}}"#
            )
            .is_err()
        );
        assert!(serde_json::from_str::<Entry>(r#"{"ts":1,"kind":"run_completed"}"#).is_err());
        assert!(serde_json::from_str::<Entry>(r#"{"seq":1,"ts":1,"kind":"user_input"}"#).is_err());
    }
}
