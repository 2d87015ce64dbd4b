//! Body compression: none, gzip, zlib, zstd.
//!
//! Decompression never produces more than the caller's limit: the decoder is read through a
//! `take(limit + 1)` adapter, so a bomb stops at the limit with [`CompressionError::TooLarge`]
//! instead of inflating into memory.

use std::fmt;
use std::io::Read;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::CompressionError;

/// The one-byte compression id carried in every frame header. The default is `NONE`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CompressionId(pub u8);

impl CompressionId {
    /// The body is not compressed.
    pub const NONE: CompressionId = CompressionId(0);
    /// gzip (RFC 1952).
    pub const GZIP: CompressionId = CompressionId(1);
    /// zlib (RFC 1950).
    pub const ZLIB: CompressionId = CompressionId(2);
    /// Zstandard (RFC 8878).
    pub const ZSTD: CompressionId = CompressionId(3);

    /// A human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            CompressionId::NONE => "none",
            CompressionId::GZIP => "gzip",
            CompressionId::ZLIB => "zlib",
            CompressionId::ZSTD => "zstd",
            _ => "unknown",
        }
    }

    /// Whether this build can (de)compress with this id.
    // The arms depend on cargo features; as a `matches!` they would not read as a table.
    #[allow(clippy::match_like_matches_macro)]
    pub fn is_supported(self) -> bool {
        match self {
            CompressionId::NONE => true,
            CompressionId::GZIP => cfg!(feature = "gzip"),
            CompressionId::ZLIB => cfg!(feature = "zlib"),
            CompressionId::ZSTD => cfg!(feature = "zstd"),
            _ => false,
        }
    }
}

impl fmt::Debug for CompressionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for CompressionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Compress `input` with `id`.
pub fn compress(id: CompressionId, input: &[u8]) -> Result<Bytes, CompressionError> {
    let mut out = BytesMut::with_capacity(input.len() / 2 + 64);
    compress_into(id, input, &mut out)?;
    Ok(out.freeze())
}

