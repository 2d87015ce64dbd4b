//! The center as an erpc service: the API servers and clients call.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use erpc_core::stream::push::{self, Overflow};
use erpc_core::{ServerStream, Status};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::model::{Change, Event, Filter, Instance};
use crate::registry::{Record, Registry, TooOld};
use crate::store::Store;

/// A registration's lease, as the center granted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The lease id to renew.
    pub id: u64,
    /// Renew well within this (a third of it is a good period).
    pub ttl_ms: u64,
    /// The revision of the registration.
    pub revision: u64,
}

/// A discovery's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    /// The matching instances.
    pub instances: Vec<Instance>,
    /// The revision they are current at: watch from here to follow changes.
    pub revision: u64,
}

/// Config entries under a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigListing {
    /// `(key, value)` pairs, by key.
    pub entries: Vec<(String, String)>,
    /// The revision they are current at.
    pub revision: u64,
}

/// The registry center's API (CENTER.md).
#[erpc_macros::service(crate = "erpc_core", name = "erpc.Center")]
pub trait Center {
    /// Register an instance (or register it again with new details) under a lease of
    /// `ttl_ms` (clamped to the center's bounds).
    async fn register(&self, instance: Instance, ttl_ms: u64) -> Result<Lease, Status>;
    /// Renew a lease; `not_found` if it expired (register again). Returns the TTL in ms.
    async fn renew(&self, lease: u64) -> Result<u64, Status>;
    /// Remove an instance now (a graceful shutdown). Returns the revision.
    async fn deregister(&self, service: String, id: String) -> Result<u64, Status>;
    /// The instances of a service that pass the filter.
    async fn discover(&self, service: String, filter: Filter) -> Result<Listing, Status>;
    /// Every instance change of `service` ("" for all) after `from_revision`, then live
    /// changes as they happen. `out_of_range` if `from_revision` is too old to replay.
    async fn watch(
        &self,
        service: String,
        from_revision: u64,
    ) -> Result<ServerStream<Event>, Status>;
    /// Set a config key. Returns the revision.
    async fn config_set(&self, key: String, value: String) -> Result<u64, Status>;
    /// Delete a config key. Returns the revision (the current one if it was not set).
    async fn config_delete(&self, key: String) -> Result<u64, Status>;
    /// Config entries under a prefix.
    async fn config_get(&self, prefix: String) -> Result<ConfigListing, Status>;
    /// Every config change under `prefix` after `from_revision`, then live ones.
    async fn config_watch(
        &self,
        prefix: String,
        from_revision: u64,
    ) -> Result<ServerStream<Event>, Status>;
}

/// Center settings.
#[derive(Debug, Clone)]
pub struct CenterConfig {
    /// Shortest lease granted. Default 1 s.
    pub min_ttl: Duration,
    /// Longest lease granted. Default 5 min.
    pub max_ttl: Duration,
    /// How often expired leases are swept. Default 500 ms.
    pub sweep: Duration,
    /// Changes kept for watch replay. Default 10,000.
    pub history: usize,
    /// Changes buffered per watcher before it is told to resume. Default 4,096.
    pub watch_buffer: usize,
}

impl Default for CenterConfig {
    fn default() -> Self {
        CenterConfig {
            min_ttl: Duration::from_secs(1),
            max_ttl: Duration::from_secs(300),
            sweep: Duration::from_millis(500),
            history: crate::registry::DEFAULT_HISTORY,
            watch_buffer: 4096,
        }
    }
}

struct Inner {
    registry: Mutex<Registry>,
    store: Box<dyn Store>,
    /// A commit failed: memory may hold a change the store lacks, so the center refuses
    /// further changes (clients fail over to another center) until it is restarted.
    broken: std::sync::atomic::AtomicBool,
    events: broadcast::Sender<Event>,
    config: CenterConfig,
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The center's implementation. Cheap to clone; every clone is the same center.
#[derive(Clone)]
pub struct CenterImpl {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CenterImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CenterImpl").finish_non_exhaustive()
    }
}

fn store_failed(e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("the center could not persist the change: {e}"))
}

