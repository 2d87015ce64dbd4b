//! What a service says of itself: a static description `#[erpc::service]` writes for each
//! service trait ([`crate::Service::descriptor`]); hand-written services may write one too.

use serde::{Deserialize, Serialize};

/// A service: its name and its methods, in declaration order.
#[derive(Debug)]
pub struct ServiceDescriptor {
    /// The name clients call it by.
    pub name: &'static str,
    /// Its methods.
    pub methods: &'static [MethodDescriptor],
}

/// One method.
#[derive(Debug)]
pub struct MethodDescriptor {
    /// The name clients call it by.
    pub name: &'static str,
    /// How it is called.
    pub kind: MethodKind,
    /// Marked `#[idempotent]`: safe to run more than once, so a client may resend it.
    pub idempotent: bool,
    /// What the client sends: the request (the arguments as a tuple when there are several,
    /// `()` when none), or each message of a client or bidirectional stream.
    pub argument: TypeDescriptor,
    /// What the server answers: the response, or each message of a server or bidirectional
    /// stream; `()` for oneway methods.
    pub result: TypeDescriptor,
}

/// A Rust type as written in the service trait.
#[derive(Debug)]
pub struct TypeDescriptor {
    /// The type as written (`String`, `(u32, String)`, `my::Order`).
    pub name: &'static str,
    /// Its JSON Schema as JSON text, if the `schema` feature is on and the type derives
    /// `schemars::JsonSchema`; `None` otherwise.
    pub schema: fn() -> Option<String>,
}

/// How a method is called. On the wire a string: `"unary"`, `"oneway"`, `"client_stream"`,
/// `"server_stream"`, `"bidi_stream"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    /// One request, one response.
    Unary,
    /// One request, no response.
    Oneway,
    /// A stream of requests, one response.
    ClientStream,
    /// One request, a stream of responses.
    ServerStream,
    /// Streams both ways.
    BidiStream,
}

/// The word a person reads in messages: `unary`, `oneway`, `client-streaming`,
/// `server-streaming`, `bidi-streaming` (the wire names are the serde ones above).
impl std::fmt::Display for MethodKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MethodKind::Unary => "unary",
            MethodKind::Oneway => "oneway",
            MethodKind::ClientStream => "client-streaming",
            MethodKind::ServerStream => "server-streaming",
            MethodKind::BidiStream => "bidi-streaming",
        })
    }
}

impl MethodKind {
    /// Whether it is called as a stream (opened, not called with one request).
    pub fn is_stream(self) -> bool {
        matches!(
            self,
            MethodKind::ClientStream | MethodKind::ServerStream | MethodKind::BidiStream
        )
    }
}

/// The `schema` of a type that has none to give (the built-in services' wire types).
pub(crate) fn no_schema() -> Option<String> {
    None
}
