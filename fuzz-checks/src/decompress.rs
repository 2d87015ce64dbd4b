//! The gzip, zlib and zstd decompressors on arbitrary input with a limit (targets
//! `decompress_gzip`, `decompress_zlib`, `decompress_zstd`).
//!
//! Invariants: the output never exceeds the limit and a refusal names it; what we compressed
//! comes back whole within the limit and is refused as too large past it.

use erpc_codec::CompressionError;
use erpc_codec::compression::{CompressionId, compress, decompress};

/// Target `decompress_gzip`; panics on a violation.
pub fn gzip(data: &[u8]) {
    check_decompress(CompressionId::GZIP, data);
}

/// Target `decompress_zlib`; panics on a violation.
pub fn zlib(data: &[u8]) {
    check_decompress(CompressionId::ZLIB, data);
}

/// Target `decompress_zstd`; panics on a violation.
pub fn zstd(data: &[u8]) {
    check_decompress(CompressionId::ZSTD, data);
}

/// Decompress the input (after a two-byte limit) with `id`: the output never exceeds the
/// limit, a refusal names it; and the input compressed by us comes back whole if it is
/// within the limit and is refused as too large otherwise.
fn check_decompress(id: CompressionId, data: &[u8]) {
    let Some((limit, input)) = data.split_first_chunk::<2>() else {
        return;
    };
    let limit = usize::from(u16::from_be_bytes(*limit));
    match decompress(id, input, limit) {
        Ok(out) => assert!(out.len() <= limit, "{} bytes out, limit {limit}", out.len()),
        Err(CompressionError::TooLarge { limit: said }) => assert_eq!(said, limit),
        Err(_) => {}
    }
    let packed = compress(id, input).expect("compressing never fails");
    match decompress(id, &packed, limit) {
        Ok(out) => {
            assert!(input.len() <= limit);
            assert_eq!(&out[..], input);
        }
        Err(CompressionError::TooLarge { .. }) => assert!(input.len() > limit),
        Err(e) => panic!("our own {} output refused: {e}", id.name()),
    }
}
