//! A response cache for idempotent reads: a call-level layer ([`crate::ClientBuilder::layer`])
//! that answers a repeated call from memory (feature `cache`).
//!
//! **Only for methods whose answer depends on the request alone and may be a little stale**
//! (reads: a price list, a user's profile). A cached method is not called again until its
//! entry expires, so its side effects do not happen and a change on the server is not seen
//! before the TTL. It is opt-in per method and off for every method unless set.
//!
//! - Key: service, method, the encoded request body and the values of the metadata keys
//!   the method's settings name (say, a tenant or a language), each length-prefixed so
//!   that no two different calls share a key. Two calls that encode the same request the
//!   same way hit the same entry.
//! - Store: [moka](https://docs.rs/moka)'s concurrent cache with LRU eviction, bounded by
//!   total weight — the bytes of each entry's key, body and metadata — and a TTL per
//!   method, counted from when the answer arrived. The bound holds as soon as an insert
//!   returns: the call that inserts runs moka's pending evictions before it answers (moka
//!   would otherwise evict later, in batches, and serve entries far over the bound until
//!   then); a hit pays nothing for it. An answer larger than the whole bound is not kept
//!   at all (it is passed on and counts as a miss).
//! - Only successes are kept: an error (any status) is passed on and never cached, so the
//!   next call tries again. Oneway calls and streams pass through, and so does a call
//!   pinned to one instance — each copy of a [`crate::Client::broadcast`] or `fork` — which
//!   asks that instance, not the service: the key names no instance, so a cached answer
//!   would stand in for every instance's.
//! - Concurrent misses of one key make one call: the others wait for its answer (moka's
//!   `or_try_insert_with`) and count as hits; if it fails, each waiter gets its error —
//!   except a failure of the leading call's own deadline or cancellation
//!   (`deadline_exceeded`, `cancelled`), which says nothing about the answer: the waiters
//!   then call again (one of them leads). Every caller, leading or waiting, waits within
//!   its own deadline and gets `deadline_exceeded` at it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use moka::Expiry;
use moka::future::Cache;
use moka::policy::EvictionPolicy;
use tower_layer::Layer;
use tower_service::Service;

use crate::client::{ClientRequest, ClientResponse};
use crate::discovery::Want;
use crate::per_method::PerMethod;
use crate::status::{Code, Status};

/// How one method's answers are cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    ttl: Duration,
    metadata_keys: Vec<String>,
}

impl CacheSettings {
    /// Keep each answer for `ttl` after it arrived.
    pub fn ttl(ttl: Duration) -> CacheSettings {
        CacheSettings {
            ttl,
            metadata_keys: Vec::new(),
        }
    }

    /// Make these request metadata keys part of the cache key (their values, or their
    /// absence): for answers that depend on a tenant, a language, a user. Default none.
    ///
    /// # Panics
    /// If a key breaks the metadata key rule ([`crate::metadata::check_key`]: lowercase, as
    /// every caller sends them): `"Tenant"` would never match a call's `tenant`, and every
    /// tenant would share one entry.
    pub fn metadata_keys<I, K>(mut self, keys: I) -> CacheSettings
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.metadata_keys = keys.into_iter().map(Into::into).collect();
        for key in &self.metadata_keys {
            if let Err(why) = crate::metadata::check_key(key) {
                panic!("CacheSettings::metadata_keys: {why}");
            }
        }
        self
    }
}

/// Hits and misses since the cache was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Calls answered from the cache (including those that waited for a concurrent miss).
    pub hits: u64,
    /// Calls of a cached method that went to the server.
    pub misses: u64,
    /// Entries held now (moka's estimate: expired entries may still count until its
    /// housekeeping runs, see [`CacheLayer::sync`]).
    pub entries: u64,
}

/// A cached answer and how long it lives.
#[derive(Clone)]
struct Entry {
    response: ClientResponse,
    ttl: Duration,
}

/// Each entry lives its method's TTL from its insertion.
struct PerEntryTtl;

impl Expiry<Arc<[u8]>, Entry> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &Arc<[u8]>,
        entry: &Entry,
        _at: Instant,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// The response cache layer (see the module doc). Cloning shares the cache.
