//! A registry by multicast DNS (feature `mdns`): zero configuration on a LAN. Each instance
//! is announced as a DNS-SD service of type [`DEFAULT_TYPE`] whose TXT record carries the
//! instance (service, id, addresses, weight, version, group, tags, metadata, location); every
//! registry browses that type and keeps the instances of the services asked for.
//!
//! What mDNS gives and what it does not:
//! - A graceful shutdown sends a goodbye: clients drop the instance one second later (RFC
//!   6762 §10.1 waits that long in case another responder corrects it).
//! - A provider that dies sends nothing; its records stay in the others' caches until they
//!   expire (mdns-sd announces them with the RFC 6762 TTLs: 2 min for host records, 75 min
//!   for the rest). Meanwhile clients skip it once dialling it fails, as for every registry.
//! - Multicast must reach the peers: on one machine it loops back through any multicast
//!   interface; across machines it stays within the link (routers do not forward it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use erpc_core::Status;
use erpc_core::discovery::{Discover, Endpoints, Instance, Register, Registration};
use mdns_sd::{ResolvedService, ServiceDaemon, ServiceEvent, ServiceInfo, TxtProperty};
use tokio::sync::watch;

/// The DNS-SD service type erpc instances are announced under.
pub const DEFAULT_TYPE: &str = "_erpc._tcp.local.";
/// How long [`Discover::subscribe`] waits for a first instance to answer before returning
/// an empty list (instances found later are followed as they come).
pub const FIRST_ANSWER_WAIT: Duration = Duration::from_secs(2);

/// Every erpc instance heard of, by DNS-SD full name.
type Heard = Arc<BTreeMap<String, Instance>>;

fn unavailable(e: mdns_sd::Error) -> Status {
    Status::unavailable(format!("mdns: {e}"))
}

/// A registry on the local link. Cheap to clone; clones share one mDNS responder (a thread
/// of its own) and one browse.
#[derive(Clone)]
pub struct MdnsRegistry {
    daemon: ServiceDaemon,
    service_type: String,
    heard: watch::Receiver<Heard>,
}

impl std::fmt::Debug for MdnsRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdnsRegistry")
            .field("service_type", &self.service_type)
            .finish_non_exhaustive()
    }
}

impl MdnsRegistry {
    /// Start a responder and browse [`DEFAULT_TYPE`]. Needs a tokio runtime.
    pub fn new() -> Result<MdnsRegistry, Status> {
        MdnsRegistry::with_type(DEFAULT_TYPE)
    }

    /// Like [`MdnsRegistry::new`] under another service type (`_name._tcp.local.`, the name
    /// at most 15 characters), to keep environments on one LAN apart.
    pub fn with_type(service_type: &str) -> Result<MdnsRegistry, Status> {
        let daemon = ServiceDaemon::new().map_err(unavailable)?;
        let events = daemon.browse(service_type).map_err(unavailable)?;
        let (tx, heard) = watch::channel(Heard::default());
        tokio::spawn(listen(events, tx));
        Ok(MdnsRegistry {
            daemon,
            service_type: service_type.to_owned(),
            heard,
        })
    }
}

/// Keep the map of every instance heard of, until the responder stops or nobody follows.
async fn listen(events: mdns_sd::Receiver<ServiceEvent>, tx: watch::Sender<Heard>) {
    loop {
        let event = tokio::select! {
            _ = tx.closed() => return,
            event = events.recv_async() => match event {
                Ok(event) => event,
                Err(_) => return,
            },
        };
        match event {
            ServiceEvent::ServiceResolved(service) => match decode(&service) {
                Some(instance) => {
                    let fullname = service.get_fullname().to_owned();
                    tx.send_modify(|heard| {
                        Arc::make_mut(heard).insert(fullname, instance);
                    });
                }
                None => tracing::debug!(
                    name = service.get_fullname(),
                    "an mDNS service without an erpc instance in its TXT record; ignored"
                ),
            },
            ServiceEvent::ServiceRemoved(_, fullname) => {
                tx.send_if_modified(|heard| Arc::make_mut(heard).remove(&fullname).is_some());
            }
            _ => {}
        }
    }
}