impl CenterImpl {
    /// A center over `store`, restoring what it holds (every lease gets a full TTL of grace).
    /// Starts the lease sweeper on the current runtime.
    pub fn open(store: Box<dyn Store>, config: CenterConfig) -> Result<CenterImpl, Status> {
        let snapshot = store.load().map_err(store_failed)?;
        let registry = Registry::restore(snapshot, config.history, Instant::now());
        tracing::info!(revision = registry.revision(), "center state restored");
        let (events, _) = broadcast::channel(config.watch_buffer.max(16));
        let center = CenterImpl {
            inner: Arc::new(Inner {
                registry: Mutex::new(registry),
                store,
                broken: Default::default(),
                events,
                config,
            }),
        };
        tokio::spawn(sweep(Arc::downgrade(&center.inner)));
        Ok(center)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Apply a change under the lock: persist it, then publish it, so that the store and the
    /// watchers see changes in revision order.
    fn apply<T>(
        inner: &Inner,
        change: impl FnOnce(&mut Registry) -> Option<(T, Event, Record)>,
    ) -> Result<Option<(T, u64)>, Status> {
        use std::sync::atomic::Ordering;
        let mut registry = inner.lock();
        if inner.broken.load(Ordering::Acquire) {
            return Err(store_failed(
                "an earlier change could not be stored; restart the center",
            ));
        }
        let Some((out, event, record)) = change(&mut registry) else {
            return Ok(None);
        };
        if let Err(e) =
            inner
                .store
                .commit(&event, &record, registry.last_lease(), inner.config.history)
        {
            inner.broken.store(true, Ordering::Release);
            tracing::error!(error = %e, "the store failed; refusing further changes");
            return Err(store_failed(e));
        }
        let revision = event.revision;
        let _ = inner.events.send(event);
        Ok(Some((out, revision)))
    }

    /// Run `change` off the async threads: a commit waits for the disk.
    async fn mutate<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Registry) -> Option<(T, Event, Record)> + Send + 'static,
    ) -> Result<Option<(T, u64)>, Status> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || Self::apply(&inner, change))
            .await
            .map_err(|e| Status::internal(format!("center task failed: {e}")))?
    }

    /// Stream the changes after `from` that pass `keep`, then live ones.
    fn follow(
        &self,
        from: u64,
        keep: impl Fn(&Change) -> bool + Send + 'static,
    ) -> Result<ServerStream<Event>, Status> {
        let (backlog, mut live) = {
            let registry = self.lock();
            let backlog = registry.since(from).map_err(too_old)?;
            // Subscribed under the lock: nothing published between the backlog and the
            // subscription can be missed.
            (backlog, self.inner.events.subscribe())
        };
        let (pusher, stream) = push::channel(self.inner.config.watch_buffer, Overflow::Block);
        tokio::spawn(async move {
            let mut last = from;
            for event in backlog {
                last = event.revision;
                if keep(&event.change) && pusher.send(event).await.is_err() {
                    return;
                }
            }
            loop {
                let next = tokio::select! {
                    // The watcher left: stop now, not at the next change.
                    _ = pusher.closed() => return,
                    next = live.recv() => next,
                };
                match next {
                    Ok(event) if event.revision <= last => {}
                    Ok(event) => {
                        last = event.revision;
                        if keep(&event.change) && pusher.send(event).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        pusher.fail(Status::aborted(format!(
                            "this watcher fell behind; watch again from revision {last}"
                        )));
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(stream)
    }
}

fn too_old(e: TooOld) -> Status {
    Status::out_of_range(e.to_string())
}

/// Remove expired leases every sweep interval, for as long as the center exists.
async fn sweep(inner: std::sync::Weak<Inner>) {
    loop {
        let period = match inner.upgrade() {
            Some(inner) => {
                let sweeper = inner.clone();
                // Under the registry's lock, like every change: persisted and published in
                // revision order.
                let _ = tokio::task::spawn_blocking(move || expire_now(&sweeper)).await;
                inner.config.sweep
            }
            None => return,
        };
        tokio::time::sleep(period).await;
    }
}

/// Remove the leases that expired by now.
fn expire_now(inner: &Inner) {
    use std::sync::atomic::Ordering;
    let mut registry = inner.lock();
    if inner.broken.load(Ordering::Acquire) {
        return;
    }
    for (event, record) in registry.expire(Instant::now()) {
        let lease = registry.last_lease();
        if let Err(e) = inner
            .store
            .commit(&event, &record, lease, inner.config.history)
        {
            inner.broken.store(true, Ordering::Release);
            tracing::error!(error = %e, "the store failed; refusing further changes");
            return;
        }
        if let Change::Deregistered { service, id, .. } = &event.change {
            tracing::info!(%service, %id, revision = event.revision, "lease expired");
        }
        let _ = inner.events.send(event);
    }
}

impl Center for CenterImpl {
    async fn register(&self, instance: Instance, ttl_ms: u64) -> Result<Lease, Status> {
        if instance.service.is_empty() || instance.id.is_empty() {
            return Err(Status::invalid_argument(
                "an instance needs a service name and an id",
            ));
        }
        let c = &self.inner.config;
        let ttl = Duration::from_millis(ttl_ms).clamp(c.min_ttl, c.max_ttl);
        let (service, id) = (instance.service.clone(), instance.id.clone());
        let done = self
            .mutate(move |r| {
                let (lease, event, record) = r.register(instance, ttl, Instant::now());
                Some((lease, event, record))
            })
            .await?;
        let (lease, revision) = done.ok_or_else(|| Status::internal("registration lost"))?;
        tracing::info!(%service, %id, lease, revision, ttl_ms = ttl.as_millis() as u64, "registered");
        Ok(Lease {
            id: lease,
            ttl_ms: ttl.as_millis() as u64,
            revision,
        })
    }

    async fn renew(&self, lease: u64) -> Result<u64, Status> {
        match self.lock().renew(lease, Instant::now()) {
            Some(ttl) => Ok(ttl.as_millis() as u64),
            None => Err(Status::not_found(format!(
                "lease {lease} is unknown (expired or deregistered): register again"
            ))),
        }
    }

    async fn deregister(&self, service: String, id: String) -> Result<u64, Status> {
        let (s, i) = (service.clone(), id.clone());
        let done = self
            .mutate(move |r| {
                r.deregister(&s, &i, "deregistered")
                    .map(|(event, record)| ((), event, record))
            })
            .await?;
        match done {
            Some(((), revision)) => {
                tracing::info!(%service, %id, revision, "deregistered");
                Ok(revision)
            }
            None => Ok(self.lock().revision()),
        }
    }

    async fn discover(&self, service: String, filter: Filter) -> Result<Listing, Status> {
        let (instances, revision) = self.lock().discover(&service, &filter);
        Ok(Listing {
            instances,
            revision,
        })
    }

    async fn watch(
        &self,
        service: String,
        from_revision: u64,
    ) -> Result<ServerStream<Event>, Status> {
        self.follow(from_revision, move |change| match change.service() {
            Some(s) => service.is_empty() || s == service,
            None => false,
        })
    }

    async fn config_set(&self, key: String, value: String) -> Result<u64, Status> {
        if key.is_empty() {
            return Err(Status::invalid_argument("a config key may not be empty"));
        }
        let done = self
            .mutate(move |r| {
                let (event, record) = r.config_set(key, value);
                Some(((), event, record))
            })
            .await?;
        Ok(done.map_or(0, |(_, revision)| revision))
    }

    async fn config_delete(&self, key: String) -> Result<u64, Status> {
        let done = self
            .mutate(move |r| {
                r.config_delete(&key)
                    .map(|(event, record)| ((), event, record))
            })
            .await?;
        Ok(match done {
            Some((_, revision)) => revision,
            None => self.lock().revision(),
        })
    }

    async fn config_get(&self, prefix: String) -> Result<ConfigListing, Status> {
        let (entries, revision) = self.lock().config_list(&prefix);
        Ok(ConfigListing { entries, revision })
    }

    async fn config_watch(
        &self,
        prefix: String,
        from_revision: u64,
    ) -> Result<ServerStream<Event>, Status> {
        self.follow(from_revision, move |change| {
            change.key().is_some_and(|k| k.starts_with(&prefix))
        })
    }
}
