//! The center as an erpc service: the API servers and clients call.

use std::sync::Arc;
use std::time::Duration;

use erpc_core::{Context, ServerStream, Status};
use serde::{Deserialize, Serialize};

use crate::backend::local::Local;
use crate::backend::{Backend, Scope};
use crate::model::{DC_KEY, Event, Filter, Instance, REMOTE_KEY, STALE_SINCE_KEY};
use crate::stats::{CenterStats, Watches, Watching};
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
    /// Which history `revision` belongs to: pass it to `watch` so that a center with another
    /// history (restarted on the memory store, on another store) refuses to resume from it.
    pub epoch: u64,
}

/// Config entries under a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigListing {
    /// `(key, value)` pairs, by key.
    pub entries: Vec<(String, String)>,
    /// The revision they are current at: watch from here to follow changes.
    pub revision: u64,
    /// Which history `revision` belongs to (see [`Listing::epoch`]).
    pub epoch: u64,
}

/// The registry center's API (CENTER.md).
#[erpc_macros::service(crate = "erpc_core", name = "erpc.Center")]
pub trait Center {
    /// Register an instance (or register it again with new details) under a lease of
    /// `ttl_ms` (clamped to the center's bounds).
    async fn register(&self, instance: Instance, ttl_ms: u64) -> Result<Lease, Status>;
    /// Renew a lease; `not_found` if it expired (register again). Returns the TTL in ms.
    async fn renew(&self, lease: u64) -> Result<u64, Status>;
    /// Remove an instance now, whatever lease keeps it (an operator's removal). Returns the
    /// revision.
    async fn deregister(&self, service: String, id: String) -> Result<u64, Status>;
    /// Remove the instance `lease` keeps, if it still keeps one, and end the lease: a
    /// provider's graceful shutdown. Unlike `deregister` it cannot remove a newer
    /// registration of the same (service, id), made under another lease by a restarted
    /// provider. Returns the revision (the current one if nothing was removed).
    async fn release(&self, lease: u64) -> Result<u64, Status>;
    /// The instances of a service (`""`: of every service) that pass the filter.
    async fn discover(&self, service: String, filter: Filter) -> Result<Listing, Status>;
    /// Every instance change of `service` ("" for all) after `from_revision` of history
    /// `epoch` (a listing's; 0 for unchecked), then live changes as they happen.
    /// `out_of_range` if they cannot be replayed — `from_revision` too old, past this
    /// center's last revision, or of another epoch: list again.
    ///
    /// A graceful shutdown of the center ends every watch with `unavailable`: resume from
    /// the last revision seen, at this center once it is back or at another.
    async fn watch(
        &self,
        cx: Context,
        service: String,
        from_revision: u64,
        epoch: u64,
    ) -> Result<ServerStream<Event>, Status>;
    /// Set a config key. Returns the revision.
    async fn config_set(&self, key: String, value: String) -> Result<u64, Status>;
    /// Delete a config key. Returns the revision (the current one if it was not set).
    async fn config_delete(&self, key: String) -> Result<u64, Status>;
    /// Config entries under a prefix.
    async fn config_get(&self, prefix: String) -> Result<ConfigListing, Status>;
    /// Every config change under `prefix` after `from_revision` of history `epoch`, then
    /// live ones; refused like `watch`, and
    /// ended like it on the center's graceful shutdown.
    async fn config_watch(
        &self,
        cx: Context,
        prefix: String,
        from_revision: u64,
        epoch: u64,
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
    /// This center's data center (`--dc`), stamped as metadata `dc` on registrations that
    /// name none. Default none: registrations are stored as sent.
    pub dc: Option<String>,
    /// Peer data centers' centers to mirror (`--follow`, erpc addresses; CENTER.md,
    /// "Federation"). Default none. Needs a store of the center's own (not etcd).
    pub follow: Vec<String>,
    /// How long a peer's instances are kept, marked stale, after the peer became unreachable
    /// (`--remote-stale-after-ms`). Default 60 s.
    pub remote_stale_after: Duration,
    /// The token sent to followed peers (metadata `authorization: Bearer <token>` on their
    /// discover and watch), for peers that protect reads (`--follow-token`). Default none.
    pub follow_token: Option<String>,
    /// The transport settings of the connections to followed peers: for `tls://` and
    /// `quic://` peers, `client_tls` with the CA their certificates chain to
    /// (`--follow-ca`). Default `Options::default()`: no TLS settings, so a TLS peer is
    /// never reached (its follower logs why and keeps trying).
    pub follow_transport: erpc_transport::Options,
    /// This center's own addresses (`--listen`): a `--follow` peer that resolves to one of
    /// them (or to a local address on the port of a wildcard one, `0.0.0.0:PORT`) is this
    /// center itself, and is not followed. Default none.
    pub listen: Vec<String>,
}

impl Default for CenterConfig {
    fn default() -> Self {
        CenterConfig {
            min_ttl: Duration::from_secs(1),
            max_ttl: Duration::from_secs(300),
            sweep: Duration::from_millis(500),
            history: crate::state::DEFAULT_HISTORY,
            watch_buffer: 4096,
            dc: None,
            follow: Vec::new(),
            remote_stale_after: crate::federation::DEFAULT_REMOTE_STALE_AFTER,
            follow_token: None,
            follow_transport: erpc_transport::Options::default(),
            listen: Vec::new(),
        }
    }
}

/// The center's implementation: checks and logs each call, then hands it to its
/// [`Backend`]. Cheap to clone; every clone is the same center.
#[derive(Clone)]
pub struct CenterImpl {
    backend: Arc<dyn Backend>,
    min_ttl: Duration,
    max_ttl: Duration,
    dc: Option<String>,
    watches: Arc<Watches>,
}

impl std::fmt::Debug for CenterImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CenterImpl").finish_non_exhaustive()
    }
}

