//! Location-aware balancing: prefer the instances nearest the client, spill over to farther
//! ones when the nearest are unusable (suspect, breaker open) or overloaded — Envoy's
//! zone-aware routing and locality-weighted failover, and gRPC xDS's locality priorities, in
//! their simplest form.
//!
//! Nearness, best first: the client's own data center, then inside each data center the same
//! zone, the same region, anywhere. An instance's data center, zone and region are its
//! registered metadata `dc`, `zone` and `region` (CENTER.md: `Instance.metadata`; a federated
//! center stamps `dc`, CENTER.md "Federation"). With the client's data center set, every
//! instance of another data center (or of none named) ranks after every instance of its own,
//! and among those an entry its center marks stale ([`STALE_SINCE_KEY`]: the center lost
//! the peer it mirrors it from) after the fresh ones. So calls stay in the client's data
//! center while an instance there can take them, spill over to other data centers when
//! every local one is unusable, overloaded or gone, and come back as soon as one is healthy
//! again (ranks are per pick, nothing is latched). When both the client and an instance have a position (`Instance.location`, latitude and
//! longitude in degrees), instances of the same tier are further ordered by great-circle
//! distance (haversine, on a sphere of radius 6,371 km), in whole kilometres. The instances
//! of the nearest rank that can take calls share them in turn.
//!
//! Each instance's rank is computed once per candidate list ([`Candidates::generation`]),
//! not per call.

use super::list_cache::ListCache;
use super::round_robin::RoundRobin;
use super::{Balancer, Candidates, Pick};
use crate::discovery::{DC_KEY, Instance, Load, STALE_SINCE_KEY};

/// Where the client is. Every part is optional; with none set, every instance is equally
/// near and the policy is round-robin over the healthy ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Locality {
    /// The client's data center, compared with an instance's metadata `dc`
    /// ([`DC_KEY`]). `None`: data centers are not compared.
    pub dc: Option<String>,
    /// The client's zone, compared with an instance's metadata `zone`.
    pub zone: Option<String>,
    /// The client's region, compared with an instance's metadata `region`.
    pub region: Option<String>,
    /// The client's latitude and longitude in degrees, compared with an instance's
    /// `location`.
    pub position: Option<(f64, f64)>,
}

/// The nearest healthy instances first (see the module doc).
#[derive(Debug)]
pub struct Nearest {
    here: Locality,
    max_in_flight: u32,
    max_error_rate: f64,
    ranks: ListCache<Vec<u64>>,
    turns: RoundRobin,
}

/// Default overload bound: calls in flight from this client to one instance.
const DEFAULT_MAX_IN_FLIGHT: u32 = 64;

/// Default overload bound: the instance's recent error rate ([`Load::error_rate`]).
const DEFAULT_MAX_ERROR_RATE: f64 = 0.5;

/// Earth's mean radius, for distances.
const EARTH_RADIUS_KM: f64 = 6_371.0;

impl Nearest {
    /// Prefer instances near `here`; an instance counts as overloaded at 64 calls in flight
    /// from this client or a recent error rate above 0.5 (see [`Nearest::max_in_flight`],
    /// [`Nearest::max_error_rate`]).
    pub fn new(here: Locality) -> Nearest {
        Nearest {
            here,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_error_rate: DEFAULT_MAX_ERROR_RATE,
            ranks: ListCache::default(),
            turns: RoundRobin::default(),
        }
    }

    /// Spill over from an instance with `calls` or more calls in flight (at least 1).
    ///
    /// # Panics
    /// If `calls` is 0 (every instance would count as overloaded); the config file refuses
    /// it too.
    pub fn max_in_flight(mut self, calls: u32) -> Nearest {
        assert!(
            calls >= 1,
            "Nearest::max_in_flight: max_in_flight must be at least 1, got 0"
        );
        self.max_in_flight = calls;
        self
    }

    /// Spill over from an instance whose recent error rate is above `rate` (0 to 1).
    ///
    /// # Panics
    /// If `rate` fails [`Nearest::check_max_error_rate`] (NaN, below 0 or above 1); the
    /// config file refuses the same values.
    pub fn max_error_rate(mut self, rate: f64) -> Nearest {
        if let Err(why) = Nearest::check_max_error_rate(rate) {
            panic!("Nearest::max_error_rate: max_error_rate {why}");
        }
        self.max_error_rate = rate;
        self
    }

