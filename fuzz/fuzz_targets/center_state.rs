//! The center's state machine against a model: the invariants are in `fuzz-
//! checks/src/center_state.rs`, whose property tests run them in the normal test suite too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    |input: erpc_fuzz_checks::center_state::Input| erpc_fuzz_checks::center_state::check(input)
);
