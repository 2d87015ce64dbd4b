//! How a client picks an instance for a call: the [`Balancer`] trait, what it sees of the
//! call ([`Pick`]) and of each instance ([`Candidates`]: its registration and the load the
//! client keeps), and the policies erpc ships, one per file.
//!
//! Instances that are suspect (a failed connection, or one that stopped answering) are
//! skipped after the pick whatever the policy says — the client re-checks them in the
//! background — and so are those whose circuit breaker is open or whose registration says
//! they are not serving ([`crate::discovery::HEALTH_KEY`]); a policy may also avoid them
//! itself ([`Candidates::usable`]).

mod consistent_hash;
mod least_outstanding;
mod list_cache;
mod location;
mod network_quality;
mod p2c;
mod random;
mod round_robin;
mod steer;
mod weighted;

pub use consistent_hash::{ConsistentHash, DEFAULT_VIRTUAL_NODES, MAX_VIRTUAL_NODES};
pub use least_outstanding::LeastOutstanding;
pub use location::{Locality, Nearest};
pub use network_quality::NetworkQuality;
pub use p2c::P2c;
pub use random::Random;
pub use round_robin::RoundRobin;
pub(crate) use steer::Peer;
pub use steer::{Landed, NO_STEER, Steer, Want};
pub use weighted::Weighted;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Endpoint, Load};
use crate::metadata::Metadata;

/// Picks one of the candidates for the next call. Called once per call: keep it cheap (no
/// allocation, no I/O). `candidates` is never empty; an index past its end is taken modulo
/// its length.
///
/// A policy that keeps turns (round-robin's cursor, smooth weighted round-robin's scores)
/// moves them on only for a call's first pick: when [`Pick::retry`] is set — a retry, a
/// hedge, or a pick again after the instance picked could not be dialled — it should
/// choose as the next call would without moving anything. Otherwise each extra pick shifts
/// the turn: with two instances, a hedge's pick would send every call's original to the
/// same instance (issue 13).
pub trait Balancer: Send + Sync + 'static {
    /// The index of the candidate to use for `call`.
    fn pick(&self, call: &Pick<'_>, candidates: &Candidates<'_>) -> usize;
}

/// What a balancer knows of the call being placed.
#[derive(Debug, Clone, Copy)]
pub struct Pick<'a> {
    /// The service name.
    pub service: &'a str,
    /// The method name.
    pub method: &'a str,
    /// The request's metadata.
    pub metadata: &'a Metadata,
    /// The call's hash key, if it set one (`.hash_key(k)`): for consistent hashing, so that
    /// calls with the same key go to the same instance. A 64-bit FNV-1a hash of the key's
    /// bytes, the same in every process.
    pub hash_key: Option<u64>,
    /// Where a retry, hedge or broadcast wants this attempt to go relative to the call's
    /// earlier attempts ([`Steer::avoid`], [`Steer::prefer`]); [`NO_STEER`] for a plain
    /// call. The client applies it after the balancer's pick (skipping avoided instances,
    /// taking a preferred one), so a policy may ignore it.
    pub steer: &'a Steer,
    /// Whether this pick is not the call's first: a retry or hedge of it
    /// ([`Steer::is_retry`]), or a pick again after the instance first picked could not be
    /// dialled. A policy that takes turns must not move them for it (see [`Balancer`]), so
    /// that the next call's first attempt gets the instance it would have. `false` for a
    /// call's first pick.
    pub retry: bool,
}

/// The instances a balancer chooses from, in the discovered list's order: each one's
/// registration ([`Endpoint`], with the whole registered instance) and its live [`Load`].
#[derive(Clone, Copy)]
pub struct Candidates<'a> {
    endpoints: &'a [Endpoint],
    loads: &'a [Arc<Load>],
    generation: u64,
}

/// Where list generations come from: one counter for the process, so that a balancer shared
/// by several clients never mistakes one client's list for another's.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

/// A generation no list has had yet (see [`Candidates::generation`]).
pub fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed)
}

