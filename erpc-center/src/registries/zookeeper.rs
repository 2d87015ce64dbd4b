//! A registry on ZooKeeper (feature `zookeeper`), as the common Java and Go frameworks do it:
//! each instance is an *ephemeral* node `PREFIX/{service}/{id}` holding the instance as JSON.
//! The node lives as long as the provider's ZooKeeper session: a graceful shutdown deletes it
//! at once, and a provider that dies loses it when its session times out (the TTL's
//! counterpart, negotiated by the server between 2 and 20 ticks). Clients list the service's
//! children and set a child watch, listing again each time it fires.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use erpc_core::Status;
use erpc_core::discovery::{Discover, Endpoints, Instance, Register, Registration};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use zookeeper_client::{Acls, Client, CreateMode, Error, SessionState};

use crate::registries::follow::{FIRST_BACKOFF, endpoints, pause};

/// Where instances live by default.
pub const DEFAULT_PREFIX: &str = "/erpc/services";
/// Session timeout asked for by default (the server clamps it to 2–20 of its ticks).
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

fn unavailable(e: Error) -> Status {
    Status::unavailable(format!("zookeeper: {e}"))
}

/// A registry on a ZooKeeper ensemble.
#[derive(Debug, Clone)]
pub struct ZooKeeperRegistry {
    cluster: String,
    prefix: String,
    session_timeout: Duration,
}

impl ZooKeeperRegistry {
    /// A registry on the ensemble at `cluster` (`host:2181[,host:2181…]`). Connects when
    /// something registers or subscribes.
    pub fn new(cluster: impl Into<String>) -> ZooKeeperRegistry {
        ZooKeeperRegistry {
            cluster: cluster.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            session_timeout: DEFAULT_SESSION_TIMEOUT,
        }
    }

