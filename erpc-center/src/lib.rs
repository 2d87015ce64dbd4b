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
//! - [`model`]: instances, filters, changes and events.
//! - [`registry`]: the state machine (leases, revisions, replay), without I/O.
//! - [`store`]: where state survives restarts ([`store::redb`], [`store::memory`]).
//! - [`backend`]: where a center's state lives: in this process over a store
//!   ([`backend::local`]), or in etcd (`backend::etcd`, feature `etcd`) shared by many centers.
//! - [`service`]: the erpc service ([`Center`], [`CenterImpl`]).
//! - [`discovery`]: [`CenterRegistry`], erpc's `Register` and `Discover` over centers.
//! - `etcd` (feature `etcd`): `EtcdRegistry`, the same traits straight on etcd.
//! - `zookeeper` (feature `zookeeper`): `ZooKeeperRegistry`, the same traits on ZooKeeper's
//!   ephemeral nodes.
//! - `mdns` (feature `mdns`): `MdnsRegistry`, the same traits by multicast DNS on a LAN.
#![warn(missing_docs)]

pub mod backend;
pub mod discovery;
#[cfg(feature = "etcd")]
pub mod etcd;
mod follow;
#[cfg(feature = "mdns")]
pub mod mdns;
pub mod model;
pub mod registry;
pub mod service;
pub mod store;
mod watched;
#[cfg(feature = "zookeeper")]
pub mod zookeeper;

pub use discovery::CenterRegistry;
pub use model::{Change, Event, Filter, Instance};
pub use service::{
    Center, CenterClient, CenterConfig, CenterImpl, CenterServer, ConfigListing, Lease, Listing,
};
