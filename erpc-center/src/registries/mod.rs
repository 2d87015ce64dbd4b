//! The client side of discovery: registries that servers register with and clients follow,
//! each implementing erpc's `Register` and `Discover`. Apart from the center service (which
//! is one registry's server), so that "registry" means one thing here.
//!
//! - [`CenterRegistry`]: the center's own client (the default), failing over between centers.
//! - `etcd::EtcdRegistry` (feature `etcd`): etcd directly, keys under leases.
//! - `zookeeper::ZooKeeperRegistry` (feature `zookeeper`): an ephemeral node per instance.
//! - `mdns::MdnsRegistry` (feature `mdns`): DNS-SD on the local network.

mod center;
#[cfg(feature = "etcd")]
pub mod etcd;
pub(crate) mod follow;
#[cfg(feature = "mdns")]
pub mod mdns;
mod watched;
#[cfg(feature = "zookeeper")]
pub mod zookeeper;

pub use center::{CenterRegistry, CenterRegistryBuilder};