    /// Keep instances under `prefix` instead of [`DEFAULT_PREFIX`].
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().trim_end_matches('/').to_owned();
        self
    }

    /// Ask for sessions of `timeout`: how long a dead provider stays listed.
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    async fn connect(&self) -> Result<Client, Status> {
        Client::connector()
            .with_session_timeout(self.session_timeout)
            .connect(&self.cluster)
            .await
            .map_err(unavailable)
    }

    fn service_dir(&self, service: &str) -> String {
        format!("{}/{service}", self.prefix)
    }

    /// Make sure the service's directory exists (persistent), so it can be listed and watched
    /// before any provider arrives.
    async fn ensure_dir(&self, client: &Client, service: &str) -> Result<String, Status> {
        let dir = self.service_dir(service);
        client
            .mkdir(&dir, &CreateMode::Persistent.with_acls(Acls::anyone_all()))
            .await
            .map_err(unavailable)?;
        Ok(dir)
    }

    /// Create the instance's ephemeral node in `client`'s session, replacing a node left by
    /// an earlier session of the same instance (a restarted provider whose old session has
    /// not timed out yet).
    async fn create(&self, client: &Client, instance: &Instance) -> Result<(), Status> {
        let dir = self.ensure_dir(client, &instance.service).await?;
        let path = format!("{dir}/{}", instance.id);
        let data = serde_json::to_vec(instance)
            .map_err(|e| Status::invalid_argument(format!("instance: {e}")))?;
        let options = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
        match client.create(&path, &data, &options).await {
            Ok(_) => Ok(()),
            Err(Error::NodeExists) => {
                match client.delete(&path, None).await {
                    Ok(()) | Err(Error::NoNode) => {}
                    Err(e) => return Err(unavailable(e)),
                }
                client
                    .create(&path, &data, &options)
                    .await
                    .map(|_| ())
                    .map_err(unavailable)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The service's instances by id.
    async fn list(
        &self,
        client: &Client,
        service: &str,
    ) -> Result<(BTreeMap<String, Instance>, zookeeper_client::OneshotWatcher), Status> {
        let dir = self.ensure_dir(client, service).await?;
        let (children, _, watcher) = client
            .get_and_watch_children(&dir)
            .await
            .map_err(unavailable)?;
        let mut instances = BTreeMap::new();
        for id in children {
            match client.get_data(&format!("{dir}/{id}")).await {
                Ok((data, _)) => match serde_json::from_slice::<Instance>(&data) {
                    Ok(instance) => {
                        instances.insert(id, instance);
                    }
                    Err(e) => {
                        tracing::warn!(%service, %id, error = %e, "an instance in zookeeper does not parse; skipped")
                    }
                },
                // Gone between the listing and the read: the watch has fired already.
                Err(Error::NoNode) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        Ok((instances, watcher))
    }
}

/// The checks of every registry ([`service_name`](crate::service_name),
/// [`instance_id`](crate::instance_id)), and ZooKeeper's own: the id is a node name, so it
/// has no `/`.
fn check_names(instance: &Instance) -> Result<(), Status> {
    crate::service_name::check(&instance.service)?;
    let id = &instance.id;
    crate::instance_id::check(&instance.service, id)?;
    if id.contains('/') {
        return Err(Status::invalid_argument(format!(
            "instance id {id:?} of {:?} cannot be a ZooKeeper node name: it contains '/' (give the server an id of its own: Instance::id)",
            instance.service
        )));
    }
    Ok(())
}

fn ended(state: SessionState) -> bool {
    matches!(
        state,
        SessionState::Expired | SessionState::Closed | SessionState::AuthFailed
    )
}

#[async_trait]
impl Register for ZooKeeperRegistry {
    async fn register(&self, instance: Instance) -> Result<Box<dyn Registration>, Status> {
        check_names(&instance)?;
        let client = self.connect().await?;
        self.create(&client, &instance).await?;
        let session = Arc::new(Mutex::new(client));
        let keeper = tokio::spawn(keep(self.clone(), instance.clone(), session.clone()));
        Ok(Box::new(ZooKeeperRegistration {
            path: format!("{}/{}", self.service_dir(&instance.service), instance.id),
            session,
            keeper,
        }))
    }
}

/// Watch the registration's session; when it ends (expired during a partition, say), open a
/// new one and create the node again.
async fn keep(registry: ZooKeeperRegistry, instance: Instance, session: Arc<Mutex<Client>>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let mut state = session.lock().await.state_watcher();
        while !ended(state.changed().await) {}
        tracing::warn!(service = %instance.service, id = %instance.id, "zookeeper session ended; registering again");
        loop {
            let again = async {
                let client = registry.connect().await?;
                registry.create(&client, &instance).await?;
                Ok::<_, Status>(client)
            }
            .await;
            match again {
                Ok(client) => {
                    *session.lock().await = client;
                    backoff = FIRST_BACKOFF;
                    break;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "registering on zookeeper failed");
                    tokio::time::sleep(crate::registries::follow::jittered(backoff)).await;
                    backoff = (backoff * 2).min(crate::registries::follow::MAX_BACKOFF);
                }
            }
        }
    }
}

struct ZooKeeperRegistration {
    path: String,
    session: Arc<Mutex<Client>>,
    keeper: JoinHandle<()>,
}

#[async_trait]
impl Registration for ZooKeeperRegistration {
    async fn deregister(self: Box<Self>) -> Result<(), Status> {
        self.keeper.abort();
        let client = self.session.lock().await;
        // Only our own node: a restarted provider with the same id may have taken the path
        // over in its session, and its node must stay. (Closing our session would remove
        // ours too; deleting first makes the removal visible before `deregister` returns.)
        let ours = match client.check_stat(&self.path).await {
            Ok(Some(stat)) if stat.ephemeral_owner == client.session_id().0 => stat,
            Ok(_) => return Ok(()),
            Err(e) => return Err(unavailable(e)),
        };
        match client.delete(&self.path, Some(ours.version)).await {
            Ok(()) | Err(Error::NoNode) | Err(Error::BadVersion) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

impl Drop for ZooKeeperRegistration {
    fn drop(&mut self) {
        // Dropping the last client closes the session, which removes the node.
        self.keeper.abort();
    }
}

#[async_trait]
impl Discover for ZooKeeperRegistry {
    async fn subscribe(&self, service: &str) -> Result<watch::Receiver<Endpoints>, Status> {
        let client = self.connect().await?;
        let (instances, watcher) = self.list(&client, service).await?;
        let (tx, rx) = watch::channel(endpoints(&instances));
        tokio::spawn(follow(
            self.clone(),
            service.to_owned(),
            client,
            watcher,
            tx,
        ));
        Ok(rx)
    }
}

/// List the service again each time its child watch fires, until every receiver is gone;
/// keep the last list while ZooKeeper is unreachable, with a new session once the old one
/// ended.
async fn follow(
    registry: ZooKeeperRegistry,
    service: String,
    mut client: Client,
    watcher: zookeeper_client::OneshotWatcher,
    tx: watch::Sender<Endpoints>,
) {
    let mut watcher = Some(watcher);
    let mut backoff = FIRST_BACKOFF;
    loop {
        if let Some(w) = watcher.take() {
            tokio::select! {
                _ = tx.closed() => return,
                _ = w.changed() => {}
            }
        }
        if ended(client.state()) {
            match registry.connect().await {
                Ok(fresh) => client = fresh,
                Err(e) => {
                    tracing::debug!(%service, error = %e, "zookeeper unreachable; keeping the last list");
                    if !pause(&tx, &mut backoff).await {
                        return;
                    }
                    continue;
                }
            }
        }
        match registry.list(&client, &service).await {
            Ok((instances, w)) => {
                backoff = FIRST_BACKOFF;
                tx.send_replace(endpoints(&instances));
                watcher = Some(w);
            }
            // The last known list stays.
            Err(e) => {
                tracing::debug!(%service, error = %e, "listing on zookeeper failed; retrying");
                if !pause(&tx, &mut backoff).await {
                    return;
                }
            }
        }
    }
}
