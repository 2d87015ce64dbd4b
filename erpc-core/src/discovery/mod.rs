//! Service discovery: servers register their instances with a registry, clients follow a
//! service's instances and balance calls across them.
//!
//! - [`Register`]: what a server registers with ([`ServerBuilder::register`]
//!   registers every service on start, keeps it alive, and deregisters on shutdown).
//! - [`Discover`]: what a client follows ([`ClientBuilder::discover`] builds a client of a
//!   service name instead of an address).
//! - [`Balancer`]: how a client picks an instance per call, seeing the call ([`Pick`]: names,
//!   metadata, hash key) and each instance's registration and live [`Load`] ([`Candidates`]):
//!   [`RoundRobin`], [`Weighted`], [`Random`], [`LeastOutstanding`], [`P2c`],
//!   [`ConsistentHash`], [`NetworkQuality`], [`Nearest`], or your own (module [`balance`]).
//!
//! Implementations here: [`StaticList`] (fixed addresses) and [`InProcess`] (a registry in
//! this process, for tests). The registry center (`erpc-center`) provides the default one
//! over the network.
//!
//! A client may use only a [`Subset`] of a service's instances (by group, version, tags:
//! `ClientBuilder::subset`), and follow routing rules that pick a subset per call by method,
//! metadata and the caller's data center, with weighted splits ([`RouteTable`]:
//! `ClientBuilder::routes`).
//!
//! A discovered list is the last one the registry gave: when the registry becomes unreachable
//! the client keeps calling the instances it knew.
//!
//! [`ServerBuilder::register`]: crate::ServerBuilder::register
//! [`ClientBuilder::discover`]: crate::ClientBuilder::discover

pub mod balance;
mod in_process;
mod instance;
pub(crate) mod load;
mod route;
pub(crate) mod route_follow;
mod route_plan;
mod static_list;
mod subset;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;

pub use balance::{
    Balancer, Candidates, ConsistentHash, Landed, LeastOutstanding, Locality, Nearest,
    NetworkQuality, P2c, Pick, Random, RoundRobin, Steer, Want, Weighted,
};
pub use in_process::InProcess;
pub use instance::{
    DC_KEY, DEFAULT_WEIGHT, Endpoint, HEALTH_KEY, Instance, NOT_SERVING, STALE_SINCE_KEY,
};
pub use load::Load;
pub use route::{
    ROUTES_PREFIX, RouteError, RouteMatch, RouteRule, RouteTable, WeightedSubset, routes_key,
};
pub use route_follow::ConfigEntries;
pub use static_list::StaticList;
pub use subset::Subset;

use crate::status::Status;

/// A service's current endpoints, shared.
pub type Endpoints = Arc<[Endpoint]>;

/// Follows services' instances.
#[async_trait]
pub trait Discover: Send + Sync + 'static {
    /// The endpoints of `service`, now and as they change. The receiver's value is the
    /// current list; implementations keep the last known list while their registry is
    /// unreachable rather than clearing it.
    async fn subscribe(&self, service: &str) -> Result<watch::Receiver<Endpoints>, Status>;
}

/// Registers instances.
#[async_trait]
pub trait Register: Send + Sync + 'static {
    /// Register `instance` and keep it registered (renewing any lease) until the returned
    /// registration is dropped or deregistered.
    async fn register(&self, instance: Instance) -> Result<Box<dyn Registration>, Status>;
}

/// A live registration.
#[async_trait]
pub trait Registration: Send + Sync {
    /// Remove the instance now (a graceful shutdown), and stop renewing.
    async fn deregister(self: Box<Self>) -> Result<(), Status>;

    /// Replace what is registered (metadata, weight, ...) of the same instance — the same
    /// service and id — keeping it registered: how a server marks its health
    /// ([`crate::discovery::HEALTH_KEY`]). Kept across renewals and re-registrations.
    ///
    /// The default answers `unimplemented`, and a server whose registry cannot update then
    /// deregisters a service while it is not serving and registers it again once it is.
    async fn update(&self, instance: Instance) -> Result<(), Status> {
        let _ = instance;
        Err(Status::unimplemented(
            "this registry cannot update a registration in place",
        ))
    }
}
