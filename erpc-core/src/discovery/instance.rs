//! What a registry knows about an instance, and what a client needs of it.

use std::collections::BTreeMap;
use std::sync::Arc;

use erpc_transport::Address;
use serde::{Deserialize, Serialize};

/// One running instance of a service, as registered.
///
/// On the wire (a registry's, such as the center's: CENTER.md) a map keyed by field name;
/// `service` and `id` are required, every other field may be left out and then takes the
/// default given here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// The service name clients look up.
    pub service: String,
    /// Unique among the service's instances (say, `host:port`).
    pub id: String,
    /// Where it listens, one address per transport (`tcp://10.0.0.5:7001`, `quic://…`).
    /// Default none.
    #[serde(default)]
    pub addrs: Vec<String>,
    /// Relative share of traffic for weighted balancing (0 takes none). Default 100.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Version of the service it runs. Default `""`.
    #[serde(default)]
    pub version: String,
    /// Group (environment, cluster, canary…). Default `""`.
    #[serde(default)]
    pub group: String,
    /// Free-form tags. Default none.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free-form metadata. Default none.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Latitude and longitude in degrees, for location-aware balancing (on the wire a
    /// two-element array, or nil). Default none.
    #[serde(default)]
    pub location: Option<(f64, f64)>,
}

/// The metadata key under which a server marks its registration with its health
/// ([`crate::ServerBuilder::health_in_registry`]): `"NOT_SERVING"` while the service's
/// health status is not `SERVING`, absent otherwise. Balanced clients skip an instance so
/// marked ([`Instance::is_serving`]).
pub const HEALTH_KEY: &str = "erpc.health";

/// The value of [`HEALTH_KEY`] on a registration whose service is not serving.
pub const NOT_SERVING: &str = "NOT_SERVING";

/// The metadata key naming an instance's home data center, compared with the client's own
/// by location-aware balancing ([`crate::discovery::Locality::dc`]). A center started with
/// `--dc NAME` stamps it on the registrations that do not carry it (CENTER.md, "Federation").
pub const DC_KEY: &str = "dc";

/// The metadata key a center sets on an instance it mirrors from a peer data center's center
/// while that peer is unreachable: the Unix time in milliseconds (decimal) since which the
/// entry has not been confirmed (CENTER.md, "Federation"). Location-aware balancing ranks such
/// an entry after the fresh ones of other data centers.
pub const STALE_SINCE_KEY: &str = "erpc.stale_since";

/// The weight of an instance that names none.
pub const DEFAULT_WEIGHT: u32 = 100;

fn default_weight() -> u32 {
    DEFAULT_WEIGHT
}

impl Default for Instance {
    fn default() -> Self {
        Instance {
            service: String::new(),
            id: String::new(),
            addrs: Vec::new(),
            weight: DEFAULT_WEIGHT,
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

    /// Whether calls may go to it: false only if its metadata says [`HEALTH_KEY`] =
    /// [`NOT_SERVING`] (any other value, or none, is serving).
    pub fn is_serving(&self) -> bool {
        self.metadata
            .get(HEALTH_KEY)
            .is_none_or(|v| v != NOT_SERVING)
    }

    /// This instance marked serving or not (see [`HEALTH_KEY`]).
    pub fn marked_serving(mut self, serving: bool) -> Instance {
        if serving {
            self.metadata.remove(HEALTH_KEY);
        } else {
            self.metadata
                .insert(HEALTH_KEY.to_owned(), NOT_SERVING.to_owned());
        }
        self
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