impl<'a> Candidates<'a> {
    /// `endpoints` with their `loads`, position by position (the two have the same length),
    /// as a list never seen before: a fresh [`generation`](Candidates::generation). Keep
    /// the value to pick from the same list many times; the client builds its candidates
    /// with [`Candidates::with_generation`] instead, once per call.
    pub fn new(endpoints: &'a [Endpoint], loads: &'a [Arc<Load>]) -> Candidates<'a> {
        Candidates::with_generation(endpoints, loads, next_generation())
    }

    /// `endpoints` with their `loads`, as the list of `generation` (from
    /// [`next_generation`]): the same generation promises the same endpoints in the same
    /// order, so that a balancer may keep what it derived from them (a hash ring) until the
    /// generation changes.
    pub fn with_generation(
        endpoints: &'a [Endpoint],
        loads: &'a [Arc<Load>],
        generation: u64,
    ) -> Candidates<'a> {
        debug_assert_eq!(endpoints.len(), loads.len());
        Candidates {
            endpoints,
            loads,
            generation,
        }
    }

    /// Identifies this list of endpoints: it changes whenever the list does (an instance
    /// added, removed or re-registered), so that derived state can be cached by it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// How many there are (never 0 when a balancer is asked).
    pub fn len(&self) -> usize {
        self.endpoints.len().min(self.loads.len())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Candidate `i`'s registration.
    pub fn endpoint(&self, i: usize) -> &'a Endpoint {
        &self.endpoints[i]
    }

    /// Candidate `i`'s live load.
    pub fn load(&self, i: usize) -> &'a Load {
        &self.loads[i]
    }

    /// Whether candidate `i` may take calls now: not suspect, breaker not open, not marked
    /// `NOT_SERVING` in its registration.
    pub fn usable(&self, i: usize) -> bool {
        let load = self.load(i);
        !load.is_suspect() && !load.is_breaker_open() && self.endpoint(i).instance.is_serving()
    }

    /// The endpoints alone.
    pub fn endpoints(&self) -> &'a [Endpoint] {
        &self.endpoints[..self.len()]
    }

    /// How many are [usable](Candidates::usable).
    pub fn usable_count(&self) -> usize {
        (0..self.len()).filter(|&i| self.usable(i)).count()
    }

    /// The `k`-th usable one (counting from 0), if there are that many.
    pub fn nth_usable(&self, k: usize) -> Option<usize> {
        (0..self.len()).filter(|&i| self.usable(i)).nth(k)
    }
}

impl std::fmt::Debug for Candidates<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries((0..self.len()).map(|i| (&self.endpoints[i].id, &self.loads[i])))
            .finish()
    }
}

/// A stable 64-bit hash of a call's hash key: FNV-1a (Fowler–Noll–Vo), so that every client,
/// in any process or language, sends the same key to the same instance.
pub fn hash_key(key: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Endpoints with these weights, and fresh loads.
    pub fn candidates(weights: &[u32]) -> (Vec<Endpoint>, Vec<Arc<Load>>) {
        let endpoints = weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let mut e = Endpoint::new(
                    format!("tcp://127.0.0.1:{}", 7000 + i)
                        .parse()
                        .expect("address"),
                );
                e.id = format!("e{i}");
                e.weight = *w;
                e
            })
            .collect::<Vec<_>>();
        let loads = endpoints.iter().map(|_| Arc::default()).collect();
        (endpoints, loads)
    }

    /// How many of `picks` picks each candidate got.
    pub fn counts(n: usize, picks: impl IntoIterator<Item = usize>) -> Vec<usize> {
        let mut counts = vec![0; n];
        for i in picks {
            counts[i] += 1;
        }
        counts
    }

    pub fn call(metadata: &Metadata) -> Pick<'_> {
        Pick {
            service: "s",
            method: "m",
            metadata,
            hash_key: None,
            steer: &NO_STEER,
            retry: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13: a retry's or hedge's pick (`retry` set) leaves the turns of every policy
    /// that keeps some as they were: the calls' first picks follow the same sequence whether
    /// or not extra picks come between them.
    #[test]
    fn retry_picks_do_not_move_any_policys_turn() {
        let policies = || -> Vec<(&str, Box<dyn Balancer>)> {
            vec![
                ("round_robin", Box::new(RoundRobin::default())),
                ("weighted", Box::new(Weighted::default())),
                ("least_outstanding", Box::new(LeastOutstanding::default())),
                ("network_quality", Box::new(NetworkQuality::default())),
                ("nearest", Box::new(Nearest::new(Locality::default()))),
                (
                    "consistent_hash (no key)",
                    Box::new(ConsistentHash::default()),
                ),
            ]
        };
        let (e, l) = testing::candidates(&[3, 2, 1]);
        let c = Candidates::new(&e, &l);
        let meta = Metadata::new();
        let first = testing::call(&meta);
        let retry = Pick {
            retry: true,
            ..first
        };
        for ((name, plain), (_, hedged)) in policies().into_iter().zip(policies()) {
            let alone: Vec<usize> = (0..12).map(|_| plain.pick(&first, &c)).collect();
            let with_retries: Vec<usize> = (0..12)
                .map(|_| {
                    let picked = hedged.pick(&first, &c);
                    // The extra picks take what the next first pick will get.
                    let extra = hedged.pick(&retry, &c);
                    assert_eq!(extra, hedged.pick(&retry, &c), "{name}");
                    picked
                })
                .collect();
            assert_eq!(alone, with_retries, "{name}");
            // And the sequence still spreads (two instances at least).
            assert!(alone.iter().any(|&i| i != alone[0]), "{name}: {alone:?}");
        }
    }

    #[test]
    fn the_hash_key_is_fnv1a() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(super::hash_key(b""), 0xcbf29ce484222325);
        assert_eq!(super::hash_key(b"a"), 0xaf63dc4c8601ec8c);
    }
}
