//! A stream's flow control (inbox and credit) against a model: the invariants are in `fuzz-
//! checks/src/stream_flow.rs`, whose property tests run them in the normal test suite too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    |input: erpc_fuzz_checks::stream_flow::Input| erpc_fuzz_checks::stream_flow::check(input)
);
