//! The header block (TLV) parser on arbitrary blocks.
//!
//! Invariants: no panic; a parsed block has at most the metadata limit; any block holding a
//! field with a critical tag (0x80 and up) that is reached is refused; what parses
//! re-encodes to a block that parses to the same head, and is no longer than the original
//! (unknown fields are dropped, nothing is added).

use bytes::{Bytes, BytesMut};
use erpc_core::protocol::{Head, HeadError};

/// Run the code under test on `data` and assert the invariants above; panics on a
/// violation.
pub fn check(data: &[u8]) {
    let Some((&max, block)) = data.split_first() else {
        return;
    };
    let max = usize::from(max % 80);
    match Head::decode(Bytes::copy_from_slice(block), max) {
        Ok(head) => {
            assert!(head.metadata.len() <= max);
            // Walk the TLVs ourselves: every field fits, and none is critical.
            let mut at = 0;
            while at < block.len() {
                assert!(block.len() - at >= 3, "accepted a truncated field");
                let len = usize::from(u16::from_be_bytes([block[at + 1], block[at + 2]]));
                assert!(block[at] < 0x80, "accepted a critical tag");
                at += 3 + len;
            }
            assert_eq!(at, block.len(), "accepted a field running past the block");
            assert!(head.fits());
            let mut again = BytesMut::new();
            head.encode(&mut again);
            assert_eq!(again.len(), head.encoded_len());
            assert!(again.len() <= block.len());
            let back = Head::decode(again.freeze(), max).expect("a re-encoded head parses");
            assert_eq!(back, head);
        }
        Err(HeadError::TooManyMetadata(n)) => assert_eq!(n, max),
        Err(_) => {}
    }
}
