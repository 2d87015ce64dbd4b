//! The response cache (feature `cache`) on a real in-process server: a repeated read is
//! answered from memory, the key takes the request and the chosen metadata, entries expire
//! after their TTL, the size bound evicts the least recently used, errors are never kept,
//! and methods not opted in always reach the server.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use erpc::Status;
use erpc::client::{CacheLayer, CacheSettings, CacheStats};
use erpc::per_method::PerMethod;
use support::mem_addr;

#[erpc::service]
pub trait Store {
    /// The value of `key`: a body of `size` bytes naming the call number that made it.
    async fn get(&self, key: String, size: u32) -> Result<String, Status>;
    /// Always fails.
    async fn broken(&self, key: String) -> Result<String, Status>;
    /// Not cached.
    async fn put(&self, key: String) -> Result<String, Status>;
    /// Like `get`, but answers after `ms` milliseconds.
    async fn slow(&self, key: String, ms: u64) -> Result<String, Status>;
}

#[derive(Clone, Default)]
struct Backend {
    /// Calls that reached the server.
    served: Arc<AtomicU64>,
}

impl Store for Backend {
    async fn get(&self, key: String, size: u32) -> Result<String, Status> {
        let n = self.served.fetch_add(1, Ordering::Relaxed);
        let mut value = format!("{key}#{n}");
        value.extend(std::iter::repeat_n('.', size as usize));
        Ok(value)
    }
    async fn broken(&self, _key: String) -> Result<String, Status> {
        self.served.fetch_add(1, Ordering::Relaxed);
        Err(Status::unavailable("the disk is gone"))
    }
    async fn put(&self, key: String) -> Result<String, Status> {
        let n = self.served.fetch_add(1, Ordering::Relaxed);
        Ok(format!("{key}#{n}"))
    }
    async fn slow(&self, key: String, ms: u64) -> Result<String, Status> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.put(key).await
    }
}

async fn cached(
    max_bytes: u64,
    ttl: Duration,
) -> (erpc::ServerHandle, StoreClient, CacheLayer, Backend) {
    let backend = Backend::default();
    let server = erpc::Server::builder()
        .add_service(StoreServer::new(backend.clone()))
        .serve([mem_addr()])
        .await
        .unwrap();
    let settings = CacheSettings::ttl(ttl).metadata_keys(["tenant"]);
    let cache = CacheLayer::new(
        max_bytes,
        PerMethod::new(None)
            .method("Store", "get", Some(settings.clone()))
            .method("Store", "slow", Some(settings.clone()))
            .method("Store", "broken", Some(settings)),
    );
    let client = StoreClient::new(
        erpc::Client::builder()
            .layer(cache.clone())
            .connect(server.local_addr())
            .await
            .unwrap(),
    );
    (server, client, cache, backend)
}

fn stats(hits: u64, misses: u64, entries: u64) -> CacheStats {
    CacheStats {
        hits,
        misses,
        entries,
    }
}

#[tokio::test]
async fn a_repeated_read_is_a_hit_and_the_key_takes_request_and_chosen_metadata() {
    let (server, client, cache, backend) = cached(1 << 20, Duration::from_secs(60)).await;
    let first = client.get("a".into(), 0).await.unwrap();
    assert_eq!(client.get("a".into(), 0).await.unwrap(), first);
    assert_eq!(backend.served.load(Ordering::Relaxed), 1);
    // Another request, another entry.
    assert_eq!(client.get("b".into(), 0).await.unwrap(), "b#1");
    // The same request for another tenant: its own entry; unselected metadata: the same.
    let t1 = client
        .get("a".into(), 0)
        .metadata("tenant", "t1")
        .await
        .unwrap();
    assert_eq!(t1, "a#2");
    let t1_again = client
        .get("a".into(), 0)
        .metadata("tenant", "t1")
        .metadata("trace", "xyz")
        .await
        .unwrap();
    assert_eq!(t1_again, t1);
    cache.sync().await;
    assert_eq!(cache.stats(), stats(2, 3, 3));
    // A method not opted in always reaches the server, uncounted.
    client.put("a".into()).await.unwrap();
    client.put("a".into()).await.unwrap();
    assert_eq!(backend.served.load(Ordering::Relaxed), 5);
    assert_eq!(cache.stats(), stats(2, 3, 3));
    server.shutdown().await;
}

