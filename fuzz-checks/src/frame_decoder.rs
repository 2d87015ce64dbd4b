//! The frame decoder fed an arbitrary byte stream in an arbitrary chunking.
//!
//! Invariants: the same bytes decode to the same frames, refusals and error whatever the
//! chunking (one read of everything vs reads of the fuzzer's sizes); every frame is within the
//! limits and its body and header block are exactly as long as its header says; an oversized
//! frame is over a limit and within the discard limit; what decodes re-encodes to the same
//! content.

use bytes::BytesMut;
use erpc_core::protocol::{Decoded, FrameDecoder, HEADER_LEN, Limits, ProtocolError};

/// The input's layout, simple enough to write seeds by hand: max_body (2 bytes, big
/// endian), max_head (2), max_metadata (1), max_discard (3), the number of read sizes (1,
/// at most 16), the read sizes (2 bytes each), then the byte stream.
struct Input<'a> {
    limits: Limits,
    chunks: Vec<u16>,
    bytes: &'a [u8],
}

fn parse(data: &[u8]) -> Option<Input<'_>> {
    let (fixed, rest) = data.split_first_chunk::<9>()?;
    let n = usize::from(fixed[8] % 17);
    let (sizes, bytes) = rest.split_at_checked(2 * n)?;
    let limits = Limits {
        max_body: u32::from(u16::from_be_bytes([fixed[0], fixed[1]])),
        max_decompressed: 1 << 20,
        max_head: u32::from(u16::from_be_bytes([fixed[2], fixed[3]])),
        max_metadata_entries: usize::from(fixed[4] % 80),
        max_discard: u64::from(u32::from_be_bytes([0, fixed[5], fixed[6], fixed[7]])),
    };
    let chunks = sizes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    Some(Input {
        limits,
        chunks,
        bytes,
    })
}

type Outcome = Result<Decoded, ProtocolError>;

/// Decode `bytes` arriving in reads of `sizes` (cycled; 0 counts as 1), as the read loop
/// does: after each read, decode until the decoder needs more or fails.
fn decode(limits: Limits, bytes: &[u8], sizes: &[u16]) -> Vec<Outcome> {
    let mut decoder = FrameDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut size = sizes.iter().cycle();
    while at < bytes.len() {
        let n = size.next().map_or(bytes.len(), |&n| usize::from(n).max(1));
        let end = (at + n).min(bytes.len());
        buf.extend_from_slice(&bytes[at..end]);
        at = end;
        loop {
            let max_frame = HEADER_LEN + limits.max_head as usize + limits.max_body as usize;
            assert!(
                decoder.wanted(&buf) <= max_frame,
                "asks for more than a frame"
            );
            match decoder.decode(&mut buf) {
                Ok(Some(d)) => out.push(Ok(d)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }
    out
}

fn check_outcome(limits: &Limits, outcome: &Outcome) {
    match outcome {
        Ok(Decoded::Frame(f)) => {
            assert!(f.header.head_len <= limits.max_head);
            assert!(f.header.body_len <= limits.max_body);
            assert_eq!(f.body.len(), f.header.body_len as usize);
            assert!(f.head.metadata.len() <= limits.max_metadata_entries);
            assert!(f.head.encoded_len() <= f.header.head_len as usize);
            let mut wire = BytesMut::new();
            if f.encode(&mut wire).is_ok() {
                let mut again = FrameDecoder::new(Limits::default());
                match again.decode(&mut wire) {
                    Ok(Some(Decoded::Frame(back))) => assert!(back.same_content(f)),
                    other => panic!("a decoded frame re-encoded does not decode: {other:?}"),
                }
                assert!(wire.is_empty());
            }
        }
        Ok(Decoded::Oversized { header, .. }) => {
            assert!(header.head_len > limits.max_head || header.body_len > limits.max_body);
            assert!(u64::from(header.head_len) + u64::from(header.body_len) <= limits.max_discard);
        }
        Ok(Decoded::BadHead { header, .. }) => {
            assert!(header.head_len <= limits.max_head && header.body_len <= limits.max_body);
        }
        Err(ProtocolError::FrameTooLarge { declared, limit }) => assert!(declared > limit),
        Err(_) => {}
    }
}

/// Run the code under test on `data` and assert the invariants above; panics on a
/// violation.
pub fn check(data: &[u8]) {
    let Some(input) = parse(data) else {
        return;
    };
    let limits = input.limits;
    let whole = decode(limits, input.bytes, &[]);
    let chunked = decode(limits, input.bytes, &input.chunks);
    assert_eq!(whole, chunked, "the chunking changed what was decoded");
    let bytewise = decode(limits, input.bytes, &[1]);
    assert_eq!(
        whole, bytewise,
        "byte-at-a-time reads changed what was decoded"
    );
    for outcome in &whole {
        check_outcome(&limits, outcome);
    }
}