impl CenterImpl {
    /// A center keeping its state in this process, persisted to `store` and restored from
    /// it (every lease gets a full TTL of grace). Starts the lease sweeper on the current
    /// runtime, and a follower of each of `config.follow`'s peers (CENTER.md, "Federation";
    /// they stop once every clone of the center is dropped). `invalid_argument` for an empty
    /// `dc`, or a peer address that does not parse or is given twice.
    pub fn open(store: Box<dyn Store>, config: CenterConfig) -> Result<CenterImpl, Status> {
        dc_named(&config)?;
        let local = Arc::new(Local::open(store, &config)?);
        crate::federation::follow_peers(&local, &config)?;
        Ok(CenterImpl::with_backend(local, &config))
    }

    /// A center keeping its state in etcd at `endpoints` (`http://host:2379`, several for a
    /// cluster), under `prefix`: every center on the same etcd and prefix serves the same
    /// registry.
    #[cfg(feature = "etcd")]
    pub async fn on_etcd<S: AsRef<str>>(
        endpoints: &[S],
        prefix: &str,
        config: CenterConfig,
    ) -> Result<CenterImpl, Status> {
        dc_named(&config)?;
        if !config.follow.is_empty() {
            return Err(Status::invalid_argument(
                "following peer centers needs a store of the center's own (redb or memory), not etcd",
            ));
        }
        let etcd = crate::backend::etcd::EtcdBackend::connect(endpoints, prefix, &config).await?;
        Ok(CenterImpl::with_backend(Arc::new(etcd), &config))
    }

    /// The backend the center hands its calls to (the dashboard reads through it).
    #[cfg(feature = "dashboard")]
    pub(crate) fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// A center over any backend; `config`'s TTL bounds apply to registrations.
    pub fn with_backend(backend: Arc<dyn Backend>, config: &CenterConfig) -> CenterImpl {
        CenterImpl {
            backend,
            min_ttl: config.min_ttl,
            max_ttl: config.max_ttl,
            dc: config.dc.clone(),
            watches: Arc::default(),
        }
    }

    /// What the center holds now: registrations, leases and configuration keys (from its
    /// backend, if it keeps them), and its open watches. Cheap: read at every scrape of
    /// `/metrics`.
    pub fn stats(&self) -> CenterStats {
        let (watches, config_watches) = self.watches.now();
        CenterStats {
            registry: self.backend.stats(),
            watches,
            config_watches,
        }
    }
}