///
/// ```
/// # use erpc_core as erpc;
/// use std::time::Duration;
/// use erpc::client::{CacheLayer, CacheSettings};
/// use erpc::per_method::PerMethod;
///
/// // Cache `Catalog.Price` for 30 s per currency; nothing else. At most 64 MiB.
/// let cache = CacheLayer::new(
///     64 << 20,
///     PerMethod::new(None).method(
///         "Catalog",
///         "Price",
///         Some(CacheSettings::ttl(Duration::from_secs(30)).metadata_keys(["currency"])),
///     ),
/// );
/// let builder = erpc::Client::builder().layer(cache.clone());
/// ```
#[derive(Clone)]
pub struct CacheLayer {
    shared: Arc<Shared>,
}

struct Shared {
    methods: PerMethod<Option<CacheSettings>>,
    store: Cache<Arc<[u8]>, Entry>,
    /// The store's bound, to refuse an answer that could never fit before inserting it.
    max_bytes: u64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CacheLayer {
    /// A cache of at most `max_bytes` (keys, bodies and metadata of the entries; the least
    /// recently used go first), for the methods whose setting is `Some`. The bound holds
    /// after every insert; an answer larger than `max_bytes` is never kept.
    pub fn new(max_bytes: u64, methods: PerMethod<Option<CacheSettings>>) -> CacheLayer {
        let store = Cache::builder()
            .max_capacity(max_bytes)
            .eviction_policy(EvictionPolicy::lru())
            .weigher(|key: &Arc<[u8]>, entry: &Entry| {
                u32::try_from(weight(key, entry)).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        CacheLayer {
            shared: Arc::new(Shared {
                methods,
                store,
                max_bytes,
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            }),
        }
    }

    /// Hits, misses and entries so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.shared.hits.load(Ordering::Relaxed),
            misses: self.shared.misses.load(Ordering::Relaxed),
            entries: self.shared.store.entry_count(),
        }
    }

    /// Drop every entry (say, after a write that makes them stale).
    pub fn clear(&self) {
        self.shared.store.invalidate_all();
    }

    /// Run the store's pending housekeeping now (expiries, and evictions left by a caller
    /// whose deadline cut its insert short) so that [`CacheLayer::stats`] counts exactly;
    /// moka otherwise does it in small steps as it is used. Not needed for the byte bound:
    /// each insert enforces it before its call returns.
    pub async fn sync(&self) {
        self.shared.store.run_pending_tasks().await;
    }
}

impl std::fmt::Debug for CacheLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheLayer")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// What an entry weighs against the byte bound: its key, body and metadata.
fn weight(key: &[u8], entry: &Entry) -> u64 {
    let metadata: usize = entry
        .response
        .metadata
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    (key.len() as u64)
        .saturating_add(entry.response.body.len() as u64)
        .saturating_add(metadata as u64)
}

/// The call's cache key: each part length-prefixed.
fn key_of(request: &ClientRequest, settings: &CacheSettings) -> Arc<[u8]> {
    let mut key =
        Vec::with_capacity(request.service.len() + request.method.len() + request.body.len() + 32);
    let part = |key: &mut Vec<u8>, bytes: &[u8]| {
        key.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        key.extend_from_slice(bytes);
    };
    part(&mut key, request.service.as_bytes());
    part(&mut key, request.method.as_bytes());
    part(&mut key, &request.body);
    for name in &settings.metadata_keys {
        match request.metadata.get(name) {
            // Absent and empty differ: a tag byte says which.
            Some(value) => {
                key.push(1);
                part(&mut key, value);
            }
            None => key.push(0),
        }
    }
    key.into()
}

/// A service whose cached methods answer from the cache.
#[derive(Clone)]
pub struct Cached<S> {
    inner: S,
    cache: CacheLayer,
}

impl<S> Layer<S> for CacheLayer {
    type Service = Cached<S>;
    fn layer(&self, inner: S) -> Cached<S> {
        Cached {
            inner,
            cache: self.clone(),
        }
    }
}

impl<S> Service<ClientRequest> for Cached<S>
where
    S: Service<ClientRequest, Response = ClientResponse, Error = Status> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = ClientResponse;
    type Error = Status;
    type Future = BoxFuture<'static, Result<ClientResponse, Status>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Status>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: ClientRequest) -> Self::Future {
        // The clone that was made ready is the one that must be called (tower's rule).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let shared = self.cache.shared.clone();
        let settings = shared.methods.get(&request.service, &request.method);
        let pinned = matches!(request.steer.want(), Want::Only(_));
        let Some(settings) = settings
            .as_ref()
            .filter(|_| !request.oneway && !request.stream && !pinned)
        else {
            return Box::pin(inner.call(request));
        };
        let key = key_of(&request, settings);
        let ttl = settings.ttl;
        Box::pin(async move {
            let deadline = request.deadline;
            // Each caller waits within its own deadline, whether it leads or waits.
            match tokio::time::timeout_at(deadline, shared.lookup(key, inner, request, ttl)).await {
                Ok(answer) => answer,
                Err(_) => Err(Status::deadline_exceeded(
                    "the call's deadline passed before its answer came (response cache: the call, or the same call it waited for, was still running)",
                )),
            }
        })
    }
}

