//! The zlib decompressor on arbitrary input with a limit: the invariants are in `fuzz-
//! checks/src/decompress.rs`, whose property tests run them in the normal test suite too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| erpc_fuzz_checks::decompress::zlib(data));
