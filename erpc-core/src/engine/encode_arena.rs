//! Where request and response bodies are encoded: small bodies are carved out of one block
//! per thread instead of each getting its own buffer.
//!
//! Why: a body encoded into its own `BytesMut` cost two allocations per message — the buffer,
//! and the shared header `freeze` adds when the buffer is not exactly full — on each side of
//! every unary call (BENCHMARKS.md, "allocations per call"). Carved from a block, a body is a
//! reference-counted slice of it: no allocation, and the block is reused in place once every
//! body cut from it is gone (the usual case: a body lives until its frame is written).
//!
//! Cost: a body kept alive keeps its block (at most [`BLOCK`] bytes) alive with it. Bodies
//! larger than [`OWN_BUFFER_FROM`] get a buffer of their own, so a block never holds more
//! than a few small bodies.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};

/// Size of a thread's block.
pub(crate) const BLOCK: usize = 16 * 1024;
/// An expected size from which a body gets its own buffer instead.
pub(crate) const OWN_BUFFER_FROM: usize = BLOCK / 4;

thread_local! {
    static ARENA: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// Run `encode` on an empty buffer with room for about `expected` bytes and return what it
/// wrote. `expected` only chooses where the buffer comes from and its first size; `encode`
/// may write more (the buffer grows) or less. On error, nothing is kept.
pub(crate) fn encode<E>(
    expected: usize,
    encode: impl FnOnce(&mut BytesMut) -> Result<(), E>,
) -> Result<Bytes, E> {
    if expected >= OWN_BUFFER_FROM {
        let mut own = BytesMut::with_capacity(expected);
        encode(&mut own)?;
        return Ok(own.freeze());
    }
    // Taken out for the encode: an encoder that itself encodes a body (a codec calling back
    // into erpc) then finds an empty arena and starts its own block, nothing is shared.
    let mut arena = ARENA.with(|cell| std::mem::take(&mut *cell.borrow_mut()));
    if arena.capacity() < expected.max(1) {
        // Reclaims the block in place if every body cut from it is gone, else starts a new
        // one; the old one lives on in the bodies still using it.
        arena.reserve(BLOCK);
    }
    let room = arena.capacity();
    let result = encode(&mut arena);
    let body = arena.split();
    // A body larger than the room it was given moved to a buffer of its own size: its rest
    // is not kept, so small bodies never pin a large buffer.
    if body.len() <= room {
        ARENA.with(|cell| {
            let mut slot = cell.borrow_mut();
            // Keep whichever has more room (a nested encode may have left a block behind).
            if arena.capacity() >= slot.capacity() {
                *slot = arena;
            }
        });
    }
    result.map(|()| body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(bytes: &[u8]) -> impl FnOnce(&mut BytesMut) -> Result<(), ()> + '_ {
        move |out| {
            out.extend_from_slice(bytes);
            Ok(())
        }
    }

    #[test]
    fn bodies_are_whole_and_independent() {
        let a = encode(3, write(b"abc")).unwrap();
        let b = encode(3, write(b"defgh")).unwrap();
        let big = encode(OWN_BUFFER_FROM, write(&[7; OWN_BUFFER_FROM + 10])).unwrap();
        assert_eq!(&a[..], b"abc");
        assert_eq!(&b[..], b"defgh");
        assert_eq!(big.len(), OWN_BUFFER_FROM + 10);
        let grown = encode(1, write(&[1; 3 * BLOCK])).unwrap();
        assert_eq!(
            grown.len(),
            3 * BLOCK,
            "an encoder may write past the guess"
        );
        // Written in pieces, the buffer grows by doubling and has room left over.
        let doubled = encode(1, |out| {
            for _ in 0..(3 * BLOCK / 64) {
                out.extend_from_slice(&[5; 64]);
            }
            Ok::<_, ()>(())
        })
        .unwrap();
        let after = encode(1, write(b"small")).unwrap();
        assert_ne!(
            after.as_ptr(),
            doubled.as_ptr_range().end,
            "a small body is not cut from a grown buffer's rest"
        );
        assert_eq!(&a[..], b"abc", "earlier bodies are untouched");
    }

    #[test]
    fn a_failed_encode_leaves_nothing_behind() {
        let failed = encode(8, |out| {
            out.extend_from_slice(b"half");
            Err::<(), _>("no")
        });
        assert_eq!(failed, Err("no"));
        assert_eq!(&encode(8, write(b"next")).unwrap()[..], b"next");
    }

    #[test]
    fn small_bodies_share_a_block_that_is_reused_once_they_are_gone() {
        let first = encode(16, write(&[1; 16])).unwrap();
        let second = encode(16, write(&[2; 16])).unwrap();
        // Cut from the same block: adjacent in memory.
        assert_eq!(first.as_ptr() as usize + 16, second.as_ptr() as usize);
        let block = first.as_ptr();
        drop((first, second));
        // Fill the rest of the block, so the next encode has to reserve: the block comes back.
        let rest = encode(1, |out| {
            let room = out.capacity();
            out.extend_from_slice(&vec![3; room]);
            Ok::<_, ()>(())
        });
        drop(rest);
        let again = encode(16, write(&[4; 16])).unwrap();
        assert_eq!(again.as_ptr(), block, "the block was reused in place");
    }
}