/// Why a merged miss left nothing in the store: the leading call failed on its own deadline
/// or cancellation (which says nothing about the answer, so waiters with time left call
/// again), failed otherwise (shared with every waiter), or succeeded with an answer too
/// large for the whole bound (moka would only drop it at its next housekeeping, serving it
/// until then; it goes to the leader and every waiter instead, and is not kept).
#[derive(Debug)]
enum Failure {
    Failed { status: Status, own_limit: bool },
    TooLarge(ClientResponse),
}

impl Shared {
    /// The answer for `key`: from the store, by waiting for a concurrent miss of the same
    /// key, or by calling. A failure of another caller's own deadline or cancellation is not
    /// taken: this caller then tries again (one of the remaining callers leads).
    async fn lookup<S>(
        self: Arc<Self>,
        key: Arc<[u8]>,
        mut inner: S,
        request: ClientRequest,
        ttl: Duration,
    ) -> Result<ClientResponse, Status>
    where
        S: Service<ClientRequest, Response = ClientResponse, Error = Status> + Clone + Send,
        S::Future: Send,
    {
        // The first attempt uses the clone made ready by `poll_ready`; a retry readies a new one.
        let mut ready = true;
        loop {
            if !ready {
                std::future::poll_fn(|cx| inner.poll_ready(cx)).await?;
            }
            ready = false;
            let mut service = inner.clone();
            std::mem::swap(&mut service, &mut inner);
            let led = Arc::new(AtomicBool::new(false));
            let (counted, leading, request) = (self.clone(), led.clone(), request.clone());
            let entry_key = key.clone();
            let fetch = async move {
                leading.store(true, Ordering::Relaxed);
                counted.misses.fetch_add(1, Ordering::Relaxed);
                match service.call(request).await {
                    Ok(response) => {
                        let entry = Entry { response, ttl };
                        if weight(&entry_key, &entry) > counted.max_bytes {
                            return Err(Failure::TooLarge(entry.response));
                        }
                        Ok(entry)
                    }
                    Err(status) => Err(Failure::Failed {
                        own_limit: matches!(
                            status.code(),
                            Code::DeadlineExceeded | Code::Cancelled
                        ),
                        status,
                    }),
                }
            };
            match self
                .store
                .entry(key.clone())
                .or_try_insert_with(fetch)
                .await
            {
                Ok(entry) => {
                    if entry.is_fresh() {
                        // This call inserted: moka only records the insert and evicts at
                        // its next housekeeping, so the store could hold far more than its
                        // bound until then. Evict now, on the miss path (which already paid
                        // for a call), so that the bound holds when this call returns.
                        self.store.run_pending_tasks().await;
                    } else {
                        self.hits.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(entry.into_value().response);
                }
                Err(failure) => match &*failure {
                    // Another caller's deadline or cancellation: this caller still has time
                    // (the timeout around `lookup` says so), so it calls again.
                    Failure::Failed {
                        own_limit: true, ..
                    } if !led.load(Ordering::Relaxed) => continue,
                    // Not cached: each caller that waited for it gets the same status.
                    Failure::Failed { status, .. } => return Err(status.clone()),
                    // Too large to keep: the leader counted its miss; a waiter was spared a
                    // call, as with any merged miss, and counts as a hit.
                    Failure::TooLarge(response) => {
                        if !led.load(Ordering::Relaxed) {
                            self.hits.fetch_add(1, Ordering::Relaxed);
                        }
                        return Ok(response.clone());
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CacheSettings;
    use std::time::Duration;

    #[test]
    #[should_panic(
        expected = "CacheSettings::metadata_keys: \"Tenant\" is not a valid metadata key"
    )]
    fn a_key_no_call_sends_is_refused() {
        // Callers send `tenant`: a cache keyed on `Tenant` would share one entry among all.
        let _ = CacheSettings::ttl(Duration::from_secs(1)).metadata_keys(["tenant", "Tenant"]);
    }
}
