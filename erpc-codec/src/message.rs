//! The [`Message`] trait: how a request or response type becomes a body in a given codec.

use std::any::type_name;

use bytes::{Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Codec, CodecId};
use crate::error::CodecError;

/// A value that can travel as a frame body.
///
/// Every `serde` type is a `Message` in MessagePack, JSON and any custom codec. Prost messages
/// travel wrapped in [`Proto`], and opaque bytes in [`Raw`]; those two are bound to one codec,
/// which [`Message::native_codec`] names so clients pick it without being told.
pub trait Message: Sized + Send + 'static {
    /// The only codec this type can travel in, if it is bound to one.
    fn native_codec() -> Option<CodecId> {
        None
    }
    /// Roughly how many bytes the encoded value takes, if known cheaply, so encode buffers
    /// are sized once instead of doubling their way up. 0 means unknown.
    fn size_hint(&self) -> usize {
        0
    }
    /// Append this value, encoded with `codec`, to `out`.
    fn encode(&self, codec: &dyn Codec, out: &mut BytesMut) -> Result<(), CodecError>;
    /// Decode a value from a whole body encoded with `codec`.
    fn decode(codec: &dyn Codec, body: Bytes) -> Result<Self, CodecError>;
}

impl<T> Message for T
where
    T: Serialize + DeserializeOwned + Send + 'static,
{
    fn encode(&self, codec: &dyn Codec, out: &mut BytesMut) -> Result<(), CodecError> {
        match codec.id() {
            #[cfg(feature = "msgpack")]
            CodecId::MSGPACK => crate::builtin::MsgPack::encode(self, out),
            #[cfg(feature = "json")]
            CodecId::JSON => crate::builtin::Json::encode(self, out),
            _ => codec.encode_erased(self, out),
        }
    }

    fn decode(codec: &dyn Codec, body: Bytes) -> Result<Self, CodecError> {
        match codec.id() {
            #[cfg(feature = "msgpack")]
            CodecId::MSGPACK => crate::builtin::MsgPack::decode(&body),
            #[cfg(feature = "json")]
            CodecId::JSON => crate::builtin::Json::decode(&body),
            _ => {
                let mut value = None;
                codec.decode_erased(&body, &mut |de| {
                    value = Some(erased_serde::deserialize::<T>(de)?);
                    Ok(())
                })?;
                value.ok_or_else(|| CodecError::Decode("codec produced no value".into()))
            }
        }
    }
}

/// Opaque bytes that travel untouched in the raw codec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Raw(pub Bytes);

impl From<Bytes> for Raw {
    fn from(bytes: Bytes) -> Self {
        Raw(bytes)
    }
}

impl From<Vec<u8>> for Raw {
    fn from(bytes: Vec<u8>) -> Self {
        Raw(bytes.into())
    }
}

impl From<&'static [u8]> for Raw {
    fn from(bytes: &'static [u8]) -> Self {
        Raw(Bytes::from_static(bytes))
    }
}

impl Message for Raw {
    fn native_codec() -> Option<CodecId> {
        Some(CodecId::RAW)
    }
    fn size_hint(&self) -> usize {
        self.0.len()
    }
    fn encode(&self, codec: &dyn Codec, out: &mut BytesMut) -> Result<(), CodecError> {
        bound_to::<Self>(codec, CodecId::RAW)?;
        out.extend_from_slice(&self.0);
        Ok(())
    }
    fn decode(codec: &dyn Codec, body: Bytes) -> Result<Self, CodecError> {
        bound_to::<Self>(codec, CodecId::RAW)?;
        Ok(Raw(body))
    }
}

/// A prost message travelling in the protobuf codec.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Proto<T>(pub T);

#[cfg(feature = "protobuf")]
impl<T> Message for Proto<T>
where
    T: prost::Message + Default + Send + 'static,
{
    fn native_codec() -> Option<CodecId> {
        Some(CodecId::PROTOBUF)
    }
    fn size_hint(&self) -> usize {
        self.0.encoded_len()
    }
    fn encode(&self, codec: &dyn Codec, out: &mut BytesMut) -> Result<(), CodecError> {
        bound_to::<Self>(codec, CodecId::PROTOBUF)?;
        self.0
            .encode(out)
            .map_err(|e| CodecError::Encode(e.to_string()))
    }
    fn decode(codec: &dyn Codec, body: Bytes) -> Result<Self, CodecError> {
        bound_to::<Self>(codec, CodecId::PROTOBUF)?;
        T::decode(body)
            .map(Proto)
            .map_err(|e| CodecError::Decode(e.to_string()))
    }
}

