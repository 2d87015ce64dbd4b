//! Codecs and compressors for erpc: pure functions over bytes, no I/O.
//!
//! A *codec* turns a Rust value into a frame body and back; a *compressor* shrinks a body on
//! the wire. Both are chosen per call and named in every frame header by a one-byte id, so the
//! server decodes a request with the codec it names and answers in the same one.
//!
//! ```
//! use erpc_codec::{Codecs, CodecId, Message, compression::{self, CompressionId}};
//! use bytes::BytesMut;
//!
//! #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
//! struct Hello { name: String }
//!
//! let codecs = Codecs::default();
//! let json = codecs.get(CodecId::JSON).expect("json is built in");
//! let mut body = BytesMut::new();
//! Hello { name: "ada".into() }.encode(json, &mut body).unwrap();
//! assert_eq!(&body[..], br#"{"name":"ada"}"#);
//!
//! let packed = compression::compress(CompressionId::ZSTD, &body).unwrap();
//! let back = compression::decompress(CompressionId::ZSTD, &packed, 1024).unwrap();
//! let hello = Hello::decode(json, back.into()).unwrap();
//! assert_eq!(hello.name, "ada");
//! ```
//!
//! # Layout
//! - [`codec`]: the [`Codec`] trait, the [`CodecId`]s and the [`Codecs`] registry.
//! - [`builtin`]: MessagePack (default), JSON, protobuf and raw codecs.
//! - [`message`]: the [`Message`] trait every request and response type implements, with
//!   impls for serde types, [`Proto`] (prost messages) and [`Raw`] (bytes as they are).
//! - [`compression`]: none, gzip, zlib and zstd, with decompression capped at a limit.
//! - [`error`]: [`CodecError`] and [`CompressionError`].
#![warn(missing_docs)]
// Builds with only some formats leave the shared helpers of the others unused.
#![cfg_attr(
    not(all(
        feature = "msgpack",
        feature = "json",
        feature = "gzip",
        feature = "zstd"
    )),
    allow(unused)
)]

pub mod builtin;
pub mod codec;
/// Re-exported so that a custom [`Codec`] can be written with this crate (or `erpc::codec`)
/// alone, at the versions erpc uses: `erased_serde` for the object-safe serde calls,
/// `bytes` for the output buffer.
pub use bytes;
pub use erased_serde;
pub mod compression;
pub mod error;
pub mod message;

pub use codec::{Codec, CodecId, Codecs, DeserializeFn};
pub use error::{CodecError, CompressionError};
pub use message::{Message, Proto, Raw};
