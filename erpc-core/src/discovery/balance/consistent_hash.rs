//! Consistent hashing on the call's hash key: a hash ring with virtual nodes (Karger et al.,
//! "Consistent Hashing and Random Trees", STOC 1997; the virtual nodes as in libketama and
//! Dynamo). Each instance owns [`DEFAULT_VIRTUAL_NODES`] points on a 64-bit ring, placed by
//! hashing its id; a call goes to the owner of the first point at or after its key's hash,
//! going round. Adding or removing one of N instances moves only the keys of its own arcs,
//! about 1/N of them. Measured by `a_change_of_one_instance_moves_about_one_nth_of_the_keys`
//! below (`cargo test -p erpc-core --lib consistent_hash -- --nocapture`): 10 instances,
//! 100,000 keys — removing one moved 11.2% of the keys (exactly the share the removed one
//! held; ideal 10%), adding an eleventh moved 10.1% (ideal 9.1%). BENCHMARKS.md has it too.
//!
//! A ring rather than jump hash (Lamping & Veach 2014): jump hash moves 1/N only when the
//! *last* bucket goes, and a registry removes whichever instance died. A ring rather than
//! Maglev: its lookup table must be rebuilt whole (65,537 entries) on every change and its
//! balance is its only gain, which 160 virtual nodes already bring within a few percent.
//!
//! The ring is built once per candidate list ([`Candidates::generation`]) and kept; a pick
//! is a binary search, no allocation. A key whose instance is unusable (suspect, breaker
//! open) goes to the next usable instance round the ring, so only that instance's keys
//! move while it is out. Calls without a hash key go round-robin.

use super::list_cache::ListCache;
use super::round_robin::RoundRobin;
use super::{Balancer, Candidates, Pick, hash_key};

/// Points per instance on the ring: libketama's 160 (40 × 4). More points even out the arcs
/// (the spread of keys per instance falls as 1/√points) at the cost of a larger ring.
pub const DEFAULT_VIRTUAL_NODES: u32 = 160;

/// The most points per instance [`ConsistentHash::with_virtual_nodes`] takes: 10,000 (62
/// times libketama's 160). The ring holds `instances × virtual_nodes` points of 16 bytes,
/// built on the first keyed call after each change of the list: 10,000 points keep the
/// spread of keys per instance near 1% and 1,000 instances' ring at 160 MB; more would only
/// cost memory and time.
pub const MAX_VIRTUAL_NODES: u32 = 10_000;

/// Consistent hashing over a ring with virtual nodes (see the module doc).
#[derive(Debug)]
pub struct ConsistentHash {
    virtual_nodes: u32,
    ring: ListCache<Ring>,
    keyless: RoundRobin,
}

/// Points on the ring, sorted, each with the position of the candidate that owns it.
#[derive(Debug)]
struct Ring {
    points: Vec<(u64, u32)>,
}

impl Default for ConsistentHash {
    fn default() -> Self {
        ConsistentHash::with_virtual_nodes(DEFAULT_VIRTUAL_NODES)
    }
}

impl ConsistentHash {
    /// A ring with `virtual_nodes` points per instance (1 to [`MAX_VIRTUAL_NODES`]). Default
    /// [`DEFAULT_VIRTUAL_NODES`].
    ///
    /// # Panics
    /// If `virtual_nodes` fails [`ConsistentHash::check_virtual_nodes`] (0, or above
    /// [`MAX_VIRTUAL_NODES`]): the config file refuses the same values.
    pub fn with_virtual_nodes(virtual_nodes: u32) -> ConsistentHash {
        if let Err(why) = ConsistentHash::check_virtual_nodes(virtual_nodes) {
            panic!("ConsistentHash::with_virtual_nodes: virtual_nodes {why}");
        }
        ConsistentHash {
            virtual_nodes,
            ring: ListCache::default(),
            keyless: RoundRobin::default(),
        }
    }

    /// Whether `virtual_nodes` can be a ring's points per instance: 1 to
    /// [`MAX_VIRTUAL_NODES`]. [`ConsistentHash::with_virtual_nodes`] checks it; the config
    /// crate reports it against the file's key.
    ///
    /// # Errors
    /// Why not (`"must be at least 1"`, ...).
    pub fn check_virtual_nodes(virtual_nodes: u32) -> Result<(), String> {
        if virtual_nodes == 0 {
            return Err("must be at least 1".into());
        }
        if virtual_nodes > MAX_VIRTUAL_NODES {
            return Err(format!(
                "must be at most {MAX_VIRTUAL_NODES}, got {virtual_nodes}: the ring holds \
                 instances × virtual_nodes points (libketama uses 160)"
            ));
        }
        Ok(())
    }
}

/// SplitMix64's finaliser: FNV-1a of short, similar strings ("a#1", "a#2") leaves the high
/// bits clustered; this spreads them over the whole ring.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Ring {
    /// Each instance's points, placed by its id (not its position, so that they stay put
    /// when others come and go).
    fn build(candidates: &Candidates<'_>, virtual_nodes: u32) -> Ring {
        let mut points = Vec::with_capacity(candidates.len() * virtual_nodes as usize);
        for (i, endpoint) in candidates.endpoints().iter().enumerate() {
            let id = hash_key(endpoint.id.as_bytes());
            for v in 0..virtual_nodes {
                let point = mix(id ^ u64::from(v).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                points.push((point, i as u32));
            }
        }
        points.sort_unstable();
        Ring { points }
    }

    /// The owner of `key`, or of the first point after it whose owner is usable.
    fn owner(&self, key: u64, usable: impl Fn(usize) -> bool) -> Option<usize> {
        let start = self.points.partition_point(|(p, _)| *p < key);
        let n = self.points.len();
        (0..n)
            .map(|k| self.points[(start + k) % n].1 as usize)
            .find(|&i| usable(i))
    }
}