/// `invalid_argument` for a data center name that is not one plain word ([`check_dc`]); none
/// is `None`.
fn dc_named(config: &CenterConfig) -> Result<(), Status> {
    match config.dc.as_deref().map(check_dc) {
        Some(Err(why)) => Err(Status::invalid_argument(format!(
            "the center's data center (dc) {why}"
        ))),
        _ => Ok(()),
    }
}

/// `Ok` if `dc` can name a data center (`--dc`, [`CenterConfig::dc`]): one plain path
/// segment, as a service name is (`service_name::segment_problem`) — not empty or blank, no
/// `/`, no `..`, no control character (a newline would split the log lines and the
/// registrations' metadata it is stamped into). Else `"<dc>" <why>`, for a message that
/// starts with where the name came from.
pub fn check_dc(dc: &str) -> Result<(), String> {
    match crate::service_name::segment_problem(dc, "data center") {
        None => Ok(()),
        Some(why) => Err(format!("{dc:?} {why}")),
    }
}

/// `Ok` if `dc` (if given) can name a data center ([`check_dc`]); else the message a
/// process refuses it with at start, naming `from` — where the name came from (`--dc`,
/// `ERPC_CENTER_DC (--dc)`, `center.dc in FILE`) — and what to do. Shared by the
/// `erpc-center` and `erpc-gateway` binaries.
pub fn check_dc_option(dc: Option<&str>, from: &str) -> Result<(), String> {
    match dc.map(check_dc) {
        Some(Err(why)) => Err(format!(
            "{from} {why}: give the data center's name, or leave it out"
        )),
        _ => Ok(()),
    }
}

/// `Ok` if `zone` (if given) can name a zone: a plain word, as a data center's name must be
/// ([`check_dc`]; a zone is matched and stamped the same way); else the message a process
/// refuses it with at start, naming `from` (`--zone`, `ERPC_GATEWAY_ZONE (--zone)`).
pub fn check_zone_option(zone: Option<&str>, from: &str) -> Result<(), String> {
    match zone.map(|zone| crate::service_name::segment_problem(zone, "zone").map(|why| (zone, why)))
    {
        Some(Some((zone, why))) => Err(format!(
            "{from} {zone:?} {why}: give the zone's name, or leave it out"
        )),
        _ => Ok(()),
    }
}

/// `invalid_argument` naming what a client could not use: a missing service or id, no
/// address, an address that is not an erpc address, a location off the globe. (Stored, such
/// an instance would be skipped by every client without a word.)
fn check(instance: &Instance) -> Result<(), Status> {
    let refuse = |why: String| Err(Status::invalid_argument(why));
    if instance.service.is_empty() {
        return refuse("an instance needs a service name".into());
    }
    crate::service_name::check(&instance.service)?;
    crate::instance_id::check(&instance.service, &instance.id)?;
    if instance.addrs.is_empty() {
        return refuse(format!(
            "instance {:?} of {:?} has no address to call it at",
            instance.id, instance.service
        ));
    }
    for addr in &instance.addrs {
        if let Err(e) = addr.parse::<erpc_core::Address>() {
            return refuse(format!(
                "instance {:?}: address {addr:?} is not an erpc address: {e}",
                instance.id
            ));
        }
    }
    for key in [REMOTE_KEY, STALE_SINCE_KEY] {
        if instance.metadata.contains_key(key) {
            return refuse(format!(
                "instance {:?}: metadata {key:?} is set by centers on instances they mirror from other data centers, not by registrations",
                instance.id
            ));
        }
    }
    if let Some((lat, lon)) = instance.location {
        if !(-90.0..=90.0).contains(&lat) {
            return refuse(format!(
                "instance {:?}: latitude {lat} is not within -90..=90 degrees",
                instance.id
            ));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return refuse(format!(
                "instance {:?}: longitude {lon} is not within -180..=180 degrees",
                instance.id
            ));
        }
    }
    Ok(())
}

