//! The header block (TLV) parser on arbitrary blocks: the invariants are in `fuzz-
//! checks/src/head_block.rs`, whose property tests run them in the normal test suite too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| erpc_fuzz_checks::head_block::check(data));
