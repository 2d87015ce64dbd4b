//! The codec abstraction: ids on the wire, the object-safe [`Codec`] trait and the registry.

use std::fmt;
use std::sync::Arc;

use bytes::BytesMut;

use crate::error::CodecError;

/// The one-byte codec id carried in every frame header.
///
/// Ids 0–127 are reserved for codecs erpc defines; 128–255 are free for users' own codecs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodecId(pub u8);

impl CodecId {
    /// Raw bytes, passed through untouched (`erpc::Raw`).
    pub const RAW: CodecId = CodecId(0);
    /// MessagePack with struct fields as named maps (the default).
    pub const MSGPACK: CodecId = CodecId(1);
    /// JSON (UTF-8).
    pub const JSON: CodecId = CodecId(2);
    /// Protocol Buffers (prost messages wrapped in `erpc::Proto`).
    pub const PROTOBUF: CodecId = CodecId(3);
    /// The first id free for users' own codecs.
    pub const FIRST_CUSTOM: u8 = 128;

    /// The name of a built-in id (`"raw"`, `"msgpack"`, `"json"`, `"protobuf"`), `"custom"`
    /// for any other. `Display` is the name people read in messages — a built-in id's name
    /// alone (`json`), a custom id with its number (`custom(201)`); `Debug` always adds the
    /// number (`json(2)`).
    pub fn name(self) -> &'static str {
        match self {
            CodecId::RAW => "raw",
            CodecId::MSGPACK => "msgpack",
            CodecId::JSON => "json",
            CodecId::PROTOBUF => "protobuf",
            _ => "custom",
        }
    }
}

impl Default for CodecId {
    fn default() -> Self {
        CodecId::MSGPACK
    }
}

impl fmt::Debug for CodecId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for CodecId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages reach users of tools (the `erpc` command line, the gateway), who know a
        // codec by the name they give `--codec`, not by its wire number.
        match self.name() {
            "custom" => fmt::Debug::fmt(self, f),
            name => f.write_str(name),
        }
    }
}

/// The callback a codec hands its deserializer to; see [`Codec::decode_erased`].
pub type DeserializeFn<'a> = dyn for<'de> FnMut(&mut dyn erased_serde::Deserializer<'de>) -> Result<(), erased_serde::Error>
    + 'a;

/// A serialisation format for serde types, usable through a trait object.
///
/// The built-in MessagePack and JSON codecs have fast paths that skip this trait; a custom
/// codec is reached through it, with [`erased_serde`] bridging the generic serde world to a
/// `dyn Codec`. Implement both methods and register the codec on **both** sides
/// (`ClientBuilder::register_codec`, `ServerBuilder::register_codec`; underneath, a
/// [`Codecs`] registry): a server without it answers `unimplemented` naming the codec and the
/// method to call. `erased_serde` and `bytes` are re-exported by this crate (and by
/// `erpc::codec`) at the versions erpc uses.
///
/// ```
/// use erpc_codec::{Codec, CodecId, CodecError, Codecs, Message, codec::DeserializeFn};
/// use bytes::{BufMut, BytesMut};
/// use std::sync::Arc;
///
/// /// JSON with a trailing newline: a toy format with its own id.
/// struct JsonLines;
///
/// impl Codec for JsonLines {
///     fn id(&self) -> CodecId { CodecId(200) }
///     fn name(&self) -> &'static str { "json-lines" }
///     fn encode_erased(&self, value: &dyn erased_serde::Serialize, out: &mut BytesMut)
///         -> Result<(), CodecError> {
///         let mut ser = serde_json::Serializer::new(out.writer());
///         value.erased_serialize(&mut <dyn erased_serde::Serializer>::erase(&mut ser))
///             .map_err(|e| CodecError::Encode(e.to_string()))?;
///         out.put_u8(b'\n');
///         Ok(())
///     }
///     fn decode_erased(&self, body: &[u8], visit: &mut DeserializeFn<'_>)
///         -> Result<(), CodecError> {
///         let body = body.strip_suffix(b"\n").unwrap_or(body);
///         let mut de = serde_json::Deserializer::from_slice(body);
///         visit(&mut <dyn erased_serde::Deserializer>::erase(&mut de))
///             .map_err(|e| CodecError::Decode(e.to_string()))
///     }
/// }
///
/// let mut codecs = Codecs::default();
/// codecs.register(Arc::new(JsonLines));
/// let codec = codecs.get(CodecId(200)).unwrap();
/// let mut out = BytesMut::new();
/// vec![1u8, 2].encode(codec, &mut out).unwrap();
/// assert_eq!(&out[..], b"[1,2]\n");
/// assert_eq!(Vec::<u8>::decode(codec, out.freeze()).unwrap(), vec![1, 2]);
/// ```
pub trait Codec: Send + Sync + 'static {
    /// The id this codec is named by in frame headers.
    fn id(&self) -> CodecId;
    /// A short name for logs and tools.
    fn name(&self) -> &'static str;
    /// Serialise `value`, appending to `out`.
    fn encode_erased(
        &self,
        value: &dyn erased_serde::Serialize,
        out: &mut BytesMut,
    ) -> Result<(), CodecError>;
    /// Build a deserializer over `body` and hand it to `visit`, which reads one value.
    fn decode_erased(&self, body: &[u8], visit: &mut DeserializeFn<'_>) -> Result<(), CodecError>;
}

impl fmt::Debug for dyn Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Codec({}, {})", self.name(), self.id().0)
    }
}

/// The codecs a peer understands, looked up by the id in each frame header.
///
/// `Codecs::default()` holds every built-in codec enabled by cargo features. Cloning is cheap
/// when shared behind an `Arc`, which is how clients and servers hold it.
#[derive(Clone)]
pub struct Codecs {
    by_id: Vec<Option<Arc<dyn Codec>>>,
}

impl Codecs {
    /// A registry with no codec at all.
    pub fn empty() -> Self {
        Codecs {
            by_id: vec![None; 256],
        }
    }

    /// Add or replace the codec for its id.
    pub fn register(&mut self, codec: Arc<dyn Codec>) -> &mut Self {
        let id = codec.id().0 as usize;
        self.by_id[id] = Some(codec);
        self
    }

    /// The codec named by `id`, if this peer has it.
    pub fn get(&self, id: CodecId) -> Option<&dyn Codec> {
        self.by_id[id.0 as usize].as_deref()
    }

    /// The ids of every registered codec.
    pub fn ids(&self) -> impl Iterator<Item = CodecId> + '_ {
        self.by_id.iter().flatten().map(|codec| codec.id())
    }
}

impl Default for Codecs {
    fn default() -> Self {
        let mut codecs = Codecs::empty();
        for codec in crate::builtin::all() {
            codecs.register(codec);
        }
        codecs
    }
}

impl fmt::Debug for Codecs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.ids()).finish()
    }
}

#[cfg(test)]
mod name_tests {
    use super::CodecId;

    #[test]
    fn names_and_display_are_as_documented() {
        assert_eq!(CodecId::JSON.name(), "json");
        assert_eq!(CodecId(201).name(), "custom");
        assert_eq!(CodecId(201).to_string(), "custom(201)");
        assert_eq!(CodecId::MSGPACK.to_string(), "msgpack");
        assert_eq!(format!("{:?}", CodecId::MSGPACK), "msgpack(1)");
    }
}
