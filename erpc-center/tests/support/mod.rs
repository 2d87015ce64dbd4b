//! Shared by the registry tests: a service that says which instance answered, and a
//! provider of it registered with any registry.
#![allow(dead_code)]

pub mod etcd;
pub mod netns;
pub mod process;
pub mod relay;
pub mod zookeeper;

use std::sync::Arc;

use erpc_core::discovery::{Instance, Register};
use erpc_core::{ServerHandle, Status};

#[erpc_macros::service(crate = "erpc_core")]
pub trait Whoami {
    /// The name of the instance that answered.
    async fn name(&self) -> Result<String, Status>;
}

pub struct Named(pub String);

/// The calls a center received, by method (streams counted when they open).
#[derive(Clone, Default)]
pub struct Calls(Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>);

impl Calls {
    pub fn of(&self, method: &str) -> usize {
        self.0.lock().unwrap().get(method).copied().unwrap_or(0)
    }
}

#[async_trait::async_trait]
impl erpc_core::Middleware for Calls {
    async fn call(
        &self,
        request: erpc_core::Request,
        next: erpc_core::Next<'_>,
    ) -> Result<erpc_core::Response, Status> {
        *self
            .0
            .lock()
            .unwrap()
            .entry(request.method().to_owned())
            .or_default() += 1;
        next.run(request).await
    }
}

impl Whoami for Named {
    async fn name(&self) -> Result<String, Status> {
        Ok(self.0.clone())
    }
}

/// An instance named `name` serving Whoami on a free port, registered with `registry`.
pub async fn provider(registry: Arc<dyn Register>, name: &str) -> ServerHandle {
    provider_on(registry, name, "tcp://127.0.0.1:0").await
}

/// An instance named `name` serving Whoami on `listen`, registered with `registry`.
pub async fn provider_on(registry: Arc<dyn Register>, name: &str, listen: &str) -> ServerHandle {
    erpc_core::Server::builder()
        .add_service(WhoamiServer::new(Named(name.into())))
        .register(
            registry,
            Instance {
                id: name.into(),
                ..Instance::default()
            },
        )
        .serve([listen])
        .await
        .expect("provider serves")
}

/// A client of Whoami that finds its instances through `registry`.
pub async fn consumer(registry: &dyn erpc_core::discovery::Discover) -> WhoamiClient {
    WhoamiClient::new(
        erpc_core::Client::builder()
            .discover(registry, "Whoami")
            .await
            .expect("discovers"),
    )
}

/// The names of the instances that answered `calls` calls of `client`.
pub async fn answering(client: &WhoamiClient, calls: usize) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for _ in 0..calls {
        names.insert(client.name().await.expect("a call succeeds"));
    }
    names
}

/// `registry`'s followed list of Whoami instances.
pub async fn subscribe(
    registry: &dyn erpc_core::discovery::Discover,
) -> tokio::sync::watch::Receiver<erpc_core::discovery::Endpoints> {
    registry.subscribe("Whoami").await.expect("subscribes")
}

/// Wait until `registry`'s list of Whoami instances has `n` entries — the list a client
/// follows, woken by its own updates — and say how long that took.
pub async fn list_reaches(
    registry: &dyn erpc_core::discovery::Discover,
    n: usize,
    limit: std::time::Duration,
) -> std::time::Duration {
    list_reaches_service(registry, "Whoami", n, limit).await
}

/// [`list_reaches`] for the instances of `service`.
pub async fn list_reaches_service(
    registry: &dyn erpc_core::discovery::Discover,
    service: &str,
    n: usize,
    limit: std::time::Duration,
) -> std::time::Duration {
    let started = tokio::time::Instant::now();
    let mut list = registry.subscribe(service).await.expect("subscribes");
    let reached = tokio::time::timeout(limit, list.wait_for(|l| l.len() == n))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(
        reached,
        "{} instances, wanted {n}, after {limit:?}",
        list.borrow().len()
    );
    started.elapsed()
}

/// The life of two providers on `registry`, as every registry must support it: a consumer
/// spreads calls over both; the registrations outlive `hold` (longer than their TTL, so
/// renewals work); a graceful shutdown removes one within a second and the consumer follows;
/// a newcomer is followed too.
pub async fn two_providers_come_and_go<R>(registry: &R, hold: std::time::Duration)
where
    R: Register + erpc_core::discovery::Discover + Clone + 'static,
{
    use std::time::Duration;
    let a = provider(Arc::new(registry.clone()), "a").await;
    let b = provider(Arc::new(registry.clone()), "b").await;
    let client = consumer(registry).await;
    let mut names: Vec<String> = Vec::new();
    for _ in 0..4 {
        names.push(client.name().await.expect("calls reach a provider"));
    }
    names.sort();
    assert_eq!(names, vec!["a", "a", "b", "b"]);
    tokio::time::sleep(hold).await;
    list_reaches(registry, 2, Duration::from_secs(1)).await;
    a.shutdown().await;
    let took = list_reaches(registry, 1, Duration::from_secs(2)).await;
    assert!(
        took < Duration::from_secs(1),
        "removed {took:?} after the shutdown"
    );
    for _ in 0..4 {
        assert_eq!(client.name().await.expect("calls reach b"), "b");
    }
    let c = provider(Arc::new(registry.clone()), "c").await;
    list_reaches(registry, 2, Duration::from_secs(2)).await;
    b.shutdown().await;
    c.shutdown().await;
}

/// A provider restarted with the same id before its old registration lapsed: it takes the
/// registration over, and the old instance deregistering (shutting down late) leaves it
/// alone; then it deregisters itself.
pub async fn a_replaced_registration_survives_the_old_deregistering<R>(registry: &R)
where
    R: Register + erpc_core::discovery::Discover,
{
    let old = registry
        .register(Instance::new("Whoami", "a", "tcp://127.0.0.1:1"))
        .await
        .expect("registers");
    let new = registry
        .register(Instance::new("Whoami", "a", "tcp://127.0.0.1:2"))
        .await
        .expect("registers again");
    old.deregister().await.expect("deregisters");
    let now = subscribe(registry).await.borrow().clone();
    assert_eq!(now.len(), 1, "{now:?}");
    assert_eq!(now[0].addr.to_string(), "tcp://127.0.0.1:2");
    new.deregister().await.expect("deregisters");
    list_reaches(registry, 0, std::time::Duration::from_secs(2)).await;
}

/// Wait until the followed list holds exactly `ids`.
pub async fn list_becomes(
    list: &mut tokio::sync::watch::Receiver<erpc_core::discovery::Endpoints>,
    ids: &[&str],
) {
    let ids_of = |l: &erpc_core::discovery::Endpoints| {
        let mut ids: Vec<String> = l.iter().map(|e| e.id.clone()).collect();
        ids.sort();
        ids
    };
    let reached = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        list.wait_for(|l| ids_of(l) == ids),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    assert!(
        reached,
        "the list is {:?}, wanted {ids:?}",
        ids_of(&list.borrow())
    );
}

/// A watch `opened` on a center that cannot replay from where it was asked to: refused at
/// once (not left waiting), `out_of_range`, telling the watcher to list again.
pub async fn refused_to_list_again<T: erpc_core::Message>(
    opened: Result<erpc_core::Streaming<T>, erpc_core::Status>,
) {
    let mut stream = opened.expect("a stream's refusal comes on the stream");
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), stream.message())
        .await
        .expect("refused at once, not left waiting");
    let err = first.err().expect("refused");
    assert_eq!(err.code(), erpc_core::Code::OutOfRange, "{err}");
    assert!(err.message().contains("list again"), "{err}");
}
