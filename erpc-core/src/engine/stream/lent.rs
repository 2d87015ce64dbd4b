//! Large stream buffers taken back once whoever they were lent to is done with them.
//!
//! Why: a stream of large messages allocated a fresh buffer of the message's size for every
//! message on each side (the encoded body, the reassembled chunks), and freed it a moment
//! later. glibc gives the freed top of its heap back to the kernel once more than its trim
//! threshold is free, so the next message's buffer is new memory again: every page of it a
//! page fault, zeroed by the kernel. At 1 MiB per message that was ~400 page faults per
//! message on the client and a quarter of the stream's wall-clock time (BENCHMARKS.md,
//! "streams: large buffers taken back"). A buffer kept and reused costs no fault.
//!
//! A body handed on (to the writer, to a handler) is shared, not copied; a clone is kept
//! here, and when every other holder has let go, [`Bytes::try_into_mut`] gives the whole
//! allocation back without a copy. A buffer still held elsewhere is simply not reused.
//!
//! Cost: up to [`KEPT`] buffers of the largest messages stay allocated for the stream's
//! life (each at most the message size limit, `limits.max_body`).

use bytes::{Bytes, BytesMut};

/// Buffers kept per stream side: two, so that while the writer still holds the last
/// message the one before it is usually free.
const KEPT: usize = 2;

/// From this size a buffer is worth keeping; smaller messages come from the per-thread
/// encode block or are passed on without a copy.
pub(crate) const KEEP_FROM: usize = crate::engine::encode_arena::OWN_BUFFER_FROM;

/// The buffers one stream side lent out (see the module's documentation).
#[derive(Debug, Default)]
pub(crate) struct Lent {
    buffers: [Option<Bytes>; KEPT],
    /// The slot the next lent buffer replaces.
    next: usize,
}

impl Lent {
    /// An empty buffer with room for at least `len` bytes, if one lent earlier is free again.
    pub fn reclaim(&mut self, len: usize) -> Option<BytesMut> {
        for slot in &mut self.buffers {
            let Some(lent) = slot.take() else { continue };
            match lent.try_into_mut() {
                Ok(mut free) if free.capacity() >= len => {
                    free.clear();
                    return Some(free);
                }
                // Free but too small for this message: let it go; the new one will be kept.
                Ok(_) => {}
                Err(still_held) => *slot = Some(still_held),
            }
        }
        None
    }

    /// Keep a handle on `body`, handed on now, to reuse its memory once it is free.
    pub fn lend(&mut self, body: &Bytes) {
        if body.len() < KEEP_FROM {
            return;
        }
        self.buffers[self.next] = Some(body.clone());
        self.next = (self.next + 1) % KEPT;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(fill: u8) -> Bytes {
        let mut buf = BytesMut::with_capacity(KEEP_FROM * 2);
        buf.resize(KEEP_FROM * 2, fill);
        buf.freeze()
    }

    #[test]
    fn a_buffer_comes_back_only_once_nobody_else_holds_it() {
        let mut lent = Lent::default();
        let body = big(1);
        let at = body.as_ptr();
        lent.lend(&body);
        assert!(lent.reclaim(10).is_none(), "still held by the writer");
        drop(body);
        let again = lent.reclaim(KEEP_FROM * 2).expect("free again");
        assert_eq!(
            (again.as_ptr(), again.len()),
            (at, 0),
            "the same memory, emptied"
        );
        assert!(again.capacity() >= KEEP_FROM * 2);
        assert!(lent.reclaim(1).is_none(), "given out once");
    }

    #[test]
    fn small_bodies_are_not_kept_and_too_small_buffers_are_let_go() {
        let mut lent = Lent::default();
        lent.lend(&Bytes::from_static(b"small"));
        assert!(lent.reclaim(1).is_none());
        lent.lend(&big(2));
        assert!(lent.reclaim(KEEP_FROM * 4).is_none(), "too small: dropped");
        assert!(lent.reclaim(1).is_none(), "and not kept");
    }

    #[test]
    fn the_older_of_two_is_reused_while_the_newer_is_held() {
        let mut lent = Lent::default();
        let first = big(1);
        let second = big(2);
        let first_at = first.as_ptr();
        lent.lend(&first);
        lent.lend(&second);
        drop(first);
        let again = lent.reclaim(KEEP_FROM).expect("the first is free");
        assert_eq!(again.as_ptr(), first_at);
        drop(second);
    }
}
