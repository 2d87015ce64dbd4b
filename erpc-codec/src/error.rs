//! Errors of encoding, decoding and (de)compression.

use crate::codec::CodecId;
use crate::compression::CompressionId;

/// A value could not be encoded or a body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// No codec with this id is registered on this peer.
    #[error("unknown codec id {0}")]
    UnknownCodec(u8),
    /// The codec exists, but this type cannot travel in it (a serde type in the protobuf
    /// codec, say). The message names the codec and the hint, not the Rust type: it reaches
    /// callers who know the method by its schema (a tool, another language); the type stays
    /// in the field (and `Debug`) for the program's author.
    #[error("this message cannot be carried in codec {codec}: {hint}")]
    Unsupported {
        /// The codec that was asked for.
        codec: CodecId,
        /// The Rust type that was asked for (not in the message).
        type_name: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// Serialisation failed.
    #[error("encode failed: {0}")]
    Encode(String),
    /// The body is not a valid value of the expected type in this codec.
    #[error("decode failed: {0}")]
    Decode(String),
}

/// A body could not be compressed or decompressed.
#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    /// No compressor with this id is built into this peer.
    #[error("unknown compression id {0}")]
    Unknown(u8),
    /// Decompression would exceed the allowed size; it stopped at the limit.
    #[error("decompressed body exceeds the limit of {limit} bytes (limits.max_decompressed)")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The compressed data is corrupt.
    #[error("{id} data is corrupt: {message}")]
    Corrupt {
        /// The compressor.
        id: CompressionId,
        /// What the decompressor said.
        message: String,
    },
}
