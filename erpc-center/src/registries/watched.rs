//! Following what a center lists and watches — a service's instances, or the config under a
//! prefix — into a `watch` channel: list, watch from the listing's revision and epoch, apply
//! each change; after a disconnect resume from the last revision seen (on whichever center
//! answers), list again when the center cannot replay from there (too old, or not of its
//! history: a restarted memory center, a center on another store), and keep the last state
//! while no center answers.

use std::collections::BTreeMap;
use std::sync::Arc;

use erpc_core::discovery::{Endpoints, Instance};
use erpc_core::{Code, Status, Streaming};
use futures_util::future::BoxFuture;
use tokio::sync::watch;

use crate::model::{Change, Event, Filter};
use crate::registries::center::CenterRegistry;
use crate::registries::follow::{FIRST_BACKOFF, endpoints, pause};
use crate::service::CenterClient;

/// Where a follower is in a center's history: the last revision it applied, and the epoch
/// of the history that revision belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Position {
    pub revision: u64,
    pub epoch: u64,
}

/// Something listed and watched on a center.
pub(crate) trait Followed: Clone + Send + Sync + 'static {
    /// What is kept between changes.
    type State: Send + 'static;
    /// What followers see.
    type View: Send + Sync + 'static;
    /// The current state and where it is in the center's history.
    fn list(
        &self,
        center: CenterClient,
    ) -> BoxFuture<'static, Result<(Self::State, Position), Status>>;
    /// The changes after `from`.
    fn watch(
        &self,
        center: CenterClient,
        from: Position,
    ) -> BoxFuture<'static, Result<Streaming<Event>, Status>>;
    /// Apply one change; `false` if it is not about this state.
    fn apply(state: &mut Self::State, change: Change) -> bool;
    /// What followers see of the state.
    fn view(state: &Self::State) -> Self::View;
}

/// A service's instances, by id.
#[derive(Clone)]
pub(crate) struct Instances(pub String);

impl Followed for Instances {
    type State = BTreeMap<String, Instance>;
    type View = Endpoints;

    fn list(
        &self,
        center: CenterClient,
    ) -> BoxFuture<'static, Result<(Self::State, Position), Status>> {
        let service = self.0.clone();
        Box::pin(async move {
            let listing = center.discover(service, Filter::default()).await?;
            let instances = listing
                .instances
                .into_iter()
                .map(|i| (i.id.clone(), i))
                .collect();
            let at = Position {
                revision: listing.revision,
                epoch: listing.epoch,
            };
            Ok((instances, at))
        })
    }

    fn watch(
        &self,
        center: CenterClient,
        from: Position,
    ) -> BoxFuture<'static, Result<Streaming<Event>, Status>> {
        let service = self.0.clone();
        Box::pin(async move { center.watch(service, from.revision, from.epoch).await })
    }

    fn apply(state: &mut Self::State, change: Change) -> bool {
        match change {
            Change::Registered(i) => {
                state.insert(i.id.clone(), i);
            }
            Change::Deregistered { id, .. } => {
                state.remove(&id);
            }
            _ => return false,
        }
        true
    }

    fn view(state: &Self::State) -> Endpoints {
        endpoints(state)
    }
}

/// Config entries under a prefix.
#[derive(Clone)]
pub(crate) struct Config(pub String);

impl Followed for Config {
    type State = BTreeMap<String, String>;
    type View = Arc<BTreeMap<String, String>>;

    fn list(
        &self,
        center: CenterClient,
    ) -> BoxFuture<'static, Result<(Self::State, Position), Status>> {
        let prefix = self.0.clone();
        Box::pin(async move {
            let listing = center.config_get(prefix).await?;
            let at = Position {
                revision: listing.revision,
                epoch: listing.epoch,
            };
            Ok((listing.entries.into_iter().collect(), at))
        })
    }

    fn watch(
        &self,
        center: CenterClient,
        from: Position,
    ) -> BoxFuture<'static, Result<Streaming<Event>, Status>> {
        let prefix = self.0.clone();
        Box::pin(async move { center.config_watch(prefix, from.revision, from.epoch).await })
    }

    fn apply(state: &mut Self::State, change: Change) -> bool {
        match change {
            Change::ConfigSet { key, value } => {
                state.insert(key, value);
            }
            Change::ConfigDeleted { key } => {
                state.remove(&key);
            }
            _ => return false,
        }
        true
    }

    fn view(state: &Self::State) -> Self::View {
        Arc::new(state.clone())
    }
}

/// List `what` on the registry's centers and follow it until every receiver is gone.
pub(crate) async fn subscribe<F: Followed>(
    registry: &CenterRegistry,
    what: F,
) -> Result<watch::Receiver<F::View>, Status> {
    let (state, at) = registry.with_center(|c| what.list(c)).await?;
    let (tx, rx) = watch::channel(F::view(&state));
    tokio::spawn(follow(registry.clone(), what, state, at, tx));
    Ok(rx)
}

async fn follow<F: Followed>(
    registry: CenterRegistry,
    what: F,
    mut state: F::State,
    mut at: Position,
    tx: watch::Sender<F::View>,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let watched = registry.with_center(|c| what.watch(c, at)).await;
        let outcome: Result<(), Status> = async {
            let mut stream = watched?;
            loop {
                tokio::select! {
                    _ = tx.closed() => return Ok(()),
                    next = stream.message() => match next? {
                        Some(event) => {
                            at.revision = event.revision;
                            if F::apply(&mut state, event.change) {
                                backoff = FIRST_BACKOFF;
                                tx.send_replace(F::view(&state));
                            }
                        }
                        None => return Err(Status::unavailable("the watch ended")),
                    },
                }
            }
        }
        .await;
        if tx.is_closed() {
            return;
        }
        match outcome {
            Ok(()) => return,
            Err(e) if e.code() == Code::OutOfRange => {
                // Too far behind to replay, or not this center's history: what we hold may
                // be wrong, so list again (all of it replaces ours) and continue from there.
                tracing::debug!(error = %e, "cannot resume; listing again");
                match registry.with_center(|c| what.list(c)).await {
                    Ok((fresh, listed)) => {
                        state = fresh;
                        at = listed;
                        tx.send_replace(F::view(&state));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "listing again failed; retrying");
                        if !pause(&tx, &mut backoff).await {
                            return;
                        }
                    }
                }
            }
            Err(e) => {
                // The last known state stays while no center answers.
                tracing::debug!(error = %e, "watch lost; retrying");
                if !pause(&tx, &mut backoff).await {
                    return;
                }
            }
        }
    }
}
