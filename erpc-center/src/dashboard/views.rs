//! `/api/services` and `/api/config`: the registry and the configuration as JSON snapshots,
//! each at a revision (the shapes in CENTER.md, "Dashboard"). The event streams open with
//! the same snapshots.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use erpc_core::Status;
use erpc_core::discovery::Instance;
use serde::Serialize;

use super::{ApiRequest, Failure, Shared, json};
use crate::backend::Backend;
use crate::model::Filter;

/// Every service with its instances, at a revision.
#[derive(Debug, Serialize)]
pub(super) struct Services {
    /// The revision the listing is current at (the event stream goes on from it).
    pub revision: u64,
    /// Which history the revision belongs to.
    pub epoch: u64,
    /// Whether instances carry their lease (`false` on a backend that keeps none).
    pub leases: bool,
    /// By name.
    pub services: Vec<ServiceView>,
}

/// One service.
#[derive(Debug, Serialize)]
pub(super) struct ServiceView {
    name: String,
    /// By id.
    instances: Vec<InstanceView>,
}

impl ServiceView {
    /// Its instances' (service, id).
    pub(super) fn keys(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.instances
            .iter()
            .map(|i| (i.instance.service.clone(), i.instance.id.clone()))
    }
}

/// An instance as registered, with what the page shows of it spelled out.
#[derive(Debug, Serialize)]
pub(super) struct InstanceView {
    #[serde(flatten)]
    instance: Instance,
    /// Metadata `zone`, if registered.
    zone: Option<String>,
    /// Metadata `region`, if registered.
    region: Option<String>,
    /// Its home data center (metadata `dc`), if known (CENTER.md, "Federation").
    dc: Option<String>,
    /// The peer center it is mirrored from (metadata `erpc.remote`); `None` for a local
    /// registration.
    remote: Option<String>,
    /// A mirrored instance whose peer is unreachable: unconfirmed since this Unix time in
    /// ms (metadata `erpc.stale_since`).
    stale_since_ms: Option<u64>,
    /// `false` when marked `erpc.health: NOT_SERVING` (balanced clients skip it).
    serving: bool,
    /// Its lease, when known.
    lease: Option<LeaseView>,
}

/// A registration's lease.
#[derive(Debug, Serialize)]
struct LeaseView {
    id: u64,
    ttl_ms: u64,
    /// Until it expires unless renewed, when the snapshot was taken.
    expires_in_ms: u64,
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl InstanceView {
    /// `instance`, with its lease `(id, ttl, left)` if known.
    pub(super) fn new(
        instance: Instance,
        lease: Option<(u64, std::time::Duration, std::time::Duration)>,
    ) -> InstanceView {
        let meta = |key: &str| instance.metadata.get(key).cloned();
        InstanceView {
            zone: meta("zone"),
            region: meta("region"),
            dc: meta(crate::model::DC_KEY),
            remote: meta(crate::model::REMOTE_KEY),
            stale_since_ms: meta(crate::model::STALE_SINCE_KEY).and_then(|v| v.parse().ok()),
            serving: instance.is_serving(),
            lease: lease.map(|(id, ttl, left)| LeaseView {
                id,
                ttl_ms: millis(ttl),
                expires_in_ms: millis(left),
            }),
            instance,
        }
    }
}

/// The registry now.
pub(super) async fn snapshot(backend: &dyn Backend) -> Result<Services, Status> {
    let (instances, revision, epoch, leases) = match backend.registrations("").await? {
        Some(r) => {
            let instances = r
                .registrations
                .into_iter()
                .map(|(reg, left)| {
                    InstanceView::new(reg.instance, Some((reg.lease, reg.ttl, left)))
                })
                .collect::<Vec<_>>();
            (instances, r.revision, r.epoch, true)
        }
        None => {
            let listing = backend.discover("", &Filter::default()).await?;
            let instances = listing
                .instances
                .into_iter()
                .map(|i| InstanceView::new(i, None))
                .collect();
            (instances, listing.revision, listing.epoch, false)
        }
    };
    let mut by_service: BTreeMap<String, Vec<InstanceView>> = BTreeMap::new();
    for view in instances {
        by_service
            .entry(view.instance.service.clone())
            .or_default()
            .push(view);
    }
    let services = by_service
        .into_iter()
        .map(|(name, mut instances)| {
            instances.sort_by(|a, b| a.instance.id.cmp(&b.instance.id));
            ServiceView { name, instances }
        })
        .collect();
    Ok(Services {
        revision,
        epoch,
        leases,
        services,
    })
}

/// Config entries under a prefix, at a revision.
#[derive(Debug, Serialize)]
pub(super) struct ConfigView {
    pub revision: u64,
    pub epoch: u64,
    /// By key.
    pub entries: Vec<Entry>,
}

/// One config entry.
#[derive(Debug, Serialize)]
pub(super) struct Entry {
    pub key: String,
    pub value: String,
}

/// The configuration under `prefix` now.
pub(super) async fn config_snapshot(
    backend: &dyn Backend,
    prefix: &str,
) -> Result<ConfigView, Status> {
    let listing = backend.config_get(prefix).await?;
    Ok(ConfigView {
        revision: listing.revision,
        epoch: listing.epoch,
        entries: listing
            .entries
            .into_iter()
            .map(|(key, value)| Entry { key, value })
            .collect(),
    })
}

/// `GET /api/services`: [`Services`]; read as the center's `discover` is.
pub(super) async fn services(State(shared): State<Shared>, request: ApiRequest) -> Response {
    if let Err(refused) = request.admit(&shared, "discover", &[]) {
        return refused.into_response();
    }
    match snapshot(shared.backend.as_ref()).await {
        Ok(services) => json(&services),
        Err(e) => Failure::center(&e).into_response(),
    }
}

/// `GET /api/config[?prefix=P]`: [`ConfigView`]; read as the center's `config_get` is.
pub(super) async fn config(State(shared): State<Shared>, request: ApiRequest) -> Response {
    let prefix = match request.admit(&shared, "config_get", &["prefix"]) {
        Ok(mut q) => q.remove("prefix").unwrap_or_default(),
        Err(refused) => return refused.into_response(),
    };
    match config_snapshot(shared.backend.as_ref(), &prefix).await {
        Ok(view) => json(&view),
        Err(e) => Failure::center(&e).into_response(),
    }
}
