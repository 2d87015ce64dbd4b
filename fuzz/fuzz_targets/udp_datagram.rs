//! UDP datagrams as a server and a client read them, and the duplicate window: the invariants are
//! in `fuzz-checks/src/udp_datagram.rs`, whose property tests run them in the normal test suite
//! too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    |input: erpc_fuzz_checks::udp_datagram::Input| erpc_fuzz_checks::udp_datagram::check(input)
);