/// The instance's TXT properties: one string each, at most 255 bytes (RFC 6763 §6.1).
pub fn encode(instance: &Instance) -> Vec<TxtProperty> {
    let mut props: Vec<TxtProperty> = vec![
        ("service", instance.service.as_str()).into(),
        ("id", instance.id.as_str()).into(),
        ("weight", instance.weight.to_string()).into(),
    ];
    for (key, value) in [("version", &instance.version), ("group", &instance.group)] {
        if !value.is_empty() {
            props.push((key, value.as_str()).into());
        }
    }
    if !instance.tags.is_empty() {
        props.push(("tags", instance.tags.join(",")).into());
    }
    for (i, addr) in instance.addrs.iter().enumerate() {
        props.push((format!("addr{i}"), addr.as_str()).into());
    }
    for (k, v) in &instance.metadata {
        props.push((format!("meta.{k}"), v.as_str()).into());
    }
    if let Some((lat, lon)) = instance.location {
        props.push(("loc", format!("{lat},{lon}")).into());
    }
    props
}

/// The instance a resolved service announces, if it is an erpc one.
pub fn decode(service: &ResolvedService) -> Option<Instance> {
    let get = |key: &str| service.get_property_val_str(key).map(str::to_owned);
    let mut instance = Instance {
        service: get("service")?,
        id: get("id")?,
        weight: get("weight").and_then(|w| w.parse().ok()).unwrap_or(100),
        version: get("version").unwrap_or_default(),
        group: get("group").unwrap_or_default(),
        ..Instance::default()
    };
    if let Some(tags) = get("tags") {
        instance.tags = tags.split(',').map(str::to_owned).collect();
    }
    let mut addrs: Vec<(usize, String)> = Vec::new();
    for prop in service.get_properties().iter() {
        let key = prop.key();
        if let Some(i) = key.strip_prefix("addr").and_then(|i| i.parse().ok()) {
            addrs.push((i, prop.val_str().to_owned()));
        } else if let Some(k) = key.strip_prefix("meta.") {
            instance
                .metadata
                .insert(k.to_owned(), prop.val_str().to_owned());
        }
    }
    addrs.sort();
    instance.addrs = addrs.into_iter().map(|(_, a)| a).collect();
    instance.location = get("loc").and_then(|l| {
        let (lat, lon) = l.split_once(',')?;
        Some((lat.parse().ok()?, lon.parse().ok()?))
    });
    Some(instance)
}

/// The IP and port of the instance's first network address: what DNS-SD's SRV and A
/// records carry (the TXT record carries every address).
fn socket_addr(instance: &Instance) -> Option<std::net::SocketAddr> {
    instance.addrs.iter().find_map(|a| {
        let rest = a.split_once("://")?.1;
        rest.split('/').next()?.parse().ok()
    })
}

#[async_trait]
impl Register for MdnsRegistry {
    async fn register(&self, instance: Instance) -> Result<Box<dyn Registration>, Status> {
        let addr = socket_addr(&instance).ok_or_else(|| {
            Status::invalid_argument(format!(
                "instance {:?} has no IP address to announce over mDNS",
                instance.id
            ))
        })?;
        let name = format!("{}-{}", instance.service, instance.id);
        // A host name per instance (address and port), not per machine: a goodbye covers
        // the host's address records too, and a shared host name made one instance's
        // goodbye take its neighbours' addresses away from every consumer.
        let host = format!(
            "erpc-{}-{}.local.",
            addr.ip().to_string().replace([':', '.'], "-"),
            addr.port()
        );
        let info = ServiceInfo::new(
            &self.service_type,
            &name,
            &host,
            addr.ip(),
            addr.port(),
            encode(&instance),
        )
        .map_err(|e| Status::invalid_argument(format!("mdns: {e}")))?;
        let fullname = info.get_fullname().to_owned();
        self.daemon.register(info).map_err(unavailable)?;
        Ok(Box::new(MdnsRegistration {
            daemon: self.daemon.clone(),
            fullname,
        }))
    }
}