fn bound_to<T>(codec: &dyn Codec, native: CodecId) -> Result<(), CodecError> {
    if codec.id() == native {
        Ok(())
    } else {
        Err(CodecError::Unsupported {
            codec: codec.id(),
            type_name: type_name::<T>(),
            // Said by the codec it travels in: the caller (perhaps a tool asking in JSON) can
            // ask again in that one.
            hint: match native {
                CodecId::RAW => "it travels only in codec raw",
                CodecId::PROTOBUF => "it travels only in codec protobuf",
                _ => "it travels only in its own codec",
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Codecs;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug, Clone)]
    struct Sample {
        id: i64,
        name: String,
        #[serde(with = "serde_bytes_compat")]
        payload: Vec<u8>,
    }

    // Byte payloads as msgpack bin / json array without pulling serde_bytes into the crate.
    mod serde_bytes_compat {
        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
        pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            serde::Deserialize::deserialize(d)
        }
    }

    fn sample() -> Sample {
        Sample {
            id: -7,
            name: "sixteen chars ok".into(),
            payload: vec![0xAB; 64],
        }
    }

    #[test]
    fn serde_types_round_trip_in_msgpack_and_json() {
        let codecs = Codecs::default();
        for id in [CodecId::MSGPACK, CodecId::JSON] {
            let codec = codecs.get(id).unwrap();
            let mut out = BytesMut::new();
            sample().encode(codec, &mut out).unwrap();
            assert_eq!(
                Sample::decode(codec, out.freeze()).unwrap(),
                sample(),
                "{id}"
            );
        }
    }

    #[test]
    fn msgpack_uses_named_fields() {
        let codecs = Codecs::default();
        let mut out = BytesMut::new();
        sample()
            .encode(codecs.get(CodecId::MSGPACK).unwrap(), &mut out)
            .unwrap();
        // fixmap of 3 entries, first key "id"
        assert_eq!(&out[..4], &[0x83, 0xa2, b'i', b'd']);
    }

    #[test]
    fn erased_path_matches_fast_path() {
        let codecs = Codecs::default();
        for id in [CodecId::MSGPACK, CodecId::JSON] {
            let codec = codecs.get(id).unwrap();
            let mut fast = BytesMut::new();
            sample().encode(codec, &mut fast).unwrap();
            let mut erased = BytesMut::new();
            codec.encode_erased(&sample(), &mut erased).unwrap();
            assert_eq!(fast, erased);
        }
    }

    #[test]
    fn serde_types_refuse_raw_and_protobuf() {
        let codecs = Codecs::default();
        for id in [CodecId::RAW, CodecId::PROTOBUF] {
            let err = sample()
                .encode(codecs.get(id).unwrap(), &mut BytesMut::new())
                .unwrap_err();
            assert!(matches!(err, CodecError::Unsupported { .. }), "{err}");
        }
    }

    #[test]
    fn raw_passes_bytes_through_and_is_bound_to_raw() {
        let codecs = Codecs::default();
        let raw = codecs.get(CodecId::RAW).unwrap();
        let mut out = BytesMut::new();
        Raw::from(&b"\x00\xffhello"[..])
            .encode(raw, &mut out)
            .unwrap();
        assert_eq!(&out[..], b"\x00\xffhello");
        assert_eq!(
            Raw::decode(raw, out.freeze()).unwrap().0,
            &b"\x00\xffhello"[..]
        );
        let json = codecs.get(CodecId::JSON).unwrap();
        assert!(Raw::decode(json, Bytes::new()).is_err());
        assert_eq!(Raw::native_codec(), Some(CodecId::RAW));
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Point {
        #[prost(int64, tag = "1")]
        x: i64,
        #[prost(string, tag = "2")]
        label: String,
    }

    #[test]
    fn proto_round_trips_in_protobuf_only() {
        let codecs = Codecs::default();
        let pb = codecs.get(CodecId::PROTOBUF).unwrap();
        let point = Proto(Point {
            x: 150,
            label: "a".into(),
        });
        let mut out = BytesMut::new();
        point.encode(pb, &mut out).unwrap();
        assert_eq!(&out[..], &[0x08, 0x96, 0x01, 0x12, 0x01, b'a']);
        assert_eq!(Proto::<Point>::decode(pb, out.freeze()).unwrap(), point);
        let mp = codecs.get(CodecId::MSGPACK).unwrap();
        assert!(point.encode(mp, &mut BytesMut::new()).is_err());
    }

    #[test]
    fn size_hints_are_exact_for_bound_types_and_unknown_for_serde() {
        let codecs = Codecs::default();
        let raw = Raw(vec![1u8; 70_000].into());
        assert_eq!(raw.size_hint(), 70_000);
        let point = Proto(Point {
            x: 150,
            label: "a".into(),
        });
        let mut out = BytesMut::new();
        point
            .encode(codecs.get(CodecId::PROTOBUF).unwrap(), &mut out)
            .unwrap();
        assert_eq!(point.size_hint(), out.len());
        assert_eq!(sample().size_hint(), 0);
    }

    #[test]
    fn deep_nesting_is_a_decode_error_not_a_stack_overflow() {
        let codecs = Codecs::default();
        let depth = 100_000;
        let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let err = serde_json::Value::decode(codecs.get(CodecId::JSON).unwrap(), json.into());
        assert!(err.is_err());
        // msgpack: 100k nested fixarrays of length 1
        let mut deep = vec![0x91u8; depth];
        deep.push(0xc0);
        let err = serde_json::Value::decode(codecs.get(CodecId::MSGPACK).unwrap(), deep.into());
        assert!(err.is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let codecs = Codecs::default();
            for id in codecs.ids().collect::<Vec<_>>() {
                let codec = codecs.get(id).unwrap();
                let _ = serde_json::Value::decode(codec, Bytes::from(body.clone()));
                let _ = Sample::decode(codec, Bytes::from(body.clone()));
            }
        }
    }
}
