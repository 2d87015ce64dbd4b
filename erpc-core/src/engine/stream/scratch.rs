//! The encode memory of one side of a stream: the last message's size, the next message's
//! first guess, so a large message reserves about its size at once instead of doubling its
//! way up (each doubling a copy of everything encoded so far: ~1.7 MiB of reallocation copies
//! per 1 MiB message; BENCHMARKS.md, "streams, instructions per message"). Where the bytes
//! come from is [`encode_arena`]'s business, as for unary bodies: small messages are cut from
//! the thread's block; a large one is encoded into a buffer an earlier message used, once the
//! writer is done with it ([`Lent`]), else into a buffer of its own.

use bytes::{Bytes, BytesMut};

use super::lent::{KEEP_FROM, Lent};
use crate::engine::encode_arena;

/// A stream side's encode memory (see the module's documentation).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The size of the last message encoded: the next one's first guess.
    last: usize,
    /// Large messages' buffers, reused once written.
    lent: Lent,
}

impl Scratch {
    /// Run `encode` (which appends one message to the buffer it is given) and return what it
    /// wrote. `hint` is the message's own size estimate (0 if unknown). On an error nothing
    /// written is kept.
    pub fn encode<E>(
        &mut self,
        hint: usize,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), E>,
    ) -> Result<Bytes, E> {
        let guess = self.guess(hint);
        let reused = match guess >= KEEP_FROM {
            true => self.lent.reclaim(guess),
            false => None,
        };
        let body = match reused {
            Some(mut buffer) => {
                encode(&mut buffer)?;
                buffer.freeze()
            }
            None => encode_arena::encode(guess, encode)?,
        };
        self.remember(body.len());
        self.lent.lend(&body);
        Ok(body)
    }

    /// The expected size of the next message whose own estimate is `hint`.
    pub fn guess(&self, hint: usize) -> usize {
        hint.max(self.last)
    }

    fn remember(&mut self, len: usize) {
        self.last = len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_messages_share_a_block_and_a_failed_encode_keeps_nothing() {
        let mut scratch = Scratch::default();
        let a = scratch
            .encode(0, |b| {
                b.extend_from_slice(b"one");
                Ok::<_, ()>(())
            })
            .unwrap();
        let failed = scratch.encode(0, |b| {
            b.extend_from_slice(b"half");
            Err(())
        });
        let c = scratch
            .encode(0, |b| {
                b.extend_from_slice(b"three");
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(
            (&a[..], failed, &c[..]),
            (&b"one"[..], Err(()), &b"three"[..])
        );
        // Cut from one block: the second message starts right after the first's bytes (and
        // the failed one's, which were discarded).
        assert_eq!(c.as_ptr() as usize - a.as_ptr() as usize, 3 + 4);
    }

    #[test]
    fn a_large_message_s_buffer_is_reused_once_written() {
        let mut scratch = Scratch::default();
        let fill = |byte: u8| {
            move |b: &mut BytesMut| {
                b.extend_from_slice(&[byte; 300_000]);
                Ok::<_, ()>(())
            }
        };
        let first = scratch.encode(0, fill(1)).unwrap();
        let at = first.as_ptr();
        // Still queued (held by the writer): the next message gets other memory.
        let second = scratch.encode(0, fill(2)).unwrap();
        assert_ne!(second.as_ptr(), at);
        drop(first);
        let third = scratch.encode(0, fill(3)).unwrap();
        assert_eq!(third.as_ptr(), at, "the written message's memory, reused");
        assert!(third.iter().all(|&b| b == 3) && third.len() == 300_000);
        assert!(
            second.iter().all(|&b| b == 2),
            "a held message is untouched"
        );
    }

    #[test]
    fn a_large_message_is_not_kept_and_sizes_the_next() {
        let mut scratch = Scratch::default();
        let big = scratch
            .encode(0, |b| {
                b.extend_from_slice(&[1; 300_000]);
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(big.len(), 300_000);
        // Not kept: the next small encode is not cut from the large message's buffer.
        let small = encode_arena::encode(1, |b| {
            b.extend_from_slice(&[0]);
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_ne!(small.as_ptr() as usize, big.as_ptr() as usize + big.len());
        drop(big);
        scratch
            .encode(0, |b| {
                assert!(b.capacity() >= 300_000, "reserved the last size at once");
                b.extend_from_slice(&[2; 300_000]);
                Ok::<_, ()>(())
            })
            .unwrap();
    }
}