    /// Whether `rate` can be a [`Nearest::max_error_rate`]: a share, within 0..=1 (NaN or
    /// above 1 would never spill over, below 0 always would).
    ///
    /// # Errors
    /// Why not.
    pub fn check_max_error_rate(rate: f64) -> Result<(), String> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!("must be within 0..=1, got {rate}"));
        }
        Ok(())
    }

    /// An instance's rank: tier in the top bits — the data center's (0 the client's own or
    /// not compared, 1 another, 2 another whose entry is stale) times three plus the zone's
    /// (0 same zone, 1 same region, 2 other) — kilometres below.
    fn rank(&self, instance: &Instance) -> u64 {
        let meta = |key: &str| instance.metadata.get(key).map(String::as_str);
        let same = |mine: &Option<String>, key| mine.is_some() && mine.as_deref() == meta(key);
        let dc_tier = if self.here.dc.is_none() || same(&self.here.dc, DC_KEY) {
            0
        } else if meta(STALE_SINCE_KEY).is_none() {
            1
        } else {
            2
        };
        let zone_tier = if same(&self.here.zone, "zone") {
            0
        } else if same(&self.here.region, "region") {
            1
        } else {
            2
        };
        let tier = dc_tier * 3 + zone_tier;
        let km = match (self.here.position, instance.location) {
            (Some(a), Some(b)) => haversine_km(a, b).min(f64::from(u32::MAX)) as u64,
            _ => 0,
        };
        (tier << 32) | km
    }

    fn overloaded(&self, load: &Load) -> bool {
        load.in_flight() >= self.max_in_flight || load.error_rate() > self.max_error_rate
    }
}

