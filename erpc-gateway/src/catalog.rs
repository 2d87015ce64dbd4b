//! What each service's methods are — call kind, idempotency — from the servers' reflection
//! (`erpc.Reflection`, PROTOCOL.md §16), kept for a while so a request costs one call, not two.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use erpc_core::reflection::{
    DESCRIBE, DescribeRequest, DescribeResponse, MethodKind, SERVICE, ServiceInfo,
};
use erpc_core::{CallOptions, Client, Code};
use tokio::time::Instant;

use crate::error::ApiError;

/// How a method is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Method {
    pub kind: MethodKind,
    /// Safe to resend (`#[idempotent]`): the client's fail modes may retry it after it was
    /// sent.
    pub idempotent: bool,
}

/// A method of a server without reflection: called as unary, never resent once sent.
const UNDESCRIBED: Method = Method {
    kind: MethodKind::Unary,
    idempotent: false,
};

/// Services described, each for [`Catalog::ttl`] (redeployed servers are seen again after
/// it). At most [`Catalog::MAX`] entries: past it, the oldest half is forgotten.
pub(crate) struct Catalog {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

/// When a service was described, and how: `None` if the server has no reflection
/// (`unimplemented`).
type Entry = (Instant, Option<Arc<ServiceInfo>>);

impl Catalog {
    /// Entries kept at most: services are only entered once a server described them (or
    /// said it has no reflection), so this bounds a server without reflection.
    const MAX: usize = 4096;

    pub(crate) fn new(ttl: Duration) -> Catalog {
        Catalog {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// `service.method` as `client`'s server describes it, asked (when not known) with the
    /// request's `options` — its metadata and timeout, so a server that authenticates every
    /// call answers the reflection call too. An unknown service or method is a 404 naming
    /// the ones there are; a server without reflection has its methods called as unary.
    pub(crate) async fn method(
        &self,
        client: &Client,
        service: &str,
        method: &str,
        options: &CallOptions,
    ) -> Result<Method, ApiError> {
        let Some(info) = self.service(client, service, options).await? else {
            return Ok(UNDESCRIBED);
        };
        let Some(found) = info.methods.iter().find(|m| m.name == method) else {
            let names: Vec<&str> = info.methods.iter().map(|m| m.name.as_str()).collect();
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                Code::NotFound,
                format!(
                    "service {service:?} has no method {method:?}; it has {}",
                    names.join(", ")
                ),
            ));
        };
        Ok(Method {
            kind: found.kind.unwrap_or(MethodKind::Unary),
            idempotent: found.idempotent == Some(true),
        })
    }

    async fn service(
        &self,
        client: &Client,
        service: &str,
        options: &CallOptions,
    ) -> Result<Option<Arc<ServiceInfo>>, ApiError> {
        if let Some(fresh) = self.fresh(service) {
            return Ok(fresh);
        }
        let asked = DescribeRequest {
            service: service.to_owned(),
        };
        let described = match client
            .call::<_, DescribeResponse>(SERVICE, DESCRIBE, asked)
            .options(options.clone())
            .await
        {
            // The reflection service's not_found names the services there are.
            Ok(answer) => answer
                .services
                .into_iter()
                .find(|s| s.name == service)
                .map(Arc::new),
            Err(status) if status.code() == Code::Unimplemented => None,
            Err(status) => return Err(status.into()),
        };
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= Catalog::MAX {
            let mut ages: Vec<Instant> = entries.values().map(|(at, _)| *at).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            entries.retain(|_, (at, _)| *at > cut);
        }
        entries.insert(service.to_owned(), (Instant::now(), described.clone()));
        Ok(described)
    }

    fn fresh(&self, service: &str) -> Option<Option<Arc<ServiceInfo>>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (at, info) = entries.get(service)?;
        (at.elapsed() < self.ttl).then(|| info.clone())
    }
}
