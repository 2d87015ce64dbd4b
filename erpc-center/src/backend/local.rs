//! The center's state in this process: a [`CenterState`] behind a lock, each change persisted to
//! a [`Store`] and then published to watchers, in revision order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use erpc_core::stream::push::{self, Overflow};
use erpc_core::{ServerStream, Status};
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::{Backend, Registrations, Scope};
use crate::model::{Change, Event, Filter, Instance};
use crate::service::{CenterConfig, ConfigListing, Lease, Listing};
use crate::state::{CenterState, NotReplayable, Record};
use crate::store::Store;

struct Inner {
    registry: Mutex<CenterState>,
    store: Box<dyn Store>,
    /// A commit failed: memory may hold a change the store lacks, so the center refuses
    /// further changes (clients fail over to another center) until it is restarted.
    broken: AtomicBool,
    events: broadcast::Sender<Event>,
    sweep: Duration,
    history: usize,
    watch_buffer: usize,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, CenterState> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Persist a change made under the lock, then publish it: the store and the watchers
    /// see changes in revision order. A failed commit breaks the center (see `broken`).
    fn commit(&self, registry: &CenterState, event: Event, record: &Record) -> Result<u64, Status> {
        if let Err(e) = self
            .store
            .commit(&event, record, registry.last_lease(), self.history)
        {
            self.broken.store(true, Ordering::Release);
            tracing::error!(error = %e, "the store failed; refusing further changes");
            return Err(store_failed(e));
        }
        let revision = event.revision;
        let _ = self.events.send(event);
        Ok(revision)
    }

    /// Apply `change` under the lock and commit what it did.
    fn apply<T>(
        &self,
        change: impl FnOnce(&mut CenterState) -> Option<(T, Event, Record)>,
    ) -> Result<Option<(T, u64)>, Status> {
        let mut registry = self.lock();
        if self.broken.load(Ordering::Acquire) {
            return Err(store_failed(
                "an earlier change could not be stored; restart the center",
            ));
        }
        let Some((out, event, record)) = change(&mut registry) else {
            return Ok(None);
        };
        let revision = self.commit(&registry, event, &record)?;
        Ok(Some((out, revision)))
    }

    /// Remove the leases that expired by now.
    fn expire_now(&self) {
        let mut registry = self.lock();
        if self.broken.load(Ordering::Acquire) {
            return;
        }
        for (event, record) in registry.expire(Instant::now()) {
            if let Change::Deregistered { service, id, .. } = &event.change {
                tracing::info!(%service, %id, revision = event.revision, "lease expired");
            }
            if self.commit(&registry, event, &record).is_err() {
                return;
            }
        }
    }
}

fn store_failed(e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("the center could not persist the change: {e}"))
}

fn not_replayable(e: NotReplayable) -> Status {
    Status::out_of_range(e.to_string())
}

/// A center's state in this process, persisted to a store.
pub struct Local {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local").finish_non_exhaustive()
    }
}

impl Local {
    /// The state `store` holds (every lease gets a full TTL of grace), with the lease
    /// sweeper started on the current runtime.
    pub fn open(store: Box<dyn Store>, config: &CenterConfig) -> Result<Local, Status> {
        let snapshot = store.load().map_err(store_failed)?;
        let registry = CenterState::restore(snapshot, config.history, Instant::now());
        tracing::info!(
            revision = registry.revision(),
            epoch = registry.epoch(),
            "center state restored"
        );
        let (events, _) = broadcast::channel(config.watch_buffer.max(16));
        let inner = Arc::new(Inner {
            registry: Mutex::new(registry),
            store,
            broken: AtomicBool::new(false),
            events,
            sweep: config.sweep,
            history: config.history,
            watch_buffer: config.watch_buffer,
        });
        tokio::spawn(sweep(Arc::downgrade(&inner)));
        Ok(Local { inner })
    }

    /// Run `change` off the async threads: a commit waits for the disk.
    async fn mutate<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut CenterState) -> Option<(T, Event, Record)> + Send + 'static,
    ) -> Result<Option<(T, u64)>, Status> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.apply(change))
            .await
            .map_err(|e| Status::internal(format!("center task failed: {e}")))?
    }

    /// Run a removal: whether it removed an instance, and its revision (the current one if
    /// it removed none).
    async fn remove(
        &self,
        removal: impl FnOnce(&mut CenterState) -> Option<(Event, Record)> + Send + 'static,
    ) -> Result<(bool, u64), Status> {
        let done = self
            .mutate(move |r| removal(r).map(|(event, record)| ((), event, record)))
            .await?;
        Ok(match done {
            Some(((), revision)) => (true, revision),
            None => (false, self.inner.lock().revision()),
        })
    }
}

/// One change a follower makes to the instances it mirrors from its peer
/// ([`crate::federation`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Mirror {
    /// Add or update this mirrored instance (a local registration of the same service and id,
    /// or another peer's copy, stays listed: this one is kept hidden behind it until it
    /// leaves).
    Put(Instance),
    /// Remove the instance `(service, id)` if it is mirrored from `peer` (its metadata
    /// `erpc.remote`); a copy hidden behind it is listed in its place.
    Remove {
        /// Its service.
        service: String,
        /// Its id.
        id: String,
        /// The peer it must be mirrored from.
        peer: String,
        /// Why, as watchers see it in the `Deregistered` change.
        reason: String,
    },
}

