//! The messages of `erpc.Reflection` (PROTOCOL.md §16), in whatever codec the call used.

use serde::{Deserialize, Serialize};

use super::descriptor::{MethodKind, ServiceDescriptor, TypeDescriptor};

/// `list`'s answer. On the wire `{"services": [string]}`, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListResponse {
    /// Every service the server answers, built-in ones included.
    pub services: Vec<String>,
}

/// `describe`'s request. On the wire `{"service": string}`; `service` may be left out and
/// then is `""`: every service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribeRequest {
    /// The service to describe; `""` for all.
    #[serde(default)]
    pub service: String,
}

/// `describe`'s answer. On the wire `{"services": [ServiceInfo]}`, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribeResponse {
    /// The service asked for, or all of them.
    pub services: Vec<ServiceInfo>,
}

/// One service. On the wire `{"name", "described", "methods"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Its name.
    pub name: String,
    /// Whether the service described itself ([`crate::Service::descriptor`]): if not (a
    /// hand-written service), only its method names are known and every other field of its
    /// methods is null.
    pub described: bool,
    /// Its methods, in declaration order (as the service lists them if not described).
    pub methods: Vec<MethodInfo>,
}

/// One method. On the wire `{"name", "kind", "idempotent", "argument", "result"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodInfo {
    /// Its name.
    pub name: String,
    /// How it is called; null if the service did not say.
    pub kind: Option<MethodKind>,
    /// Marked idempotent; null if the service did not say.
    pub idempotent: Option<bool>,
    /// What the client sends; null if the service did not say.
    pub argument: Option<TypeInfo>,
    /// What the server answers; null if the service did not say.
    pub result: Option<TypeInfo>,
}

/// A type. On the wire `{"name": string, "schema": string | null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeInfo {
    /// The Rust type as written in the service trait.
    pub name: String,
    /// Its JSON Schema (draft 2020-12) as JSON text, when the server was built with the
    /// `schema` feature and the type derives `schemars::JsonSchema`; else null.
    pub schema: Option<String>,
}

impl ServiceInfo {
    /// A described service.
    pub fn described(descriptor: &ServiceDescriptor) -> ServiceInfo {
        let ty = |t: &TypeDescriptor| TypeInfo {
            name: t.name.to_owned(),
            schema: (t.schema)(),
        };
        ServiceInfo {
            name: descriptor.name.to_owned(),
            described: true,
            methods: descriptor
                .methods
                .iter()
                .map(|m| MethodInfo {
                    name: m.name.to_owned(),
                    kind: Some(m.kind),
                    idempotent: Some(m.idempotent),
                    argument: Some(ty(&m.argument)),
                    result: Some(ty(&m.result)),
                })
                .collect(),
        }
    }

    /// A service that only listed its method names.
    pub fn names_only(name: &str, methods: &[&str]) -> ServiceInfo {
        ServiceInfo {
            name: name.to_owned(),
            described: false,
            methods: methods
                .iter()
                .map(|m| MethodInfo {
                    name: (*m).to_owned(),
                    kind: None,
                    idempotent: None,
                    argument: None,
                    result: None,
                })
                .collect(),
        }
    }
}
