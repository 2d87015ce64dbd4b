//! erpc's registry center: servers register their instances under leases, clients discover
//! them by service name and watch changes, and both can read and follow live configuration.
//!
//! ```no_run
//! use erpc_center::{CenterClient, CenterConfig, CenterImpl, CenterServer, Instance};
//! use erpc_center::store::memory::MemoryStore;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A center (the `erpc-center` binary does this with a durable store).
//! let center = CenterImpl::open(Box::new(MemoryStore), CenterConfig::default())?;
//! let server = erpc_core::Server::builder()
//!     .add_service(CenterServer::new(center))
//!     .serve(["tcp://127.0.0.1:7070"])
//!     .await?;
//!
//! // A provider registers; a consumer discovers.
//! let client = CenterClient::new(erpc_core::Client::new("tcp://127.0.0.1:7070")?);
//! let lease = client
//!     .register(Instance::new("greeter", "node-1", "tcp://10.0.0.5:7001"), 10_000)
//!     .await?;
//! client.renew(lease.id).await?;
//! let listing = client.discover("greeter".into(), Default::default()).await?;
//! assert_eq!(listing.instances.len(), 1);
//! # server.shutdown().await; Ok(()) }
//! ```
//!
//! Guarantees and the API in full: CENTER.md.
//!
//! # Layout
//! - [`auth`]: the token a center can require (for writes, and reads if chosen).
//! - [`model`]: instances, filters, changes and events.
//! - [`state`]: the center's state machine ([`state::CenterState`]: leases, revisions,
//!   replay), without I/O.
//! - [`store`]: where state survives restarts ([`store::redb`], [`store::memory`]).
//! - [`backend`]: where a center's state lives: in this process over a store
//!   ([`backend::local`]), or in etcd (`backend::etcd`, feature `etcd`) shared by many centers.
//! - [`federation`]: centers of several data centers, each mirroring its peers' own
//!   registrations read-only (`--dc`, `--follow`; CENTER.md, "Federation").
//! - `routes`: the checks of routing rules (`erpc/routes/<service>` config entries) when
//!   they are written (CENTER.md, "Routing rules").
//! - [`service`]: the erpc service ([`Center`], [`CenterImpl`]).
//! - `dashboard` (feature `dashboard`): the web page and its JSON/SSE API
//!   (`erpc-center --http`).
//! - [`stats`]: what a center holds now ([`CenterImpl::stats`]), for its metrics.
//! - [`token_flags`]: the command-line flags a client of a protected center takes for its
//!   token (`--center-token`, `ERPC_CENTER_TOKEN`), shared by `erpc` and `erpc-gateway`.
//! - [`registries`]: the client side, in one place — [`CenterRegistry`] (erpc's `Register`
//!   and `Discover` over centers), `etcd` (feature `etcd`: `EtcdRegistry`, straight on etcd),
//!   `zookeeper` (feature `zookeeper`: `ZooKeeperRegistry`, ephemeral nodes) and `mdns`
//!   (feature `mdns`: `MdnsRegistry`, multicast DNS on a LAN); re-exported at the crate
//!   root as before.
#![warn(missing_docs)]

pub mod auth;
pub mod backend;
#[cfg(feature = "config")]
pub mod config_client;
#[cfg(feature = "dashboard")]
pub mod dashboard;
pub mod env_flags;
pub mod federation;
pub mod instance_id;
#[cfg(feature = "config")]
pub mod live_config;
pub mod model;
pub mod registries;
mod routes;
pub mod service;
pub mod service_name;
pub mod state;
pub mod stats;
pub mod store;
pub mod token_flags;

pub use model::{Change, Event, Filter, Instance};
#[cfg(feature = "etcd")]
pub use registries::etcd;
#[cfg(feature = "mdns")]
pub use registries::mdns;
#[cfg(feature = "zookeeper")]
pub use registries::zookeeper;
pub use registries::{CenterRegistry, CenterRegistryBuilder};
pub use service::{
    Center, CenterClient, CenterConfig, CenterImpl, CenterServer, ConfigListing, Lease, Listing,
};
