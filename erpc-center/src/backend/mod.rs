//! Where a center's state lives. The erpc service ([`crate::service`]) checks and logs each
//! call, then hands it to a backend:
//!
//! - [`local::Local`]: the state in this process ([`crate::state::CenterState`]), persisted to
//!   a [`crate::store::Store`] (redb by default). One center owns it; revisions are gapless.
//! - `etcd::EtcdBackend` (feature `etcd`): the state in etcd — instances as keys under etcd
//!   leases, revisions and watch replay from etcd — so any number of centers can serve the
//!   same registry, and clients fail over between them.

pub mod local;

#[cfg(feature = "etcd")]
pub mod etcd;

use std::time::Duration;

use async_trait::async_trait;
use erpc_core::{ServerStream, Status};

use crate::model::{Change, Event, Filter, Instance};
use crate::service::{ConfigListing, Lease, Listing};
use crate::state::Registration;

/// Which changes a watch follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Instance changes of one service, or of every service for `""`.
    Service(String),
    /// Config changes of keys under a prefix.
    Config(String),
}

impl Scope {
    /// Whether `change` is in scope.
    pub fn matches(&self, change: &Change) -> bool {
        match self {
            Scope::Service(service) => change
                .service()
                .is_some_and(|s| service.is_empty() || s == service),
            Scope::Config(prefix) => change.key().is_some_and(|k| k.starts_with(prefix)),
        }
    }
}

/// A center's state: the [`crate::Center`] API after its arguments were checked (names
/// present, TTL within the center's bounds).
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Register `instance` under a new lease of (about) `ttl`.
    async fn register(&self, instance: Instance, ttl: Duration) -> Result<Lease, Status>;
    /// Renew `lease`; `None` if it is unknown (expired or deregistered). The lease's TTL.
    async fn renew(&self, lease: u64) -> Result<Option<Duration>, Status>;
    /// Remove an instance now. Whether it was registered, and the revision of its removal
    /// (the current revision if it was not).
    async fn deregister(&self, service: &str, id: &str) -> Result<(bool, u64), Status>;
    /// Remove the instance `lease` keeps, if it still keeps one, and end the lease. Whether
    /// an instance was removed, and the revision (the current one if none was).
    async fn release(&self, lease: u64) -> Result<(bool, u64), Status>;
    /// The instances of `service` passing `filter`.
    async fn discover(&self, service: &str, filter: &Filter) -> Result<Listing, Status>;
    /// The changes in `scope` after revision `from` of history `epoch` (0: unchecked), then
    /// live ones; `out_of_range` if they cannot be replayed: `from` is too old, past the
    /// current revision, or `epoch` is not this backend's.
    async fn watch(
        &self,
        scope: Scope,
        from: u64,
        epoch: u64,
    ) -> Result<ServerStream<Event>, Status>;
    /// Set a config key. The revision.
    async fn config_set(&self, key: String, value: String) -> Result<u64, Status>;
    /// Delete a config key. The revision (the current one if it was not set).
    async fn config_delete(&self, key: &str) -> Result<u64, Status>;
    /// Config entries under `prefix`.
    async fn config_get(&self, prefix: &str) -> Result<ConfigListing, Status>;
    /// The registry's figures now, for metrics; `None` (the default) if this backend does
    /// not keep them (they are read at every scrape: keep it cheap, never block long).
    fn stats(&self) -> Option<crate::stats::RegistryStats> {
        None
    }

    /// The registrations of `service` (`""`: every service) with their leases and the time
    /// each has left, and the revision and epoch they are current at — `None` from a
    /// backend that does not keep leases of its own (etcd's are etcd's). What the dashboard
    /// shows; by default `None`.
    async fn registrations(&self, service: &str) -> Result<Option<Registrations>, Status> {
        let _ = service;
        Ok(None)
    }
}

/// Registrations with their leases ([`Backend::registrations`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Registrations {
    /// Each registration and how long its lease has left (zero: expired, not yet removed).
    pub registrations: Vec<(Registration, Duration)>,
    /// The revision they are current at.
    pub revision: u64,
    /// Which history `revision` belongs to.
    pub epoch: u64,
}