/// Compress `input` with `id`, appending to `out`.
pub fn compress_into(
    id: CompressionId,
    input: &[u8],
    out: &mut BytesMut,
) -> Result<(), CompressionError> {
    use std::io::Write;
    let corrupt = |e: std::io::Error| CompressionError::Corrupt {
        id,
        message: e.to_string(),
    };
    match id {
        CompressionId::NONE => {
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        CompressionId::GZIP => {
            let mut enc = flate2::write::GzEncoder::new(out.writer(), flate2::Compression::fast());
            enc.write_all(input).map_err(corrupt)?;
            enc.finish().map(drop).map_err(corrupt)
        }
        #[cfg(feature = "zlib")]
        CompressionId::ZLIB => {
            let mut enc =
                flate2::write::ZlibEncoder::new(out.writer(), flate2::Compression::fast());
            enc.write_all(input).map_err(corrupt)?;
            enc.finish().map(drop).map_err(corrupt)
        }
        #[cfg(feature = "zstd")]
        CompressionId::ZSTD => {
            let mut enc = zstd::stream::write::Encoder::new(out.writer(), 1).map_err(corrupt)?;
            enc.write_all(input).map_err(corrupt)?;
            enc.finish().map(drop).map_err(corrupt)
        }
        other => Err(CompressionError::Unknown(other.0)),
    }
}

/// Decompress `input`, failing with [`CompressionError::TooLarge`] as soon as the output would
/// pass `limit` bytes.
pub fn decompress(
    id: CompressionId,
    input: &[u8],
    limit: usize,
) -> Result<Bytes, CompressionError> {
    let corrupt = |e: std::io::Error| CompressionError::Corrupt {
        id,
        message: e.to_string(),
    };
    match id {
        CompressionId::NONE => {
            if input.len() > limit {
                return Err(CompressionError::TooLarge { limit });
            }
            Ok(Bytes::copy_from_slice(input))
        }
        #[cfg(feature = "gzip")]
        CompressionId::GZIP => read_capped(flate2::read::GzDecoder::new(input), input, limit)
            .map_err(|e| e.or_corrupt(corrupt)),
        #[cfg(feature = "zlib")]
        CompressionId::ZLIB => read_capped(flate2::read::ZlibDecoder::new(input), input, limit)
            .map_err(|e| e.or_corrupt(corrupt)),
        #[cfg(feature = "zstd")]
        CompressionId::ZSTD => {
            let dec = zstd::stream::read::Decoder::with_buffer(input).map_err(corrupt)?;
            read_capped(dec, input, limit).map_err(|e| e.or_corrupt(corrupt))
        }
        other => Err(CompressionError::Unknown(other.0)),
    }
}

enum CappedError {
    TooLarge(usize),
    Io(std::io::Error),
}

impl CappedError {
    fn or_corrupt(self, corrupt: impl Fn(std::io::Error) -> CompressionError) -> CompressionError {
        match self {
            CappedError::TooLarge(limit) => CompressionError::TooLarge { limit },
            CappedError::Io(e) => corrupt(e),
        }
    }
}

fn read_capped(mut reader: impl Read, input: &[u8], limit: usize) -> Result<Bytes, CappedError> {
    // Start from a guess proportional to the input, never from the (attacker-chosen) limit,
    // and never let the buffer grow past the limit: `read_to_end` would double it beyond
    // (a 4 MiB limit peaked at 8 MiB of heap on a bomb).
    let mut out = Vec::with_capacity(input.len().saturating_mul(4).min(limit).min(1 << 20));
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(out.into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CappedError::Io(e)),
        };
        let needed = out.len() + n;
        if needed > limit {
            return Err(CappedError::TooLarge(limit));
        }
        if needed > out.capacity() {
            let target = out.capacity().saturating_mul(2).clamp(needed, limit);
            out.reserve_exact(target - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [CompressionId; 4] = [
        CompressionId::NONE,
        CompressionId::GZIP,
        CompressionId::ZLIB,
        CompressionId::ZSTD,
    ];

    #[test]
    fn round_trips() {
        let input: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect();
        for id in ALL {
            let packed = compress(id, &input).unwrap();
            let back = decompress(id, &packed, input.len()).unwrap();
            assert_eq!(back, input, "{id}");
        }
    }

    #[test]
    fn exact_limit_passes_and_one_less_fails() {
        let input = vec![7u8; 4096];
        for id in ALL {
            let packed = compress(id, &input).unwrap();
            assert!(decompress(id, &packed, 4096).is_ok(), "{id}");
            let err = decompress(id, &packed, 4095).unwrap_err();
            assert!(
                matches!(err, CompressionError::TooLarge { limit: 4095 }),
                "{id}: {err}"
            );
        }
    }

    /// A bomb made at the best ratio each format offers, as an attacker would.
    pub(crate) fn bomb(id: CompressionId, inflated: usize) -> Vec<u8> {
        use std::io::Write;
        let zeros = vec![0u8; inflated];
        match id {
            CompressionId::GZIP => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                e.write_all(&zeros).unwrap();
                e.finish().unwrap()
            }
            CompressionId::ZLIB => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
                e.write_all(&zeros).unwrap();
                e.finish().unwrap()
            }
            _ => zstd::encode_all(&zeros[..], 19).unwrap(),
        }
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        for id in [
            CompressionId::GZIP,
            CompressionId::ZLIB,
            CompressionId::ZSTD,
        ] {
            let bomb = bomb(id, 16 << 20);
            assert!(bomb.len() < 20 << 10, "{id} bomb is {} bytes", bomb.len());
            let err = decompress(id, &bomb, 10 << 20).unwrap_err();
            assert!(matches!(err, CompressionError::TooLarge { .. }), "{id}");
        }
    }

    #[test]
    fn corrupt_and_unknown_are_errors() {
        for id in [
            CompressionId::GZIP,
            CompressionId::ZLIB,
            CompressionId::ZSTD,
        ] {
            assert!(matches!(
                decompress(id, b"definitely not compressed", 1024),
                Err(CompressionError::Corrupt { .. })
            ));
        }
        assert!(matches!(
            decompress(CompressionId(9), b"", 10),
            Err(CompressionError::Unknown(9))
        ));
        assert!(!CompressionId(9).is_supported());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            for id in ALL {
                let _ = decompress(id, &body, 1 << 16);
            }
        }
    }
}
