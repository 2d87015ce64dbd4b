//! Who may read through the dashboard: exactly who may read through the center's erpc API.
//! The check is the center's own admission hook ([`crate::auth::require_token`]) asked about
//! the center method each endpoint reads through, with the request's `Authorization` header
//! as the call's `authorization` metadata — one rule, so the dashboard cannot open a way
//! around it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use erpc_core::extensions::Extensions;
use erpc_core::server::{Admission, CallHead, CallKind};
use erpc_core::{Code, Metadata, PeerAddr};
use tokio::time::Instant;

use super::Failure;

/// The center's service, whose read methods the endpoints stand for.
const CENTER: &str = "erpc.Center";

/// The center's admission rule, if it has one.
#[derive(Clone, Default)]
pub(super) struct Access {
    rule: Option<Arc<dyn Admission>>,
}

impl Access {
    /// The rule of a center with `token` (none: every read is open).
    pub(super) fn new(token: Option<String>, protect_reads: bool) -> Access {
        Access {
            rule: token.map(|token| {
                Arc::new(crate::auth::require_token(token, protect_reads)) as Arc<dyn Admission>
            }),
        }
    }

    /// Whether a request from `peer` with `headers` may do what the center's `method` does:
    /// `Err` is the answer to send — 401 with the center's reason and `WWW-Authenticate:
    /// Bearer` (403 for a refusal of another kind).
    pub(super) fn check(
        &self,
        headers: &HeaderMap,
        peer: SocketAddr,
        method: &str,
    ) -> Result<(), Failure> {
        let Some(rule) = &self.rule else {
            return Ok(());
        };
        let mut metadata = Metadata::new();
        for value in headers.get_all(AUTHORIZATION) {
            metadata.insert(erpc_core::auth::AUTHORIZATION, value.as_bytes().to_vec());
        }
        let extensions = Extensions::default();
        let head = CallHead {
            service: CENTER,
            method,
            metadata: &metadata,
            peer: &PeerAddr::Tcp(peer),
            kind: if method.ends_with("watch") {
                CallKind::Stream
            } else {
                CallKind::Unary
            },
            deadline: Instant::now(),
            wire: Default::default(),
            peer_identity: None,
            extensions: &extensions,
        };
        match rule.admit(&head) {
            Ok(_) => Ok(()),
            Err(status) => {
                let code = if status.code() == Code::Unauthenticated {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::FORBIDDEN
                };
                Err(Failure::new(code, status.message()))
            }
        }
    }
}
