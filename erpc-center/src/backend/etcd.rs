//! The center's state in etcd (feature `etcd`), so that any number of centers serve one
//! registry: `erpc-center --store etcd://host:2379`.
//!
//! Layout under the prefix (default [`DEFAULT_PREFIX`]):
//! - `{prefix}/instances/{service}/{id}` → the instance as JSON, attached to an etcd lease.
//!   The center's lease ids *are* etcd's lease ids, so a provider may renew through any
//!   center, and etcd expires the key when renewals stop.
//! - `{prefix}/config/{key}` → the value.
//!
//! Revisions are etcd's: every change has one, unique and increasing, the same on every
//! center, so a watcher resumes on another center from its last revision. Unlike the local
//! backend's they are not gapless (other keys in the same etcd take revisions too), and etcd
//! does not say whether a key left by deregistration or lease expiry (the reason is
//! [`REMOVED`]). Replay reaches back to etcd's last compaction; older revisions get
//! `out_of_range`, like the local history limit. The epoch is etcd's cluster id; a revision
//! past etcd's current one (etcd restored from a snapshot, or started again empty) is refused
//! like a revision of another epoch, rather than waited for.

use std::time::Duration;

use async_trait::async_trait;
use erpc_core::stream::push::{self, Overflow};
use erpc_core::{ServerStream, Status};
use etcd_client::{
    Client, DeleteOptions, EventType, GetOptions, KeyValue, LeaseTimeToLiveOptions, PutOptions,
    WatchOptions,
};

use super::{Backend, Scope};
use crate::model::{Change, Event, Filter, Instance};
use crate::service::{CenterConfig, ConfigListing, Lease, Listing};
use crate::state::NotReplayable;

/// Where a center's state lives in etcd unless the store URL names a prefix.
pub const DEFAULT_PREFIX: &str = "/erpc-center";

/// The reason of every removal seen through etcd.
pub const REMOVED: &str = "removed (deregistered or lease expired)";

/// An etcd failure, as erpc reports it. Shared with [`crate::etcd`].
pub(crate) fn unavailable(e: etcd_client::Error) -> Status {
    Status::unavailable(format!("etcd: {e}"))
}

/// `etcd://host:port[,host:port…][/prefix]` → the client endpoints and the key prefix.
pub fn parse_url(url: &str) -> Result<(Vec<String>, String), String> {
    let rest = url
        .strip_prefix("etcd://")
        .ok_or_else(|| format!("{url:?} is not an etcd:// URL"))?;
    let (hosts, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, DEFAULT_PREFIX),
    };
    let endpoints: Vec<String> = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| format!("http://{h}"))
        .collect();
    if endpoints.is_empty() {
        return Err(format!("{url:?} names no etcd host (etcd://host:2379)"));
    }
    let prefix = if prefix.is_empty() {
        DEFAULT_PREFIX
    } else {
        prefix
    };
    Ok((endpoints, prefix.to_owned()))
}

/// A center's state in etcd. Clones share the connection.
#[derive(Clone)]
pub struct EtcdBackend {
    client: Client,
    instances: String,
    config: String,
    watch_buffer: usize,
}

impl std::fmt::Debug for EtcdBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdBackend")
            .field("instances", &self.instances)
            .finish_non_exhaustive()
    }
}

impl EtcdBackend {
    /// Connect to etcd at `endpoints` (`http://host:2379`) and keep state under `prefix`.
    pub async fn connect<S: AsRef<str>>(
        endpoints: &[S],
        prefix: &str,
        config: &CenterConfig,
    ) -> Result<EtcdBackend, Status> {
        let client = Client::connect(endpoints, None)
            .await
            .map_err(unavailable)?;
        let prefix = prefix.trim_end_matches('/');
        Ok(EtcdBackend {
            client,
            instances: format!("{prefix}/instances/"),
            config: format!("{prefix}/config/"),
            watch_buffer: config.watch_buffer,
        })
    }

    fn client(&self) -> Client {
        self.client.clone()
    }

    fn instance_key(&self, service: &str, id: &str) -> String {
        format!("{}{service}/{id}", self.instances)
    }

    /// The key prefix a watch of `scope` follows.
    fn scope_prefix(&self, scope: &Scope) -> String {
        match scope {
            Scope::Service(s) if s.is_empty() => self.instances.clone(),
            Scope::Service(s) => format!("{}{s}/", self.instances),
            Scope::Config(prefix) => format!("{}{prefix}", self.config),
        }
    }

