//! The benchmark message: an `i64` id, a ~16-character string and a byte payload.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The message for serde stacks (erpc, tarpc).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Msg {
    /// Identifies the call.
    pub id: i64,
    /// About 16 characters.
    pub name: String,
    /// The payload; `Bytes` serialises as a byte string and clones without copying.
    pub payload: Bytes,
}

impl Msg {
    /// A message with a `payload`-byte body.
    pub fn new(id: i64, payload: usize) -> Msg {
        Msg {
            id,
            name: format!("bench-msg-{id:06}"),
            payload: (0..payload)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<_>>()
                .into(),
        }
    }
}

/// The same message for tonic (protobuf).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PbMsg {
    /// Identifies the call.
    #[prost(int64, tag = "1")]
    pub id: i64,
    /// About 16 characters.
    #[prost(string, tag = "2")]
    pub name: String,
    /// The payload.
    #[prost(bytes = "bytes", tag = "3")]
    pub payload: Bytes,
}

impl From<&Msg> for PbMsg {
    fn from(m: &Msg) -> Self {
        PbMsg {
            id: m.id,
            name: m.name.clone(),
            payload: m.payload.clone(),
        }
    }
}
