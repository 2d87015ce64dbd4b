//! The zstd decompressor on arbitrary input with a limit: see `erpc_fuzz::check_decompress`.
#![no_main]

use erpc_codec::compression::CompressionId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| erpc_fuzz::check_decompress(CompressionId::ZSTD, data));
