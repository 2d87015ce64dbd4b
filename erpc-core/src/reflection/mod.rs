//! Service reflection: what a server serves, asked over the wire.
//!
//! Every server answers the built-in service `erpc.Reflection` (PROTOCOL.md §16) unless
//! [`crate::ServerBuilder::reflection`] turns it off: the names of its services and, for
//! each, its methods with their call kind, idempotency and argument and result types. Tools
//! (`erpc describe`, `erpc call`) use it to call any service by name without its code.
//!
//! - [`descriptor`]: what a service says of itself ([`ServiceDescriptor`], static, written
//!   by `#[erpc::service]`).
//! - [`wire`]: the messages of `erpc.Reflection`.
//! - `service`: the service itself, over a server's services.
//! - [`schema`]: JSON Schemas of argument and result types (feature `schema`).

pub mod descriptor;
pub mod schema;
pub(crate) mod service;
pub mod wire;

pub use descriptor::{MethodDescriptor, MethodKind, ServiceDescriptor, TypeDescriptor};
pub use wire::{
    DescribeRequest, DescribeResponse, ListResponse, MethodInfo, ServiceInfo, TypeInfo,
};

/// The built-in reflection service's name.
pub const SERVICE: &str = "erpc.Reflection";
/// Unary, `{}` → [`ListResponse`]: the names of the services served.
pub const LIST: &str = "list";
/// Unary, [`DescribeRequest`] → [`DescribeResponse`]: one service (or all) in full.
pub const DESCRIBE: &str = "describe";
