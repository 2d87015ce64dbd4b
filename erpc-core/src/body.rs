//! Bodies on the wire: compressed above a threshold on the way out, decompressed within a
//! limit on the way in. Shared by client and server.

use bytes::{Bytes, BytesMut};
use erpc_codec::compression::{self, CompressionId};

use crate::status::Status;

/// Compress `body` with `wanted` if it reaches `threshold`, recording what was applied.
pub(crate) fn compress(
    wanted: CompressionId,
    body: Bytes,
    threshold: usize,
    applied: &mut CompressionId,
) -> Result<Bytes, Status> {
    if wanted == CompressionId::NONE || body.len() < threshold {
        *applied = CompressionId::NONE;
        return Ok(body);
    }
    let mut out = BytesMut::with_capacity(body.len() / 2 + 64);
    compression::compress_into(wanted, &body, &mut out)?;
    *applied = wanted;
    Ok(out.freeze())
}

/// Undo `compression` on a received body, refusing to inflate past `limit`.
pub(crate) fn decompress(
    compression: CompressionId,
    body: Bytes,
    limit: usize,
) -> Result<Bytes, Status> {
    if compression == CompressionId::NONE {
        return Ok(body);
    }
    Ok(compression::decompress(compression, &body, limit)?)
}

/// `status` with its message prefixed by the side that refused (`"server: …"`), so that a
/// limit error read on the other side says whose limit it was.
pub(crate) fn side_status(side: &str, status: Status) -> Status {
    Status::new(status.code(), format!("{side}: {}", status.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_below_the_threshold_go_uncompressed_and_say_so() {
        let mut applied = CompressionId::ZSTD;
        let small = compress(
            CompressionId::ZSTD,
            Bytes::from(vec![1u8; 1023]),
            1024,
            &mut applied,
        )
        .unwrap();
        assert_eq!((applied, small.len()), (CompressionId::NONE, 1023));
        let big = compress(
            CompressionId::ZSTD,
            Bytes::from(vec![1u8; 1024]),
            1024,
            &mut applied,
        )
        .unwrap();
        assert_eq!(applied, CompressionId::ZSTD);
        assert_eq!(decompress(applied, big, 1024).unwrap(), vec![1u8; 1024]);
    }
}