#[tokio::test]
async fn an_entry_expires_after_its_ttl() {
    let (server, client, cache, backend) = cached(1 << 20, Duration::from_millis(200)).await;
    assert_eq!(client.get("a".into(), 0).await.unwrap(), "a#0");
    assert_eq!(client.get("a".into(), 0).await.unwrap(), "a#0");
    // moka keeps its own clock: real time must pass.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        client.get("a".into(), 0).await.unwrap(),
        "a#1",
        "expired, fetched again"
    );
    assert_eq!(backend.served.load(Ordering::Relaxed), 2);
    assert_eq!(cache.stats().misses, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn the_size_bound_evicts_the_least_recently_used() {
    // Room for two 1 KiB answers (and their keys), not three.
    let (server, client, cache, backend) = cached(2_400, Duration::from_secs(60)).await;
    client.get("a".into(), 1_000).await.unwrap();
    cache.sync().await;
    client.get("b".into(), 1_000).await.unwrap();
    cache.sync().await;
    // a is used again: b is now the least recently used.
    client.get("a".into(), 1_000).await.unwrap();
    cache.sync().await;
    client.get("c".into(), 1_000).await.unwrap();
    cache.sync().await;
    assert_eq!(cache.stats().entries, 2, "{:?}", cache.stats());
    let served = backend.served.load(Ordering::Relaxed);
    assert_eq!(served, 3);
    client.get("a".into(), 1_000).await.unwrap();
    assert_eq!(backend.served.load(Ordering::Relaxed), 3, "a kept");
    client.get("b".into(), 1_000).await.unwrap();
    assert_eq!(backend.served.load(Ordering::Relaxed), 4, "b evicted");
    server.shutdown().await;
}

#[tokio::test]
async fn the_byte_bound_holds_right_after_each_insert() {
    // Room for two 1 KiB answers. Ten are inserted with no `sync()` between them: moka
    // alone would evict only at its next housekeeping and answer all ten from memory.
    let (server, client, cache, backend) = cached(2_400, Duration::from_secs(60)).await;
    let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    for key in &keys {
        client.get(key.clone(), 1_000).await.unwrap();
    }
    assert_eq!(backend.served.load(Ordering::Relaxed), 10);
    // Read back, newest first: only the two that fit can be hits.
    for key in keys.iter().rev() {
        client.get(key.clone(), 1_000).await.unwrap();
    }
    let hits = 20 - backend.served.load(Ordering::Relaxed);
    assert!(
        hits <= 2,
        "{hits} of 10 answered from a cache with room for 2"
    );
    assert!(hits >= 1, "the newest answer was not kept: {hits} hits");
    assert!(cache.stats().entries <= 2, "{:?}", cache.stats());
    server.shutdown().await;
}

#[tokio::test]
async fn an_answer_larger_than_the_whole_bound_is_never_kept() {
    let (server, client, cache, backend) = cached(10 * 1024, Duration::from_secs(60)).await;
    for _ in 0..3 {
        client.get("big".into(), 50_000).await.unwrap();
    }
    assert_eq!(
        backend.served.load(Ordering::Relaxed),
        3,
        "never served from memory"
    );
    cache.sync().await;
    assert_eq!(cache.stats(), stats(0, 3, 0));
    server.shutdown().await;
}

#[tokio::test]
async fn errors_are_never_cached() {
    let (server, client, cache, backend) = cached(1 << 20, Duration::from_secs(60)).await;
    for _ in 0..3 {
        let e = client.broken("a".into()).await.unwrap_err();
        assert_eq!(e.code(), erpc::Code::Unavailable);
        assert!(e.message().contains("the disk is gone"), "{e}");
    }
    assert_eq!(backend.served.load(Ordering::Relaxed), 3);
    cache.sync().await;
    assert_eq!(cache.stats(), stats(0, 3, 0));
    server.shutdown().await;
}

/// Waits until the server has started `n` calls in all.
async fn served(backend: &Backend, n: u64) {
    while backend.served.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_waiter_for_the_same_call_keeps_its_own_deadline() {
    let (server, client, _cache, backend) = cached(1 << 20, Duration::from_secs(60)).await;
    // The leader takes 1.5 s with time to spare; a waiter with 50 ms must not wait for it.
    let leader = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .slow("k".into(), 1_500)
                .timeout(Duration::from_secs(30))
                .await
        }
    });
    // `slow` counts its call after the sleep: wait until the leader is in the store's line.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let e = client
        .slow("k".into(), 1_500)
        .timeout(Duration::from_millis(50))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert_eq!(e.code(), erpc::Code::DeadlineExceeded, "{e}");
    assert!(waited < Duration::from_millis(1_000), "waited {waited:?}");
    assert!(leader.await.unwrap().is_ok());
    assert_eq!(backend.served.load(Ordering::Relaxed), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_leaders_own_deadline_is_not_handed_to_waiters_with_time_left() {
    let (server, client, _cache, backend) = cached(1 << 20, Duration::from_secs(60)).await;
    // The leader gives up after 200 ms; the waiter has 30 s and must get the answer by
    // calling itself, not the leader's deadline_exceeded.
    let leader = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .slow("k".into(), 600)
                .timeout(Duration::from_millis(200))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let answer = client
        .slow("k".into(), 600)
        .timeout(Duration::from_secs(30))
        .await;
    let e = leader.await.unwrap().unwrap_err();
    assert_eq!(e.code(), erpc::Code::DeadlineExceeded, "{e}");
    assert!(answer.is_ok(), "{answer:?}");
    served(&backend, 1).await;
    server.shutdown().await;
}
