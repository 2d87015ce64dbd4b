//! The codecs erpc ships: MessagePack, JSON, protobuf and raw.
//!
//! MessagePack and JSON are reachable as `dyn Codec` (for tools that handle values they do not
//! know statically) and also have fast paths in [`crate::Message`]'s serde impl. Protobuf and
//! raw carry only [`crate::Proto`] and [`crate::Raw`] values; through the erased interface they
//! answer with a clear [`CodecError::Unsupported`].

use std::sync::Arc;

use bytes::BytesMut;

use crate::codec::{Codec, CodecId, DeserializeFn};
use crate::error::CodecError;

/// Every built-in codec enabled by cargo features.
pub fn all() -> Vec<Arc<dyn Codec>> {
    let mut all: Vec<Arc<dyn Codec>> = vec![Arc::new(RawCodec)];
    #[cfg(feature = "msgpack")]
    all.push(Arc::new(MsgPack));
    #[cfg(feature = "json")]
    all.push(Arc::new(Json));
    #[cfg(feature = "protobuf")]
    all.push(Arc::new(Protobuf));
    all
}

fn encode_error(e: impl std::fmt::Display) -> CodecError {
    CodecError::Encode(e.to_string())
}

fn decode_error(e: impl std::fmt::Display) -> CodecError {
    CodecError::Decode(e.to_string())
}

/// The deepest nesting the MessagePack codec accepts, the same as serde_json's.
#[cfg(feature = "msgpack")]
pub const MAX_DEPTH: usize = 128;

/// MessagePack: structs travel as maps keyed by field name, so peers in other languages see
/// ordinary dictionaries.
#[cfg(feature = "msgpack")]
#[derive(Debug, Clone, Copy, Default)]
pub struct MsgPack;

#[cfg(feature = "msgpack")]
impl MsgPack {
    /// Serialise a serde value into `out`.
    pub fn encode<T: serde::Serialize + ?Sized>(
        value: &T,
        out: &mut BytesMut,
    ) -> Result<(), CodecError> {
        use bytes::BufMut;
        let mut ser = rmp_serde::Serializer::new(out.writer()).with_struct_map();
        value.serialize(&mut ser).map_err(encode_error)
    }

    /// Deserialise a serde value from `body`; nesting deeper than [`MAX_DEPTH`] is an error.
    pub fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
        T::deserialize(&mut Self::deserializer(body)).map_err(decode_error)
    }

    fn deserializer(
        body: &[u8],
    ) -> rmp_serde::Deserializer<rmp_serde::decode::ReadRefReader<'_, [u8]>> {
        let mut de = rmp_serde::Deserializer::from_read_ref(body);
        // rmp-serde's own default (1024) overflows a 2 MiB thread stack in debug builds.
        de.set_max_depth(MAX_DEPTH);
        de
    }
}

#[cfg(feature = "msgpack")]
impl Codec for MsgPack {
    fn id(&self) -> CodecId {
        CodecId::MSGPACK
    }
    fn name(&self) -> &'static str {
        "msgpack"
    }
    fn encode_erased(
        &self,
        value: &dyn erased_serde::Serialize,
        out: &mut BytesMut,
    ) -> Result<(), CodecError> {
        MsgPack::encode(value, out)
    }
    fn decode_erased(&self, body: &[u8], visit: &mut DeserializeFn<'_>) -> Result<(), CodecError> {
        let mut de = Self::deserializer(body);
        visit(&mut <dyn erased_serde::Deserializer>::erase(&mut de)).map_err(decode_error)
    }
}

/// JSON (UTF-8). serde_json caps nesting at 128 levels.
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

#[cfg(feature = "json")]
impl Json {
    /// Serialise a serde value into `out`.
    pub fn encode<T: serde::Serialize + ?Sized>(
        value: &T,
        out: &mut BytesMut,
    ) -> Result<(), CodecError> {
        use bytes::BufMut;
        serde_json::to_writer(out.writer(), value).map_err(encode_error)
    }

    /// Deserialise a serde value from `body`.
    pub fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
        serde_json::from_slice(body).map_err(decode_error)
    }
}

#[cfg(feature = "json")]
impl Codec for Json {
    fn id(&self) -> CodecId {
        CodecId::JSON
    }
    fn name(&self) -> &'static str {
        "json"
    }
    fn encode_erased(
        &self,
        value: &dyn erased_serde::Serialize,
        out: &mut BytesMut,
    ) -> Result<(), CodecError> {
        Json::encode(value, out)
    }
    fn decode_erased(&self, body: &[u8], visit: &mut DeserializeFn<'_>) -> Result<(), CodecError> {
        let mut de = serde_json::Deserializer::from_slice(body);
        visit(&mut <dyn erased_serde::Deserializer>::erase(&mut de)).map_err(decode_error)?;
        de.end().map_err(decode_error)
    }
}

/// Protocol Buffers via prost. Only `erpc::Proto<T>` values travel in it.
#[cfg(feature = "protobuf")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Protobuf;

#[cfg(feature = "protobuf")]
impl Codec for Protobuf {
    fn id(&self) -> CodecId {
        CodecId::PROTOBUF
    }
    fn name(&self) -> &'static str {
        "protobuf"
    }
    fn encode_erased(
        &self,
        _: &dyn erased_serde::Serialize,
        _: &mut BytesMut,
    ) -> Result<(), CodecError> {
        Err(not_serde(
            CodecId::PROTOBUF,
            "wrap prost messages in erpc::Proto",
        ))
    }
    fn decode_erased(&self, _: &[u8], _: &mut DeserializeFn<'_>) -> Result<(), CodecError> {
        Err(not_serde(
            CodecId::PROTOBUF,
            "wrap prost messages in erpc::Proto",
        ))
    }
}

/// Raw bytes, passed through as they are. Only `erpc::Raw` values travel in it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    fn id(&self) -> CodecId {
        CodecId::RAW
    }
    fn name(&self) -> &'static str {
        "raw"
    }
    fn encode_erased(
        &self,
        _: &dyn erased_serde::Serialize,
        _: &mut BytesMut,
    ) -> Result<(), CodecError> {
        Err(not_serde(CodecId::RAW, "use erpc::Raw for opaque bytes"))
    }
    fn decode_erased(&self, _: &[u8], _: &mut DeserializeFn<'_>) -> Result<(), CodecError> {
        Err(not_serde(CodecId::RAW, "use erpc::Raw for opaque bytes"))
    }
}

fn not_serde(codec: CodecId, hint: &'static str) -> CodecError {
    CodecError::Unsupported {
        codec,
        type_name: "serde value",
        hint,
    }
}
