//! MessagePack bodies decoded into the center's request and answer types: see
//! `erpc_fuzz::check_codec`.
#![no_main]

use erpc_codec::builtin::{Json, MsgPack};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| erpc_fuzz::check_codec(&MsgPack, &Json, body));