/// Great-circle distance between two (latitude, longitude) points in degrees.
fn haversine_km((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().clamp(0.0, 1.0).asin()
}

impl Balancer for Nearest {
    fn pick(&self, call: &Pick<'_>, candidates: &Candidates<'_>) -> usize {
        let build = || {
            candidates
                .endpoints()
                .iter()
                .map(|e| self.rank(&e.instance))
                .collect()
        };
        self.ranks
            .with(candidates.generation(), build, |ranks: &Vec<u64>| {
                let healthy =
                    |i: usize| candidates.usable(i) && !self.overloaded(candidates.load(i));
                // The nearest rank with a healthy instance; failing that, with a usable one
                // (overloaded beats unusable); failing that, round-robin over all.
                let nearest = |ok: &dyn Fn(usize) -> bool| {
                    let best = (0..candidates.len())
                        .filter(|&i| ok(i))
                        .map(|i| ranks[i])
                        .min()?;
                    self.turns
                        .among(call, candidates, |i| ranks[i] == best && ok(i))
                };
                nearest(&healthy)
                    .or_else(|| nearest(&|i| candidates.usable(i)))
                    .unwrap_or_else(|| self.turns.pick(call, candidates))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use crate::discovery::Endpoint;
    use crate::engine::task_guard::refusal;
    use std::sync::Arc;

    #[test]
    fn an_error_rate_bound_outside_0_to_1_and_no_calls_in_flight_are_refused() {
        for rate in [f64::NAN, -1.0, 5.0] {
            let text = refusal(|| Nearest::new(Locality::default()).max_error_rate(rate));
            assert_eq!(
                text.as_deref(),
                Some(
                    format!(
                        "Nearest::max_error_rate: max_error_rate must be within 0..=1, got {rate}"
                    )
                    .as_str()
                ),
            );
        }
        let text = refusal(|| Nearest::new(Locality::default()).max_in_flight(0));
        assert_eq!(
            text.as_deref(),
            Some("Nearest::max_in_flight: max_in_flight must be at least 1, got 0")
        );
        let _ = Nearest::new(Locality::default())
            .max_error_rate(0.0)
            .max_error_rate(1.0)
            .max_in_flight(1);
    }

    fn placed(e: &mut Endpoint, zone: &str, region: &str, location: Option<(f64, f64)>) {
        let mut instance = (*e.instance).clone();
        instance.metadata.insert("zone".into(), zone.into());
        instance.metadata.insert("region".into(), region.into());
        instance.location = location;
        e.instance = Arc::new(instance);
    }

    #[test]
    fn the_same_zone_first_then_the_region_then_the_rest() {
        let (mut e, l) = testing::candidates(&[1; 5]);
        placed(&mut e[0], "eu-1a", "eu-1", None);
        placed(&mut e[1], "eu-1a", "eu-1", None);
        placed(&mut e[2], "eu-1b", "eu-1", None);
        placed(&mut e[3], "us-1a", "us-1", None);
        placed(&mut e[4], "us-1b", "us-1", None);
        let c = Candidates::new(&e, &l);
        let meta = Default::default();
        let call = testing::call(&meta);
        let b = Nearest::new(Locality {
            zone: Some("eu-1a".into()),
            region: Some("eu-1".into()),
            ..Locality::default()
        })
        .max_in_flight(2);
        let counts = testing::counts(5, (0..100).map(|_| b.pick(&call, &c)));
        assert_eq!(counts, vec![50, 50, 0, 0, 0], "the zone's two share");
        // One of the zone overloaded, the other breaker-open: the region's one.
        l[0].started();
        l[0].started();
        l[1].set_breaker_open(true);
        let counts = testing::counts(5, (0..100).map(|_| b.pick(&call, &c)));
        assert_eq!(counts, vec![0, 0, 100, 0, 0], "spilled over to the region");
        // The region's one failing too: anywhere.
        for _ in 0..40 {
            l[2].started();
            l[2].finished(None, true);
        }
        let counts = testing::counts(5, (0..100).map(|_| b.pick(&call, &c)));
        assert_eq!(
            counts,
            vec![0, 0, 0, 50, 50],
            "spilled over out of the region"
        );
        // Every healthy one gone: the overloaded nearest beats the unusable.
        l[3].set_suspect(true);
        l[4].set_suspect(true);
        assert_eq!(b.pick(&call, &c), 0);
    }

    fn in_dc(e: &mut Endpoint, dc: &str, zone: &str, stale: bool) {
        let mut instance = (*e.instance).clone();
        instance.metadata.insert(DC_KEY.into(), dc.into());
        instance.metadata.insert("zone".into(), zone.into());
        if stale {
            instance
                .metadata
                .insert(STALE_SINCE_KEY.into(), "1700000000000".into());
        }
        e.instance = Arc::new(instance);
    }

    /// The data center outranks the zone: a local instance in another zone beats a remote
    /// one in the client's zone name; remote ones take calls only when no local one can, a
    /// stale remote entry only when no fresh one can; and calls come back when a local one
    /// is usable again.
    #[test]
    fn the_own_data_center_first_then_fresh_remote_ones_then_stale_ones() {
        let (mut e, l) = testing::candidates(&[1; 5]);
        in_dc(&mut e[0], "a", "z1", false);
        in_dc(&mut e[1], "a", "z2", false);
        in_dc(&mut e[2], "b", "z1", false);
        in_dc(&mut e[3], "b", "z1", false);
        in_dc(&mut e[4], "c", "z1", true);
        let c = Candidates::new(&e, &l);
        let meta = Default::default();
        let call = testing::call(&meta);
        let b = Nearest::new(Locality {
            dc: Some("a".into()),
            zone: Some("z1".into()),
            ..Locality::default()
        });
        let counts = testing::counts(5, (0..100).map(|_| b.pick(&call, &c)));
        assert_eq!(counts, vec![100, 0, 0, 0, 0], "own dc and zone");
        l[0].set_suspect(true);
        let counts = testing::counts(5, (0..100).map(|_| b.pick(&call, &c)));
        assert_eq!(counts, vec![0, 100, 0, 0, 0], "own dc, other zone");
        l[1].set_suspect(true);
        let counts = testing::counts(5, (0..100).map(|_| b.pick(&call, &c)));
        assert_eq!(counts, vec![0, 0, 50, 50, 0], "spilled to dc b");
        l[2].set_breaker_open(true);
        l[3].set_suspect(true);
        assert_eq!(b.pick(&call, &c), 4, "the stale entry is the last resort");
        l[1].set_suspect(false);
        let counts = testing::counts(5, (0..100).map(|_| b.pick(&call, &c)));
        assert_eq!(counts, vec![0, 100, 0, 0, 0], "back home once healthy");
        // Without a data center of its own, the client compares only zones.
        let anywhere = Nearest::new(Locality {
            zone: Some("z1".into()),
            ..Locality::default()
        });
        l[1].set_suspect(true);
        assert!((0..10).all(|_| anywhere.pick(&call, &c) == 4));
    }

    #[test]
    fn positions_order_instances_by_distance() {
        let paris = (48.85, 2.35);
        let (mut e, l) = testing::candidates(&[1; 3]);
        placed(&mut e[0], "", "", Some((40.71, -74.0))); // New York
        placed(&mut e[1], "", "", Some((51.51, -0.13))); // London
        placed(&mut e[2], "", "", Some((35.68, 139.69))); // Tokyo
        let c = Candidates::new(&e, &l);
        let meta = Default::default();
        let call = testing::call(&meta);
        let b = Nearest::new(Locality {
            position: Some(paris),
            ..Locality::default()
        });
        assert!((0..10).all(|_| b.pick(&call, &c) == 1));
        l[1].set_suspect(true);
        assert!(
            (0..10).all(|_| b.pick(&call, &c) == 0),
            "New York is nearer than Tokyo"
        );
        // Paris–London is about 344 km.
        let km = haversine_km(paris, (51.51, -0.13));
        assert!((330.0..360.0).contains(&km), "{km}");
    }
}