impl Local {
    /// Apply a follower's changes, each persisted and published like any change (one
    /// revision each; those that change nothing make none). The lock is taken per change, so
    /// local registrations are not held up behind a long listing's changes.
    pub async fn mirror(&self, changes: Vec<Mirror>) -> Result<(), Status> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            for change in changes {
                inner.apply(move |registry| {
                    let made = match change {
                        Mirror::Put(instance) => registry.mirror_put(instance),
                        Mirror::Remove {
                            service,
                            id,
                            peer,
                            reason,
                        } => registry.mirror_remove(&service, &id, &peer, &reason),
                    };
                    made.map(|(event, record)| ((), event, record))
                })?;
            }
            Ok(())
        })
        .await
        .map_err(|e| Status::internal(format!("center task failed: {e}")))?
    }

    /// Every instance mirrored from a peer, listed or hidden behind another of the same
    /// service and id.
    pub fn mirrored(&self) -> Vec<Instance> {
        self.inner.lock().mirrored()
    }
}

/// Remove expired leases every sweep interval, for as long as the center exists.
async fn sweep(inner: Weak<Inner>) {
    loop {
        let period = match inner.upgrade() {
            Some(inner) => {
                let sweeper = inner.clone();
                // Under the registry's lock, like every change: persisted and published in
                // revision order.
                let _ = tokio::task::spawn_blocking(move || sweeper.expire_now()).await;
                inner.sweep
            }
            None => return,
        };
        tokio::time::sleep(period).await;
    }
}

#[async_trait]
impl Backend for Local {
    fn stats(&self) -> Option<crate::stats::RegistryStats> {
        Some(self.inner.lock().stats())
    }

    async fn register(&self, instance: Instance, ttl: Duration) -> Result<Lease, Status> {
        let done = self
            .mutate(move |r| Some(r.register(instance, ttl, Instant::now())))
            .await?;
        let (lease, revision) = done.ok_or_else(|| Status::internal("registration lost"))?;
        Ok(Lease {
            id: lease,
            ttl_ms: ttl.as_millis() as u64,
            revision,
        })
    }

    async fn renew(&self, lease: u64) -> Result<Option<Duration>, Status> {
        Ok(self.inner.lock().renew(lease, Instant::now()))
    }

    async fn deregister(&self, service: &str, id: &str) -> Result<(bool, u64), Status> {
        if self.inner.lock().is_mirrored(service, id) {
            return Err(Status::failed_precondition(format!(
                "instance {id:?} of {service:?} is mirrored from another data center's center: deregister it there"
            )));
        }
        let (s, i) = (service.to_owned(), id.to_owned());
        self.remove(move |r| r.deregister(&s, &i, "deregistered"))
            .await
    }

    async fn release(&self, lease: u64) -> Result<(bool, u64), Status> {
        self.remove(move |r| r.release(lease, "deregistered")).await
    }

    async fn discover(&self, service: &str, filter: &Filter) -> Result<Listing, Status> {
        let registry = self.inner.lock();
        let (instances, revision) = registry.discover(service, filter);
        Ok(Listing {
            instances,
            revision,
            epoch: registry.epoch(),
        })
    }

    async fn watch(
        &self,
        scope: Scope,
        from: u64,
        epoch: u64,
    ) -> Result<ServerStream<Event>, Status> {
        let (backlog, mut live) = {
            let registry = self.inner.lock();
            let backlog = registry.since(from, epoch).map_err(not_replayable)?;
            // Subscribed under the lock: nothing published between the backlog and the
            // subscription can be missed.
            (backlog, self.inner.events.subscribe())
        };
        let (pusher, stream) = push::channel(self.inner.watch_buffer, Overflow::Block);
        tokio::spawn(async move {
            let mut last = from;
            for event in backlog {
                last = event.revision;
                if scope.matches(&event.change) && pusher.send(event).await.is_err() {
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
                        if scope.matches(&event.change) && pusher.send(event).await.is_err() {
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

    async fn config_set(&self, key: String, value: String) -> Result<u64, Status> {
        let done = self
            .mutate(move |r| {
                let (event, record) = r.config_set(key, value);
                Some(((), event, record))
            })
            .await?;
        Ok(done.map_or(0, |(_, revision)| revision))
    }

    async fn config_delete(&self, key: &str) -> Result<u64, Status> {
        let key = key.to_owned();
        let done = self
            .mutate(move |r| {
                r.config_delete(&key)
                    .map(|(event, record)| ((), event, record))
            })
            .await?;
        Ok(match done {
            Some((_, revision)) => revision,
            None => self.inner.lock().revision(),
        })
    }

    async fn config_get(&self, prefix: &str) -> Result<ConfigListing, Status> {
        let registry = self.inner.lock();
        let (entries, revision) = registry.config_list(prefix);
        Ok(ConfigListing {
            entries,
            revision,
            epoch: registry.epoch(),
        })
    }

    async fn registrations(&self, service: &str) -> Result<Option<Registrations>, Status> {
        let registry = self.inner.lock();
        let (registrations, revision) = registry.registrations(service, Instant::now());
        Ok(Some(Registrations {
            registrations,
            revision,
            epoch: registry.epoch(),
        }))
    }
}