struct MdnsRegistration {
    daemon: ServiceDaemon,
    fullname: String,
}

impl MdnsRegistration {
    /// Send the goodbye; the answer says when it went out.
    fn unregister(&self) -> Result<mdns_sd::Receiver<mdns_sd::UnregisterStatus>, Status> {
        self.daemon.unregister(&self.fullname).map_err(unavailable)
    }
}

#[async_trait]
impl Registration for MdnsRegistration {
    async fn deregister(self: Box<Self>) -> Result<(), Status> {
        let done = self.unregister()?;
        let _ = done.recv_async().await;
        Ok(())
    }
}

impl Drop for MdnsRegistration {
    fn drop(&mut self) {
        // The responder outlives this registration (it is shared): without a goodbye it
        // would keep answering for an instance that is gone.
        let _ = self.unregister();
    }
}

#[async_trait]
impl Discover for MdnsRegistry {
    async fn subscribe(&self, service: &str) -> Result<watch::Receiver<Endpoints>, Status> {
        let mut heard = self.heard.clone();
        let select = {
            let service = service.to_owned();
            move |heard: &Heard| -> Endpoints {
                heard
                    .values()
                    .filter(|i| i.service == service)
                    .filter_map(Instance::endpoint)
                    .collect()
            }
        };
        // Answers take a moment to arrive: wait a little for the first one.
        let _ = tokio::time::timeout(FIRST_ANSWER_WAIT, heard.wait_for(|h| !select(h).is_empty()))
            .await;
        let (tx, rx) = watch::channel(select(&heard.borrow_and_update()));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tx.closed() => return,
                    changed = heard.changed() => if changed.is_err() { return },
                }
                let now = select(&heard.borrow_and_update());
                tx.send_if_modified(|list| {
                    let same = **list == *now;
                    if !same {
                        *list = now;
                    }
                    !same
                });
            }
        });
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announced(instance: &Instance) -> ResolvedService {
        ServiceInfo::new(
            DEFAULT_TYPE,
            "x",
            "erpc-x.local.",
            "127.0.0.1",
            7001,
            encode(instance),
        )
        .unwrap()
        .as_resolved_service()
    }

    #[test]
    fn the_txt_record_carries_the_whole_instance() {
        let mut instance = Instance::new("greeter", "node-1", "tcp://127.0.0.1:7001");
        instance.addrs.push("quic://127.0.0.1:7002".into());
        instance.weight = 30;
        instance.version = "2.1".into();
        instance.group = "canary".into();
        instance.tags = vec!["ssd".into(), "eu".into()];
        instance.metadata.insert("zone".into(), "b".into());
        instance.location = Some((52.5, 13.4));
        assert_eq!(decode(&announced(&instance)), Some(instance));
        let plain = Instance::new("greeter", "node-2", "tcp://127.0.0.1:7003");
        assert_eq!(decode(&announced(&plain)), Some(plain));
    }

    #[test]
    fn a_service_without_an_instance_is_not_one_of_ours() {
        let other = ServiceInfo::new(DEFAULT_TYPE, "x", "x.local.", "127.0.0.1", 1, None)
            .unwrap()
            .as_resolved_service();
        assert_eq!(decode(&other), None);
    }

    #[test]
    fn the_announced_address_is_the_first_network_one() {
        let mut instance = Instance::new("s", "i", "unix:///tmp/s.sock");
        instance.addrs.push("ws://10.0.0.5:8080/erpc".into());
        assert_eq!(
            socket_addr(&instance),
            Some("10.0.0.5:8080".parse().unwrap())
        );
    }
}
