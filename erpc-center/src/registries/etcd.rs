//! A registry straight on etcd (feature `etcd`), as the common Go frameworks do it: each
//! instance is a key `PREFIX/{service}/{id}` holding the instance as JSON, attached to an etcd
//! lease that the server keeps alive; clients list the prefix and watch it from the listing's
//! revision. No erpc center runs; etcd's own guarantees apply (revisions, ordered watch,
//! lease expiry). A client whose revision etcd has not reached (etcd restored from a snapshot,
//! or started again empty) or that finds another cluster id lists again instead of waiting
//! for that revision.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use erpc_core::Status;
use erpc_core::discovery::{Discover, Endpoints, Instance, Register, Registration};
use etcd_client::{Client, EventType, GetOptions, PutOptions, WatchOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backend::etcd::{lease_not_found, unavailable, whole_seconds};
use crate::registries::follow::{FIRST_BACKOFF, endpoints, pause};

/// Where instances live by default.
pub const DEFAULT_PREFIX: &str = "/erpc/services";
/// Lease TTL by default (etcd leases are whole seconds).
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// A registry on an etcd cluster.
#[derive(Clone)]
pub struct EtcdRegistry {
    client: Client,
    prefix: String,
    ttl: Duration,
}

impl std::fmt::Debug for EtcdRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdRegistry")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl EtcdRegistry {
    /// Connect to etcd at `endpoints` (`http://host:2379`, several for a cluster).
    pub async fn connect<S: AsRef<str>>(endpoints: &[S]) -> Result<EtcdRegistry, Status> {
        let client = Client::connect(endpoints, None)
            .await
            .map_err(unavailable)?;
        Ok(EtcdRegistry {
            client,
            prefix: DEFAULT_PREFIX.to_owned(),
            ttl: DEFAULT_TTL,
        })
    }

    /// Keep instances under `prefix` instead of [`DEFAULT_PREFIX`].
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().trim_end_matches('/').to_owned();
        self
    }

    /// Lease TTL (rounded up to whole seconds, at least 1).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    fn ttl_secs(&self) -> i64 {
        whole_seconds(self.ttl)
    }

    fn service_prefix(&self, service: &str) -> String {
        format!("{}/{service}/", self.prefix)
    }

    /// Grant a lease and put the instance under it.
    async fn put(&self, key: &str, value: &str) -> Result<i64, Status> {
        let mut client = self.client.clone();
        let lease = client
            .lease_grant(self.ttl_secs(), None)
            .await
            .map_err(unavailable)?
            .id();
        client
            .put(key, value, Some(PutOptions::new().with_lease(lease)))
            .await
            .map_err(unavailable)?;
        Ok(lease)
    }

    /// The service's instances by id, and where they are in etcd's history.
    async fn list(&self, service: &str) -> Result<(BTreeMap<String, Instance>, At), Status> {
        let mut client = self.client.clone();
        let resp = client
            .get(
                self.service_prefix(service),
                Some(GetOptions::new().with_prefix()),
            )
            .await
            .map_err(unavailable)?;
        let at = At::of(resp.header());
        let instances = resp
            .kvs()
            .iter()
            .filter_map(|kv| serde_json::from_slice::<Instance>(kv.value()).ok())
            .map(|i| (i.id.clone(), i))
            .collect();
        Ok((instances, at))
    }
}

/// A point in etcd's history: a revision, and the cluster it belongs to.
#[derive(Debug, Clone, Copy, PartialEq)]
struct At {
    revision: i64,
    cluster: u64,
}

impl At {
    fn of(header: Option<&etcd_client::ResponseHeader>) -> At {
        At {
            revision: header.map_or(0, |h| h.revision()),
            cluster: header.map_or(0, |h| h.cluster_id()),
        }
    }

    /// Whether etcd, now at `now`, still has the history this point is in: the same cluster,
    /// and not behind it (an etcd restored from a snapshot or started again empty is).
    fn continues_in(&self, now: At) -> bool {
        now.cluster == self.cluster && now.revision >= self.revision
    }
}

#[async_trait]
impl Register for EtcdRegistry {
    async fn register(&self, instance: Instance) -> Result<Box<dyn Registration>, Status> {
        // The center's checks: the names are segments of the key.
        crate::service_name::check(&instance.service)?;
        crate::instance_id::check(&instance.service, &instance.id)?;
        let key = format!("{}{}", self.service_prefix(&instance.service), instance.id);
        let value = serde_json::to_string(&instance)
            .map_err(|e| Status::invalid_argument(format!("instance: {e}")))?;
        let lease = Arc::new(AtomicI64::new(self.put(&key, &value).await?));
        let keeper = tokio::spawn(keep_alive(self.clone(), key, value, lease.clone()));
        Ok(Box::new(EtcdRegistration {
            registry: self.clone(),
            lease,
            keeper,
        }))
    }
}

