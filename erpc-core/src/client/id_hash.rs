//! A cheap hash for the client's own request ids.
//!
//! The client chooses its ids (sequentially), so nobody can pick keys that collide, and
//! SipHash's flooding resistance buys nothing there. The server's table of running calls is
//! keyed by ids a client chooses and keeps the standard hasher.

use std::hash::{BuildHasherDefault, Hasher};

/// Fibonacci hashing: one multiply spreads sequential ids over all 64 bits (the table uses the
/// top bits too).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed with this; fold anything else in anyway.
        for b in bytes {
            self.write_u64(u64::from(*b) ^ self.0.rotate_left(8));
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// `HashMap` hasher for request ids chosen by this side.
pub(crate) type BuildIdHasher = BuildHasherDefault<IdHasher>;
