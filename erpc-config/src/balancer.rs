//! `balancer:` — how a discovering client picks an instance per call, by name: one of the
//! policies of `erpc_core::discovery::balance`.

use std::sync::Arc;

use erpc_core::discovery::{
    Balancer, ConsistentHash, LeastOutstanding, Locality, Nearest, NetworkQuality, P2c, Random,
    RoundRobin, Weighted,
};
use serde::Deserialize;

/// A balancing policy: a name (`round_robin`), or a one-key map for one with settings
/// (`{consistent_hash: {virtual_nodes: 160}}`, `{nearest: {zone: eu-west-1a}}`).
/// A name alone whose policy needs settings (`nearest`) and settings given to one that takes
/// none (`{round_robin: 3}`) are refused.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(remote = "Self", rename_all = "snake_case", deny_unknown_fields)]
pub enum BalancerSettings {
    /// In turn (the default).
    #[default]
    RoundRobin,
    /// Smooth weighted round-robin by each instance's registered weight.
    Weighted,
    /// Uniformly at random.
    Random,
    /// The instance with the fewest calls in flight from this client.
    LeastOutstanding,
    /// Power of two choices over peak-EWMA latency × (in flight + 1).
    P2c,
    /// A ring on the call's hash key (`.hash_key(k)`).
    ConsistentHash {
        /// Points per instance on the ring (1 to 10,000). Default 160.
        #[serde(default = "default_virtual_nodes")]
        virtual_nodes: u32,
    },
    /// The lowest measured round trip, within a tolerance.
    NetworkQuality {
        /// Within this share of the best counts as as good. Default 0.2.
        #[serde(default = "default_tolerance")]
        tolerance: f64,
    },
    /// The nearest instances (same zone, same region, distance), spilling over when they
    /// are overloaded or failing.
    Nearest(NearestSettings),
}

impl crate::one_of::OneOf for BalancerSettings {
    const WHAT: &'static str = "a balancer";
    const WITH_SETTINGS: &'static [(&'static str, &'static str)] = &[
        ("consistent_hash", "{consistent_hash: {virtual_nodes: 160}}"),
        ("network_quality", "{network_quality: {tolerance: 0.2}}"),
        ("nearest", "{nearest: {zone: eu-west-1a}}"),
    ];
    fn derived<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BalancerSettings::deserialize(d)
    }
}

impl<'de> Deserialize<'de> for BalancerSettings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::one_of::one_of(d)
    }
}

/// `{nearest: {...}}` — where the client is and when an instance counts as overloaded.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NearestSettings {
    /// The client's data center (an instance's metadata `dc`, stamped by a federated
    /// center): instances of other data centers are used only when none of its own can take
    /// calls. Default none.
    pub dc: Option<String>,
    /// The client's zone (an instance's metadata `zone`). Default none.
    pub zone: Option<String>,
    /// The client's region (metadata `region`). Default none.
    pub region: Option<String>,
    /// The client's latitude in degrees. Default none; with `longitude`.
    pub latitude: Option<f64>,
    /// The client's longitude in degrees. Default none; with `latitude`.
    pub longitude: Option<f64>,
    /// Spill over from an instance with this many calls in flight. Default 64.
    pub max_in_flight: u32,
    /// Spill over from an instance whose recent error rate is above this (0 to 1). Default
    /// 0.5.
    pub max_error_rate: f64,
}

impl Default for NearestSettings {
    fn default() -> Self {
        NearestSettings {
            dc: None,
            zone: None,
            region: None,
            latitude: None,
            longitude: None,
            max_in_flight: 64,
            max_error_rate: 0.5,
        }
    }
}

fn default_virtual_nodes() -> u32 {
    erpc_core::discovery::balance::DEFAULT_VIRTUAL_NODES
}

fn default_tolerance() -> f64 {
    0.2
}

impl BalancerSettings {
    pub(crate) fn check(&self, at: &str) -> Result<(), (String, String)> {
        match self {
            BalancerSettings::ConsistentHash { virtual_nodes } => {
                ConsistentHash::check_virtual_nodes(*virtual_nodes)
                    .map_err(|why| (format!("{at}.consistent_hash.virtual_nodes"), why))
            }
            BalancerSettings::NetworkQuality { tolerance } => {
                NetworkQuality::check_tolerance(*tolerance)
                    .map_err(|why| (format!("{at}.network_quality.tolerance"), why))
            }
            BalancerSettings::Nearest(n) => {
                let at = format!("{at}.nearest");
                if n.latitude.is_some() != n.longitude.is_some() {
                    return Err((at, "latitude and longitude go together".into()));
                }
                if n.latitude.is_some_and(|l| !(-90.0..=90.0).contains(&l)) {
                    return Err((format!("{at}.latitude"), "must be within -90..=90".into()));
                }
                if n.longitude.is_some_and(|l| !(-180.0..=180.0).contains(&l)) {
                    return Err((
                        format!("{at}.longitude"),
                        "must be within -180..=180".into(),
                    ));
                }
                if n.max_in_flight == 0 {
                    return Err((format!("{at}.max_in_flight"), "must be at least 1".into()));
                }
                Nearest::check_max_error_rate(n.max_error_rate)
                    .map_err(|why| (format!("{at}.max_error_rate"), why))
            }
            _ => Ok(()),
        }
    }

    /// The balancer these settings name.
    pub fn balancer(&self) -> Arc<dyn Balancer> {
        match self {
            BalancerSettings::RoundRobin => Arc::new(RoundRobin::default()),
            BalancerSettings::Weighted => Arc::new(Weighted::default()),
            BalancerSettings::Random => Arc::new(Random),
            BalancerSettings::LeastOutstanding => Arc::new(LeastOutstanding::default()),
            BalancerSettings::P2c => Arc::new(P2c),
            BalancerSettings::ConsistentHash { virtual_nodes } => {
                Arc::new(ConsistentHash::with_virtual_nodes(*virtual_nodes))
            }
            BalancerSettings::NetworkQuality { tolerance } => {
                Arc::new(NetworkQuality::with_tolerance(*tolerance))
            }
            BalancerSettings::Nearest(n) => Arc::new(
                Nearest::new(self.locality())
                    .max_in_flight(n.max_in_flight)
                    .max_error_rate(n.max_error_rate),
            ),
        }
    }

    /// Where the client is, as the `nearest` balancer's settings say (its `dc`, `zone`,
    /// `region`, position); nowhere in particular for any other balancer. Routing rules
    /// match their `dc` and `zone` against it.
    pub fn locality(&self) -> Locality {
        match self {
            BalancerSettings::Nearest(n) => Locality {
                dc: n.dc.clone(),
                zone: n.zone.clone(),
                region: n.region.clone(),
                position: n.latitude.zip(n.longitude),
            },
            _ => Locality::default(),
        }
    }
}