    /// The change a key-value event stands for (`None` for keys that are not ours or an
    /// instance that does not parse, which is logged).
    fn change(&self, kind: EventType, kv: &KeyValue) -> Option<Change> {
        let key = std::str::from_utf8(kv.key()).ok()?;
        if let Some(rest) = key.strip_prefix(&self.instances) {
            let (service, id) = rest.split_once('/')?;
            return match kind {
                EventType::Put => match serde_json::from_slice::<Instance>(kv.value()) {
                    Ok(instance) => Some(Change::Registered(instance)),
                    Err(e) => {
                        tracing::warn!(key, error = %e, "an instance in etcd does not parse; skipped");
                        None
                    }
                },
                EventType::Delete => Some(Change::Deregistered {
                    service: service.to_owned(),
                    id: id.to_owned(),
                    reason: REMOVED.to_owned(),
                }),
            };
        }
        let key = key.strip_prefix(&self.config)?.to_owned();
        Some(match kind {
            EventType::Put => Change::ConfigSet {
                key,
                value: String::from_utf8_lossy(kv.value()).into_owned(),
            },
            EventType::Delete => Change::ConfigDeleted { key },
        })
    }

    /// What is in `scope` now, each entry as the change that put it there, and where it is in
    /// etcd's history (revision, epoch).
    async fn read(&self, scope: &Scope) -> Result<(Vec<Change>, At), Status> {
        let resp = self
            .client()
            .get(
                self.scope_prefix(scope),
                Some(GetOptions::new().with_prefix()),
            )
            .await
            .map_err(unavailable)?;
        let current = resp
            .kvs()
            .iter()
            .filter_map(|kv| self.change(EventType::Put, kv))
            .collect();
        Ok((current, At::of(resp.header())))
    }

    /// Where etcd's history is now.
    async fn now(&self) -> Result<At, Status> {
        // Any read answers with the current revision; this one reads nothing.
        let options = GetOptions::new().with_count_only();
        let resp = self
            .client()
            .get(self.instances.as_str(), Some(options))
            .await
            .map_err(unavailable)?;
        Ok(At::of(resp.header()))
    }

    /// etcd's current revision.
    async fn current_revision(&self) -> Result<u64, Status> {
        Ok(self.now().await?.revision)
    }

