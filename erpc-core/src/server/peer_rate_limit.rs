//! A rate limit per peer as a header-level hook: each caller (its IP address; a Unix or
//! in-memory peer as a whole) gets its own token bucket, so that one client cannot use up
//! the server's quota. Feature `rate-limit`.

use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use erpc_transport::PeerAddr;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::admission::{Admission, Admitted, CallHead};
use crate::rate::Rate;
use crate::status::Status;

/// How often (in calls) the per-peer table forgets peers whose buckets are full again.
const SWEEP_EVERY: u64 = 4096;

/// A [`Rate`] per peer, with memory bounded by [`max_peers`](PeerRateLimit::max_peers): peers
/// are hashed (with a per-process random key, so a caller cannot pick its collisions) into at
/// most that many buckets, kept in governor's keyed limiter (a `dashmap`) and swept every
/// 4,096 calls of the buckets that are full again, which are no different from new ones.
/// Past the bound, peers share buckets. Peers never wait: over the rate a call is refused at
/// once, `resource_exhausted` with a retry-after hint ([`Rate::max_wait`] is not used here).
///
/// ```
/// # use erpc_core as erpc;
/// use erpc::rate::Rate;
/// use erpc::server::PeerRateLimit;
///
/// // 50 calls/s per client IP, bursts of 20.
/// let per_peer = PeerRateLimit::new(Rate::per_second(50).burst(20))?;
/// let server = erpc::Server::builder().admission(per_peer);
/// # let _ = server; Ok::<(), erpc::Status>(())
/// ```
#[derive(Clone)]
pub struct PeerRateLimit {
    state: Arc<State>,
}

struct State {
    limiter: DefaultKeyedRateLimiter<u64>,
    hasher: std::hash::RandomState,
    max_peers: u64,
    calls: AtomicU64,
    rate: Rate,
    quota: Quota,
}

impl std::fmt::Debug for PeerRateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerRateLimit")
            .field("rate", &self.state.rate)
            .field("max_peers", &self.state.max_peers)
            .finish_non_exhaustive()
    }
}

/// Default bound on buckets kept (about 100 bytes each in the table).
pub const DEFAULT_MAX_PEERS: u64 = 65_536;

impl PeerRateLimit {
    /// `rate` for each peer, at most [`DEFAULT_MAX_PEERS`] buckets. Errors:
    /// `invalid_argument` for a zero rate or burst.
    pub fn new(rate: Rate) -> Result<PeerRateLimit, Status> {
        let quota = rate.quota("server: per-peer rate limit")?;
        Ok(PeerRateLimit {
            state: Arc::new(State {
                limiter: RateLimiter::keyed(quota),
                hasher: std::hash::RandomState::new(),
                max_peers: DEFAULT_MAX_PEERS,
                calls: AtomicU64::new(0),
                rate,
                quota,
            }),
        })
    }

    /// At most `peers` buckets. Call before sharing the hook. Errors: `invalid_argument` for
    /// 0 (no peer could have a bucket).
    pub fn max_peers(self, peers: u64) -> Result<PeerRateLimit, Status> {
        if peers == 0 {
            return Err(Status::invalid_argument(
                "PeerRateLimit::max_peers(0): a table of 0 peers holds no bucket; use ≥ 1",
            ));
        }
        let state = &self.state;
        Ok(PeerRateLimit {
            state: Arc::new(State {
                limiter: RateLimiter::keyed(state.quota),
                hasher: state.hasher.clone(),
                max_peers: peers,
                calls: AtomicU64::new(0),
                rate: state.rate,
                quota: state.quota,
            }),
        })
    }

    /// Buckets kept now (peers seen recently, up to the bound).
    pub fn peers(&self) -> usize {
        self.state.limiter.len()
    }
}

/// Who a peer is for its bucket: the IP address (every port and connection of one host
/// together), else the whole peer address.
fn key_of(peer: &PeerAddr) -> Result<IpAddr, &PeerAddr> {
    match peer {
        PeerAddr::Tcp(a)
        | PeerAddr::Tls(a)
        | PeerAddr::Ws { addr: a, .. }
        | PeerAddr::Quic(a)
        | PeerAddr::Udp(a)
        | PeerAddr::Kcp(a) => Ok(a.ip()),
        other => Err(other),
    }
}

impl Admission for PeerRateLimit {
    fn refused_by(&self) -> crate::observe::RefusedBy {
        crate::observe::RefusedBy::PeerRateLimit
    }

    fn admit(&self, call: &CallHead<'_>) -> Result<Admitted, Status> {
        let state = &self.state;
        if state.calls.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            state.limiter.retain_recent();
            state.limiter.shrink_to_fit();
        }
        let mut hasher = state.hasher.build_hasher();
        key_of(call.peer).hash(&mut hasher);
        let slot = std::hash::Hasher::finish(&hasher) % state.max_peers;
        match state.limiter.check_key(&slot) {
            Ok(()) => Ok(Admitted::now()),
            Err(not_until) => {
                let wait =
                    not_until.wait_time_from(governor::clock::Clock::now(state.limiter.clock()));
                Err(Status::resource_exhausted(format!(
                    "server: per-peer rate limit of {} exceeded by {}",
                    state.rate.describe(),
                    call.peer
                ))
                .with_retry_after(wait))
            }
        }
    }
}
