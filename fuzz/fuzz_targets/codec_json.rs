//! JSON bodies decoded into the center's request and answer types: the invariants are in `fuzz-
//! checks/src/codec.rs`, whose property tests run them in the normal test suite too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| erpc_fuzz_checks::codec::json(data));