    /// `out_of_range` if the history after `from` of `epoch` cannot be replayed: `epoch` is
    /// not this etcd cluster's, `from` is past its current revision (etcd restored or started
    /// again: the revision is from another history), or etcd compacted it away.
    async fn check_replayable(&self, prefix: &str, from: u64, epoch: u64) -> Result<(), Status> {
        let now = self.now().await?;
        if epoch != 0 && epoch != now.epoch {
            let e = NotReplayable::OtherHistory {
                asked: epoch,
                epoch: now.epoch,
            };
            return Err(Status::out_of_range(e.to_string()));
        }
        if from > now.revision {
            let e = NotReplayable::Future {
                asked: from,
                current: now.revision,
            };
            return Err(Status::out_of_range(e.to_string()));
        }
        let start = i64::try_from(from + 1)
            .map_err(|_| Status::invalid_argument(format!("revision {from} is out of range")))?;
        let options = GetOptions::new()
            .with_prefix()
            .with_count_only()
            .with_revision(start);
        match self.client().get(prefix, Some(options)).await {
            Ok(_) => Ok(()),
            Err(etcd_client::Error::GRpcStatus(s)) if s.message().contains("compacted") => {
                Err(Status::out_of_range(format!(
                    "revision {from} is too old to replay (etcd compacted its history); list again and watch from the listing's revision"
                )))
            }
            // `from` is the current revision: nothing to replay yet.
            Err(etcd_client::Error::GRpcStatus(s)) if s.message().contains("future revision") => {
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

fn revision_of(header: Option<&etcd_client::ResponseHeader>) -> u64 {
    header.map_or(0, |h| h.revision().max(0) as u64)
}

/// A point in etcd's history: a revision, and the cluster id as the epoch.
#[derive(Debug, Clone, Copy)]
struct At {
    revision: u64,
    epoch: u64,
}

impl At {
    fn of(header: Option<&etcd_client::ResponseHeader>) -> At {
        At {
            revision: revision_of(header),
            epoch: header.map_or(0, |h| h.cluster_id()),
        }
    }
}

/// etcd leases are whole seconds (at least 1).
pub(crate) fn whole_seconds(ttl: Duration) -> i64 {
    (ttl.as_millis().div_ceil(1000) as i64).max(1)
}

/// Whether etcd answered that a lease does not exist (its keep-alive says so in an error).
pub(crate) fn lease_not_found(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::GRpcStatus(s) => s.message().contains("lease not found"),
        etcd_client::Error::LeaseKeepAliveError(m) => m.contains("not found"),
        _ => false,
    }
}

/// Service names are path segments of etcd keys: one plain segment (`service_name`).
fn check_service(service: &str) -> Result<(), Status> {
    // "" is every service (discover, watch); a registration's was refused before.
    if service.is_empty() {
        return Ok(());
    }
    crate::service_name::check(service)
}

#[async_trait]
impl Backend for EtcdBackend {
    async fn register(&self, instance: Instance, ttl: Duration) -> Result<Lease, Status> {
        check_service(&instance.service)?;
        let value = serde_json::to_string(&instance)
            .map_err(|e| Status::invalid_argument(format!("instance: {e}")))?;
        let mut client = self.client();
        let granted = client
            .lease_grant(whole_seconds(ttl), None)
            .await
            .map_err(unavailable)?;
        let options = PutOptions::new().with_lease(granted.id()).with_prev_key();
        let put = client
            .put(
                self.instance_key(&instance.service, &instance.id),
                value,
                Some(options),
            )
            .await
            .map_err(unavailable)?;
        // Registered again: the old lease now holds nothing; end it rather than leave it to
        // expire (and to be renewable meanwhile).
        if let Some(old) = put.prev_key().map(KeyValue::lease)
            && old != 0
            && old != granted.id()
            && let Err(e) = client.lease_revoke(old).await
        {
            tracing::debug!(lease = old, error = %e, "revoking a replaced lease failed");
        }
        Ok(Lease {
            id: granted.id() as u64,
            ttl_ms: granted.ttl().max(0) as u64 * 1000,
            revision: revision_of(put.header()),
        })
    }

    async fn renew(&self, lease: u64) -> Result<Option<Duration>, Status> {
        let Ok(id) = i64::try_from(lease) else {
            return Ok(None);
        };
        // One keep-alive round trip on its own stream: renewals come every TTL/3 per
        // instance, and any center may receive them, so no stream is kept per lease.
        let renewed: Result<Option<Duration>, etcd_client::Error> = async {
            let (mut keeper, mut answers) = self.client().lease_keep_alive(id).await?;
            keeper.keep_alive().await?;
            Ok(match answers.message().await? {
                Some(answer) if answer.ttl() > 0 => Some(Duration::from_secs(answer.ttl() as u64)),
                // TTL 0: etcd no longer has the lease.
                _ => None,
            })
        }
        .await;
        match renewed {
            Err(e) if lease_not_found(&e) => Ok(None),
            other => other.map_err(unavailable),
        }
    }

    async fn deregister(&self, service: &str, id: &str) -> Result<(bool, u64), Status> {
        check_service(service)?;
        let mut client = self.client();
        let deleted = client
            .delete(
                self.instance_key(service, id),
                Some(DeleteOptions::new().with_prev_key()),
            )
            .await
            .map_err(unavailable)?;
        // Its lease holds nothing now: end it, so that renewing it says "register again".
        for kv in deleted.prev_kvs() {
            if kv.lease() != 0
                && let Err(e) = client.lease_revoke(kv.lease()).await
            {
                tracing::debug!(lease = kv.lease(), error = %e, "revoking a lease failed");
            }
        }
        Ok((deleted.deleted() > 0, revision_of(deleted.header())))
    }

    async fn release(&self, lease: u64) -> Result<(bool, u64), Status> {
        // The center's lease ids are etcd's: revoking one deletes the key it keeps, if it
        // still keeps one (a re-registration moved the key to a new lease).
        let Ok(id) = i64::try_from(lease) else {
            return self.current_revision().await.map(|r| (false, r));
        };
        let mut client = self.client();
        let held = client
            .lease_time_to_live(id, Some(LeaseTimeToLiveOptions::new().with_keys()))
            .await
            .map_err(unavailable)?;
        // TTL -1: etcd does not know the lease (expired or revoked).
        if held.ttl() < 0 {
            return Ok((false, revision_of(held.header())));
        }
        match client.lease_revoke(id).await {
            Ok(revoked) => Ok((!held.keys().is_empty(), revision_of(revoked.header()))),
            Err(e) if lease_not_found(&e) => self.current_revision().await.map(|r| (false, r)),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn discover(&self, service: &str, filter: &Filter) -> Result<Listing, Status> {
        check_service(service)?;
        let (current, at) = self.read(&Scope::Service(service.to_owned())).await?;
        let instances = current
            .into_iter()
            .filter_map(|change| match change {
                Change::Registered(i) if filter.matches(&i) => Some(i),
                _ => None,
            })
            .collect();
        Ok(Listing {
            instances,
            revision: at.revision,
            epoch: at.epoch,
        })
    }

    async fn watch(
        &self,
        scope: Scope,
        from: u64,
        epoch: u64,
    ) -> Result<ServerStream<Event>, Status> {
        if let Scope::Service(s) = &scope {
            check_service(s)?;
        }
        let prefix = self.scope_prefix(&scope);
        self.check_replayable(&prefix, from, epoch).await?;
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision((from + 1) as i64);
        let mut watch = self
            .client()
            .watch(prefix.as_str(), Some(options))
            .await
            .map_err(unavailable)?;
        let (pusher, stream) = push::channel(self.watch_buffer, Overflow::Block);
        let backend = self.clone();
        tokio::spawn(async move {
            let mut last = from;
            loop {
                let next = tokio::select! {
                    // The watcher left: stop now (dropping the etcd watch cancels it).
                    _ = pusher.closed() => return,
                    next = watch.message() => next,
                };
                let resp = match next {
                    Ok(Some(resp)) => resp,
                    Ok(None) | Err(_) => {
                        pusher.fail(Status::unavailable(format!(
                            "the center lost its etcd watch; watch again from revision {last}"
                        )));
                        return;
                    }
                };
                if resp.compact_revision() > 0 {
                    pusher.fail(Status::out_of_range(format!(
                        "revision {last} is too old to replay (etcd compacted to {}); list again and watch from the listing's revision",
                        resp.compact_revision()
                    )));
                    return;
                }
                if resp.canceled() {
                    pusher.fail(Status::unavailable(format!(
                        "etcd cancelled the watch ({}); watch again from revision {last}",
                        resp.cancel_reason()
                    )));
                    return;
                }
                for event in resp.events() {
                    let Some(kv) = event.kv() else { continue };
                    let revision = kv.mod_revision().max(0) as u64;
                    last = last.max(revision);
                    let Some(change) = backend.change(event.event_type(), kv) else {
                        continue;
                    };
                    if scope.matches(&change)
                        && pusher.send(Event { revision, change }).await.is_err()
                    {
                        return;
                    }
                }
            }
        });
        Ok(stream)
    }

    async fn config_set(&self, key: String, value: String) -> Result<u64, Status> {
        let put = self
            .client()
            .put(format!("{}{key}", self.config), value, None)
            .await
            .map_err(unavailable)?;
        Ok(revision_of(put.header()))
    }

    async fn config_delete(&self, key: &str) -> Result<u64, Status> {
        let deleted = self
            .client()
            .delete(format!("{}{key}", self.config), None)
            .await
            .map_err(unavailable)?;
        Ok(revision_of(deleted.header()))
    }

    async fn config_get(&self, prefix: &str) -> Result<ConfigListing, Status> {
        let (current, at) = self.read(&Scope::Config(prefix.to_owned())).await?;
        let entries = current
            .into_iter()
            .filter_map(|change| match change {
                Change::ConfigSet { key, value } => Some((key, value)),
                _ => None,
            })
            .collect();
        Ok(ConfigListing {
            entries,
            revision: at.revision,
            epoch: at.epoch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_name_hosts_and_an_optional_prefix() {
        assert_eq!(
            parse_url("etcd://127.0.0.1:2379").unwrap(),
            (
                vec!["http://127.0.0.1:2379".to_owned()],
                DEFAULT_PREFIX.to_owned()
            )
        );
        assert_eq!(
            parse_url("etcd://a:1,b:2/prod/center/").unwrap(),
            (
                vec!["http://a:1".to_owned(), "http://b:2".to_owned()],
                "/prod/center".to_owned()
            )
        );
        assert!(parse_url("etcd:///x").is_err());
        assert!(parse_url("redb").is_err());
    }
}
