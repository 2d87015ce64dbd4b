//! Bodies on the wire: compressed above a threshold on the way out, decompressed within a
//! limit on the way in. Shared by client and server.

use bytes::{Bytes, BytesMut};
use erpc_codec::compression::{self, CompressionId};

use crate::protocol::CompressionList;
use crate::status::Status;

/// Starting size of an encode buffer, for requests and responses alike. Large enough that a
/// typical message (the 512-byte benchmark payload included) is encoded without reallocating
/// and copying; growing from 256 bytes cost two reallocations per call (profiled).
pub(crate) const ENCODE_CAPACITY: usize = 1024;

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

/// Undo `compression` on a received body, refusing to inflate past `limit`, and refusing a
/// compression the call did not accept: `accept` is the accept-compression list the call
/// sent (a client), or `None` for any this build supports (a server, PROTOCOL.md §6).
pub(crate) fn decompress(
    compression: CompressionId,
    body: Bytes,
    limit: usize,
    accept: Option<&CompressionList>,
) -> Result<Bytes, Status> {
    if compression == CompressionId::NONE {
        return Ok(body);
    }
    if let Some(accept) = accept
        && !accept.contains(compression)
    {
        return Err(not_accepted(compression, accept));
    }
    Ok(compression::decompress(compression, &body, limit)?)
}

/// `status` with its message prefixed by the side that refused (`"server: …"`), so that a
/// limit error read on the other side says whose limit it was.
pub(crate) fn side_status(side: &str, status: Status) -> Status {
    Status::new(status.code(), format!("{side}: {}", status.message()))
}

/// The failure of a call that received a body compressed with something it did not accept.
fn not_accepted(compression: CompressionId, accept: &CompressionList) -> Status {
    let mut accepted = String::from("none");
    for id in accept.iter().filter(|&id| id != CompressionId::NONE) {
        accepted.push_str(", ");
        accepted.push_str(id.name());
    }
    Status::unimplemented(format!(
        "received a body compressed with {}, which this call does not accept (it accepts {accepted})",
        compression.name()
    ))
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
        assert_eq!(
            decompress(applied, big, 1024, None).unwrap(),
            vec![1u8; 1024]
        );
    }

    #[test]
    fn a_compression_the_call_did_not_accept_is_refused_by_name() {
        let gzip_only: CompressionList = [CompressionId::GZIP].into_iter().collect();
        let body = compression::compress(CompressionId::ZSTD, &[5u8; 2000]).unwrap();
        let err =
            decompress(CompressionId::ZSTD, body.clone(), 4096, Some(&gzip_only)).unwrap_err();
        assert_eq!(err.code(), crate::Code::Unimplemented);
        assert!(
            err.message().contains("zstd") && err.message().contains("none, gzip"),
            "{err}"
        );
        let zstd: CompressionList = [CompressionId::ZSTD].into_iter().collect();
        assert_eq!(
            decompress(CompressionId::ZSTD, body, 4096, Some(&zstd)).unwrap(),
            vec![5u8; 2000]
        );
        let plain = Bytes::from_static(b"plain");
        assert_eq!(
            decompress(CompressionId::NONE, plain.clone(), 16, Some(&gzip_only)).unwrap(),
            plain
        );
    }
}