impl Balancer for ConsistentHash {
    fn pick(&self, call: &Pick<'_>, candidates: &Candidates<'_>) -> usize {
        let Some(key) = call.hash_key else {
            return self.keyless.pick(call, candidates);
        };
        self.ring.with(
            candidates.generation(),
            || Ring::build(candidates, self.virtual_nodes),
            |ring| {
                ring.owner(mix(key), |i| candidates.usable(i))
                    // None usable: the key's own owner (the pick path reports why).
                    .or_else(|| ring.owner(mix(key), |_| true))
                    .unwrap_or_default()
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use crate::metadata::Metadata;

    #[test]
    #[should_panic(
        expected = "ConsistentHash::with_virtual_nodes: virtual_nodes must be at most 10000, got 4294967295"
    )]
    fn virtual_nodes_above_the_maximum_are_refused() {
        // Accepted, this ring would allocate 137 GB on the first keyed call.
        let _ = ConsistentHash::with_virtual_nodes(u32::MAX);
    }

    #[test]
    #[should_panic(
        expected = "ConsistentHash::with_virtual_nodes: virtual_nodes must be at least 1"
    )]
    fn zero_virtual_nodes_are_refused_not_made_one() {
        let _ = ConsistentHash::with_virtual_nodes(0);
    }

    #[test]
    fn virtual_nodes_within_bounds_are_taken() {
        let _ = ConsistentHash::with_virtual_nodes(1);
        let _ = ConsistentHash::with_virtual_nodes(MAX_VIRTUAL_NODES);
    }

    fn keyed(metadata: &Metadata, key: u64) -> Pick<'_> {
        Pick {
            hash_key: Some(key),
            ..testing::call(metadata)
        }
    }

    /// Which instance id each of `keys` keys goes to.
    fn owners(b: &ConsistentHash, c: &Candidates<'_>, keys: u64) -> Vec<String> {
        let meta = Metadata::new();
        (0..keys)
            .map(|k| {
                c.endpoint(b.pick(&keyed(&meta, hash_key(&k.to_le_bytes())), c))
                    .id
                    .clone()
            })
            .collect()
    }

    fn moved(a: &[String], b: &[String]) -> f64 {
        a.iter().zip(b).filter(|(x, y)| x != y).count() as f64 / a.len() as f64
    }

    #[test]
    fn a_change_of_one_instance_moves_about_one_nth_of_the_keys() {
        const KEYS: u64 = 100_000;
        let (e, l) = testing::candidates(&[1; 11]);
        let ten = Candidates::new(&e[..10], &l[..10]);
        let eleven = Candidates::new(&e, &l);
        // Without e3.
        let (e9, l9): (Vec<_>, Vec<_>) = e[..10]
            .iter()
            .zip(&l[..10])
            .filter(|(e, _)| e.id != "e3")
            .map(|(e, l)| (e.clone(), l.clone()))
            .unzip();
        let nine = Candidates::new(&e9, &l9);
        let b = ConsistentHash::default();
        let before = owners(&b, &ten, KEYS);
        let removed = moved(&before, &owners(&b, &nine, KEYS));
        let added = moved(&before, &owners(&b, &eleven, KEYS));
        println!(
            "consistent hash, 10 instances, {KEYS} keys: removing one moved {:.1}% of keys, adding an eleventh {:.1}%",
            removed * 100.0,
            added * 100.0
        );
        assert!((0.07..0.13).contains(&removed), "{removed}");
        assert!((0.06..0.12).contains(&added), "{added}");
        // Spread: each of ten gets 10% ± 3%.
        let counts = testing::counts(
            10,
            before.iter().map(|id| id[1..].parse::<usize>().unwrap()),
        );
        assert!(
            counts.iter().all(|&n| (7_000..13_000).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn a_key_stays_put_and_only_an_unusable_owners_keys_move() {
        let (e, l) = testing::candidates(&[1; 5]);
        let c = Candidates::new(&e, &l);
        let b = ConsistentHash::default();
        let before = owners(&b, &c, 10_000);
        assert_eq!(
            before,
            owners(&b, &c, 10_000),
            "the same key, the same instance"
        );
        l[2].set_suspect(true);
        let after = owners(&b, &c, 10_000);
        for (x, y) in before.iter().zip(&after) {
            assert_ne!(y, "e2");
            if x != "e2" {
                assert_eq!(x, y, "a key of a usable instance moved");
            }
        }
        // No key: round-robin (over the usable ones).
        let meta = Metadata::new();
        let picks = testing::counts(5, (0..400).map(|_| b.pick(&testing::call(&meta), &c)));
        assert_eq!(picks[2], 0, "{picks:?}");
        assert!(picks.iter().all(|&n| n == 0 || n >= 80), "{picks:?}");
    }
}
