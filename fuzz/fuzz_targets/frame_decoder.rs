//! The frame decoder fed an arbitrary byte stream in an arbitrary chunking: the invariants are in
//! `fuzz-checks/src/frame_decoder.rs`, whose property tests run them in the normal test suite too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| erpc_fuzz_checks::frame_decoder::check(data));