/// Keep the lease alive every third of its TTL; if etcd lost it, put the instance again
/// under a new one.
async fn keep_alive(registry: EtcdRegistry, key: String, value: String, lease: Arc<AtomicI64>) {
    let period = Duration::from_millis((registry.ttl_secs() as u64 * 1000 / 3).max(100));
    loop {
        let current = lease.load(Ordering::Acquire);
        let kept: Result<(), etcd_client::Error> = async {
            let mut client = registry.client.clone();
            let (mut keeper, mut responses) = client.lease_keep_alive(current).await?;
            loop {
                keeper.keep_alive().await?;
                match responses.message().await? {
                    Some(r) if r.ttl() > 0 => {}
                    // TTL 0: the lease is gone.
                    _ => return Ok(()),
                }
                tokio::time::sleep(period).await;
            }
        }
        .await;
        if let Err(e) = kept {
            tracing::debug!(error = %e, "etcd keep-alive failed");
            tokio::time::sleep(period).await;
        }
        match registry.put(&key, &value).await {
            Ok(new) => lease.store(new, Ordering::Release),
            Err(e) => tracing::debug!(%e, "re-registering on etcd failed"),
        }
    }
}

struct EtcdRegistration {
    registry: EtcdRegistry,
    /// The lease the key is under now (the keeper replaces it if etcd lost it).
    lease: Arc<AtomicI64>,
    keeper: JoinHandle<()>,
}

#[async_trait]
impl Registration for EtcdRegistration {
    /// Revoke the lease, which deletes the key with it — but only if the key is still under
    /// *our* lease: a provider restarted with the same id has put it under its own, and its
    /// registration must stay.
    async fn deregister(self: Box<Self>) -> Result<(), Status> {
        self.keeper.abort();
        let mut client = self.registry.client.clone();
        match client
            .lease_revoke(self.lease.load(Ordering::Acquire))
            .await
        {
            Ok(_) => Ok(()),
            // Already gone: expired, or revoked.
            Err(e) if lease_not_found(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

impl Drop for EtcdRegistration {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}

#[async_trait]
impl Discover for EtcdRegistry {
    async fn subscribe(&self, service: &str) -> Result<watch::Receiver<Endpoints>, Status> {
        let (instances, at) = self.list(service).await?;
        let (tx, rx) = watch::channel(endpoints(&instances));
        tokio::spawn(follow(self.clone(), service.to_owned(), instances, at, tx));
        Ok(rx)
    }
}

/// Follow the service's keys into `tx` until every receiver is gone; keep the last list while
/// etcd is unreachable, re-list when the watch was compacted away or etcd's history is not
/// the one `at` is in.
async fn follow(
    registry: EtcdRegistry,
    service: String,
    mut instances: BTreeMap<String, Instance>,
    mut at: At,
    tx: watch::Sender<Endpoints>,
) {
    let prefix = registry.service_prefix(&service);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let watched: Result<bool, etcd_client::Error> = async {
            let mut client = registry.client.clone();
            let options = WatchOptions::new()
                .with_prefix()
                .with_start_revision(at.revision + 1);
            let mut stream = client.watch(prefix.as_str(), Some(options)).await?;
            // etcd answers the watch's creation first, with where its history is now: behind
            // our revision, or another cluster, and the watch would wait for a revision of a
            // history we never saw. List again instead.
            let mut created = true;
            loop {
                let next = tokio::select! {
                    _ = tx.closed() => return Ok(true),
                    next = stream.message() => next?,
                };
                let Some(resp) = next else { return Ok(false) };
                if resp.compact_revision() > 0 || resp.canceled() {
                    return Ok(false);
                }
                if std::mem::take(&mut created) && !at.continues_in(At::of(resp.header())) {
                    return Ok(false);
                }
                for event in resp.events() {
                    let Some(kv) = event.kv() else { continue };
                    at.revision = at.revision.max(kv.mod_revision());
                    let id = String::from_utf8_lossy(kv.key())
                        .trim_start_matches(&prefix)
                        .to_owned();
                    match event.event_type() {
                        EventType::Put => {
                            if let Ok(i) = serde_json::from_slice::<Instance>(kv.value()) {
                                instances.insert(id, i);
                            }
                        }
                        EventType::Delete => {
                            instances.remove(&id);
                        }
                    }
                }
                backoff = FIRST_BACKOFF;
                tx.send_replace(endpoints(&instances));
            }
        }
        .await;
        match watched {
            Ok(true) => return,
            // The watch ended, was compacted past, or etcd's history is another: list again.
            Ok(false) => match registry.list(&service).await {
                Ok((fresh, listed)) => {
                    instances = fresh;
                    at = listed;
                    tx.send_replace(endpoints(&instances));
                }
                Err(e) => {
                    tracing::debug!(%service, error = %e, "listing on etcd failed; retrying");
                    if !pause(&tx, &mut backoff).await {
                        return;
                    }
                }
            },
            // etcd unreachable: the last known list stays.
            Err(e) => {
                tracing::debug!(%service, error = %e, "etcd watch lost; retrying");
                if !pause(&tx, &mut backoff).await {
                    return;
                }
            }
        }
        if tx.is_closed() {
            return;
        }
    }
}
