//! What a registry knows about an instance, and what a client needs of it.

use std::collections::BTreeMap;
use std::sync::Arc;

use erpc_transport::Address;
use serde::{Deserialize, Serialize};

/// One running instance of a service, as registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// The service name clients look up.
    pub service: String,
    /// Unique among the service's instances (say, `host:port`).
    pub id: String,
    /// Where it listens, one address per transport (`tcp://10.0.0.5:7001`, `quic://…`).
    pub addrs: Vec<String>,
    /// Relative share of traffic for weighted balancing (0 takes none). Default 100.
    pub weight: u32,
    /// Version of the service it runs.
    pub version: String,
    /// Group (environment, cluster, canary…).
    pub group: String,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Free-form metadata.
    pub metadata: BTreeMap<String, String>,
    /// Latitude and longitude, for location-aware balancing.
    pub location: Option<(f64, f64)>,
}

impl Default for Instance {
    fn default() -> Self {
        Instance {
            service: String::new(),
            id: String::new(),
            addrs: Vec::new(),
            weight: 100,
            version: String::new(),
            group: String::new(),
            tags: Vec::new(),
            metadata: BTreeMap::new(),
            location: None,
        }
    }
}

impl Instance {
    /// An instance of `service` named `id` at `addr`, weight 100.
    pub fn new(service: impl Into<String>, id: impl Into<String>, addr: impl Into<String>) -> Self {
        Instance {
            service: service.into(),
            id: id.into(),
            addrs: vec![addr.into()],
            ..Instance::default()
        }
    }

    /// The endpoint a client dials: the first address that parses, with the weight.
    pub fn endpoint(&self) -> Option<Endpoint> {
        let addr = self.addrs.iter().find_map(|a| a.parse::<Address>().ok())?;
        Some(Endpoint {
            id: self.id.clone(),
            addr,
            weight: self.weight,
            instance: Arc::new(self.clone()),
        })
    }
}

/// An instance as a client sees it: where to call, how much, and everything it registered
/// (version, group, tags, metadata, location) for balancers and filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// The instance id.
    pub id: String,
    /// The address to dial.
    pub addr: Address,
    /// Relative share of traffic.
    pub weight: u32,
    /// The whole registration.
    pub instance: Arc<Instance>,
}

impl Endpoint {
    /// An endpoint at `addr` (its id), weight 100, registered with nothing else.
    pub fn new(addr: Address) -> Endpoint {
        let id = addr.to_string();
        Endpoint {
            instance: Arc::new(Instance {
                id: id.clone(),
                addrs: vec![id.clone()],
                ..Instance::default()
            }),
            id,
            addr,
            weight: 100,
        }
    }
}