impl Center for CenterImpl {
    async fn register(&self, mut instance: Instance, ttl_ms: u64) -> Result<Lease, Status> {
        check(&instance)?;
        if let Some(dc) = &self.dc {
            instance
                .metadata
                .entry(DC_KEY.to_owned())
                .or_insert_with(|| dc.clone());
        }
        let ttl = Duration::from_millis(ttl_ms).clamp(self.min_ttl, self.max_ttl);
        let (service, id) = (instance.service.clone(), instance.id.clone());
        let lease = self.backend.register(instance, ttl).await?;
        tracing::info!(%service, %id, lease = lease.id, revision = lease.revision, ttl_ms = lease.ttl_ms, "registered");
        Ok(lease)
    }

    async fn renew(&self, lease: u64) -> Result<u64, Status> {
        match self.backend.renew(lease).await? {
            Some(ttl) => Ok(ttl.as_millis() as u64),
            None => Err(Status::not_found(format!(
                "lease {lease} is unknown (expired or deregistered): register again"
            ))),
        }
    }

    async fn deregister(&self, service: String, id: String) -> Result<u64, Status> {
        crate::service_name::check(&service)?;
        crate::instance_id::check(&service, &id)?;
        let (removed, revision) = self.backend.deregister(&service, &id).await?;
        if removed {
            tracing::info!(%service, %id, revision, "deregistered");
        }
        Ok(revision)
    }

    async fn release(&self, lease: u64) -> Result<u64, Status> {
        let (removed, revision) = self.backend.release(lease).await?;
        if removed {
            tracing::info!(lease, revision, "released");
        }
        Ok(revision)
    }

    async fn discover(&self, service: String, filter: Filter) -> Result<Listing, Status> {
        crate::service_name::check_or_every(&service)?;
        let mut listing = self.backend.discover(&service, &filter).await?;
        crate::federation::add_stale_ages(&mut listing.instances);
        Ok(listing)
    }

    async fn watch(
        &self,
        cx: Context,
        service: String,
        from_revision: u64,
        epoch: u64,
    ) -> Result<ServerStream<Event>, Status> {
        crate::service_name::check_or_every(&service)?;
        let events = self
            .backend
            .watch(Scope::Service(service), from_revision, epoch)
            .await?;
        Ok(until_shutdown(events, &cx, self.watches.open(false)))
    }

    async fn config_set(&self, key: String, value: String) -> Result<u64, Status> {
        if key.is_empty() {
            return Err(Status::invalid_argument("a config key may not be empty"));
        }
        crate::service_name::of_config_key(&key)?;
        crate::routes::check(&*self.backend, &key, &value).await?;
        // A live setting is checked as its followers would check it, so that a mistake is
        // refused to the writer (CENTER.md, "Live settings") rather than found in every
        // follower's log. Without feature `config` the center has no parser for them.
        #[cfg(feature = "config")]
        crate::live_config::check_key(&key, &value).map_err(Status::invalid_argument)?;
        self.backend.config_set(key, value).await
    }

    async fn config_delete(&self, key: String) -> Result<u64, Status> {
        self.backend.config_delete(&key).await
    }

    async fn config_get(&self, prefix: String) -> Result<ConfigListing, Status> {
        self.backend.config_get(&prefix).await
    }

    async fn config_watch(
        &self,
        cx: Context,
        prefix: String,
        from_revision: u64,
        epoch: u64,
    ) -> Result<ServerStream<Event>, Status> {
        let events = self
            .backend
            .watch(Scope::Config(prefix), from_revision, epoch)
            .await?;
        Ok(until_shutdown(events, &cx, self.watches.open(true)))
    }
}

/// A watch ends when the center begins a graceful shutdown: it would never end by itself and
/// would hold the shutdown for its whole grace period; the client resumes from its revision.
/// `watching` counts it open for as long as the stream lives (held by the stop future, which
/// the stream drops with itself).
fn until_shutdown(
    events: ServerStream<Event>,
    cx: &Context,
    watching: Watching,
) -> ServerStream<Event> {
    let shutting_down = cx.shutting_down();
    events.until(
        async move {
            let _watching = watching;
            shutting_down.await
        },
        Status::unavailable(
            "the center is shutting down; resume the watch from the last revision seen",
        ),
    )
}
