//! The invariants of erpc's fuzz targets (RELIABILITY.md row 4), one module per parser or state
//! machine. Each `check` (or per-codec / per-compression function) panics when an invariant
//! breaks. Two callers, the same functions:
//!
//! - the cargo-fuzz targets in `fuzz/` (`scripts/fuzz.sh`), coverage-guided, by hand: their
//!   first build takes about 24 minutes on 2 cores, over CI's budget;
//! - this crate's property tests (`tests/properties.rs`), in the normal suite and so in CI:
//!   the checked-in seeds (`fuzz/seeds/TARGET/`), mutations of them and random inputs.
//!
//! Typed targets take an `Input` built by `arbitrary` from the fuzzer's bytes, exactly as
//! libFuzzer's `fuzz_target!` does ([`from_bytes`]), so a seed or a crashing input means the
//! same thing to both callers.
#![warn(missing_docs)]

pub mod center_state;
pub mod codec;
pub mod decompress;
pub mod frame_decoder;
pub mod head_block;
pub mod stream_flow;
pub mod udp_datagram;

use arbitrary::{Arbitrary, Unstructured};

/// `T` from `bytes` as `libfuzzer_sys::fuzz_target!` reads a typed input (too few bytes for
/// its size hint, or bytes it cannot read, give `None`: the fuzzer skips those inputs too).
pub fn from_bytes<'a, T: Arbitrary<'a>>(bytes: &'a [u8]) -> Option<T> {
    if bytes.len() < T::size_hint(0).0 {
        return None;
    }
    T::arbitrary_take_rest(Unstructured::new(bytes)).ok()
}
