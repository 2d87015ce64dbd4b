//! One module per stack, each with `serve(addr)` and `connect(addr, conns) -> impl Caller`.

pub mod erpc_stack;
pub mod observed;
pub mod raw;
pub mod tarpc_stack;
pub mod tonic_stack;
