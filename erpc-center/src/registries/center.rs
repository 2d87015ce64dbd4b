//! The center as a registry for servers and clients: [`CenterRegistry`] implements erpc's
//! [`Register`] and [`Discover`] over one or more centers, failing over between them.
//!
//! - Registering keeps the lease alive (renewing every third of its TTL), registers again if
//!   the center lost it, and deregisters on a graceful shutdown.
//! - Discovering lists the service, then follows its watch from the listing's revision;
//!   after a disconnect it resumes from the last revision seen (re-listing if that is too old).
//!   While no center answers, the last known list stays: clients keep calling the instances
//!   they knew.
//! - [`CenterRegistry::follow_config`] follows config entries the same way.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use erpc_core::discovery::{Discover, Endpoints, Register, Registration};
use erpc_core::{Code, Status};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::model::Instance;
use crate::registries::watched;
use crate::service::CenterClient;

/// Lease TTL requested by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// A registry backed by erpc centers.
#[derive(Clone)]
pub struct CenterRegistry {
    centers: Arc<[CenterClient]>,
    /// The center that answered last: tried first.
    current: Arc<AtomicUsize>,
    ttl: Duration,
    /// Whether it sends a token (for what a refusal says).
    has_token: bool,
    /// Whether a center's refusal of its token was logged (at WARN, once: it retries).
    refusal_logged: Arc<AtomicBool>,
}

impl std::fmt::Debug for CenterRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CenterRegistry")
            .field("centers", &self.centers.len())
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// The redial backoff of a registry's connections to its centers: first wait, longest wait.
const CENTER_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(50), Duration::from_millis(250));

/// How a [`CenterRegistry`] reaches its centers ([`CenterRegistry::builder`]).
#[derive(Debug, Clone)]
pub struct CenterRegistryBuilder {
    token: Option<String>,
    transport: erpc_transport::Options,
    ttl: Duration,
}

impl CenterRegistryBuilder {
    /// Send `token` on every call (metadata `authorization: Bearer <token>`), for centers
    /// started with `--token` (CENTER.md, "Access"). Default none.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The transport settings of the connections to the centers: for `tls://` and `quic://`
    /// centers, `client_tls` — the CA (or self-signed certificate) they are checked against,
    /// and this client's certificate for a center started with `--client-ca`. Default
    /// `Options::default()`: no TLS settings, so a `tls://` or `quic://` center fails every
    /// call `unavailable` saying that TLS settings are needed.
    pub fn transport(mut self, options: erpc_transport::Options) -> Self {
        self.transport = options;
        self
    }

    /// Ask for leases of `ttl` (the center clamps it to its bounds). Default
    /// 10 s.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The registry over the centers at `addrs` (one or several, tried in turn).
    ///
    /// # Errors
    /// An address that does not parse.
    pub fn build<I, A>(self, addrs: I) -> Result<CenterRegistry, erpc_core::AddressError>
    where
        I: IntoIterator<Item = A>,
        A: erpc_core::IntoAddress,
    {
        let centers = addrs
            .into_iter()
            .map(|a| {
                let builder = match &self.token {
                    Some(token) => erpc_core::Client::builder()
                        .middleware(erpc_core::auth::Credentials::bearer(token.clone())),
                    None => erpc_core::Client::builder(),
                };
                builder
                    .timeout(Duration::from_secs(3))
                    // Leases expire: a center that comes back must be redialled well within
                    // a lease (the shortest is 1 s), not after a backoff that grew through
                    // the outage (up to 5 s by default). A registry talks to a few centers,
                    // so redialling one at 4 Hz while it is down costs nothing.
                    .backoff(CENTER_BACKOFF.0, CENTER_BACKOFF.1)
                    .transport(self.transport.clone())
                    .build(a)
                    .map(CenterClient::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CenterRegistry {
            centers: centers.into(),
            current: Arc::default(),
            ttl: self.ttl,
            has_token: self.token.is_some(),
            refusal_logged: Arc::default(),
        })
    }
}

impl CenterRegistry {
    /// A registry over the centers at `addrs` (one or several, tried in turn).
    pub fn new<I, A>(addrs: I) -> Result<CenterRegistry, erpc_core::AddressError>
    where
        I: IntoIterator<Item = A>,
        A: erpc_core::IntoAddress,
    {
        CenterRegistry::builder().build(addrs)
    }

    /// A registry over the centers at `addrs` that sends `token` on every call (metadata
    /// `authorization: Bearer <token>`), for centers started with `--token` (CENTER.md,
    /// "Access").
    pub fn with_token<I, A>(
        addrs: I,
        token: impl Into<String>,
    ) -> Result<CenterRegistry, erpc_core::AddressError>
    where
        I: IntoIterator<Item = A>,
        A: erpc_core::IntoAddress,
    {
        CenterRegistry::builder().token(token).build(addrs)
    }

    /// A registry with more than addresses: a token, the transport settings (the CA that
    /// `tls://` and `quic://` centers are checked against), the lease TTL.
    ///
    /// ```no_run
    /// # fn run(ca_pem: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    /// use erpc_transport::{ClientTls, Options};
    /// let registry = erpc_center::CenterRegistry::builder()
    ///     .transport(Options::default().client_tls(ClientTls::trust_pem(ca_pem)?))
    ///     .build(["tls://center.example:7070", "quic://center.example:7070"])?;
    /// # drop(registry); Ok(()) }
    /// ```
    pub fn builder() -> CenterRegistryBuilder {
        CenterRegistryBuilder {
            token: None,
            transport: erpc_transport::Options::default(),
            ttl: DEFAULT_TTL,
        }
    }

    /// Ask for leases of `ttl` (the center clamps it to its bounds).
    pub fn ttl(mut self, ttl: Duration) -> CenterRegistry {
        self.ttl = ttl;
        self
    }

    /// Run `call` on the current center, then on the others in turn while they are
    /// unreachable; the one that answers becomes current. A center refusing the registry's
    /// token (or its lack of one) is logged ([`CenterRegistry::log_refusal`]).
    pub(crate) async fn with_center<T, F, Fut>(&self, call: F) -> Result<T, Status>
    where
        F: Fn(CenterClient) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let n = self.centers.len();
        let start = self.current.load(Ordering::Relaxed);
        let mut last = Status::unavailable("no center address configured");
        for k in 0..n {
            let i = (start + k) % n;
            match call(self.centers[i].clone()).await {
                Err(e) if matches!(e.code(), Code::Unavailable | Code::DeadlineExceeded) => {
                    last = e;
                }
                other => {
                    if let Err(e) = &other
                        && matches!(e.code(), Code::Unauthenticated | Code::PermissionDenied)
                    {
                        self.log_refusal(&self.centers[i], e);
                    }
                    self.current.store(i, Ordering::Relaxed);
                    return other;
                }
            }
        }
        Err(last)
    }

    /// The first refusal by a center of this registry's token (or of its lack of one) at
    /// WARN, naming the center: a registry keeps retrying (renewals, watches), and without a
    /// word an operator would see only instances missing. Later ones at DEBUG.
    fn log_refusal(&self, center: &CenterClient, refused: &Status) {
        let addr = center
            .client()
            .addr()
            .map_or_else(String::new, ToString::to_string);
        if self.refusal_logged.swap(true, Ordering::Relaxed) {
            tracing::debug!(center = %addr, error = %refused, "the center refused the registry");
            return;
        }
        let what = if self.has_token {
            "refused this registry's token: give it the center's token"
        } else {
            "wants a token and this registry has none: give it the center's token"
        };
        tracing::warn!(
            center = %addr,
            error = %refused,
            "the center at {addr} {what} (CenterRegistry::builder().token; CENTER.md, \"Access\"): the calls it refuses fail until then"
        );
    }
}

#[async_trait]
impl Register for CenterRegistry {
    async fn register(&self, instance: Instance) -> Result<Box<dyn Registration>, Status> {
        let ttl_ms = self.ttl.as_millis() as u64;
        let lease = self
            .with_center(|c| {
                let instance = instance.clone();
                async move { c.register(instance, ttl_ms).await }
            })
            .await?;
        let registry = self.clone();
        let held = Arc::new(AtomicU64::new(lease.id));
        let instance = Arc::new(Mutex::new(instance));
        let renewer = tokio::spawn(renew(
            registry,
            instance.clone(),
            held.clone(),
            lease.ttl_ms,
        ));
        Ok(Box::new(CenterRegistration {
            registry: self.clone(),
            lease: held,
            instance,
            renewer,
        }))
    }
}

/// Keep a lease alive: renew every third of its TTL; register again (under a new lease,
/// stored in `held`) if the center forgot it, with the instance as last updated.
async fn renew(
    registry: CenterRegistry,
    instance: Arc<Mutex<Instance>>,
    held: Arc<AtomicU64>,
    mut ttl_ms: u64,
) {
    loop {
        tokio::time::sleep(Duration::from_millis((ttl_ms / 3).max(10))).await;
        let lease = held.load(Ordering::Acquire);
        let renewed = registry
            .with_center(|c| async move { c.renew(lease).await })
            .await;
        match renewed {
            Ok(ttl) => ttl_ms = ttl,
            Err(e) if e.code() == Code::NotFound => {
                let instance = lock(&instance).clone();
                tracing::warn!(service = %instance.service, id = %instance.id, "lease lost; registering again");
                let again = registry
                    .with_center(|c| {
                        let instance = instance.clone();
                        let ttl = registry.ttl.as_millis() as u64;
                        async move { c.register(instance, ttl).await }
                    })
                    .await;
                if let Ok(l) = again {
                    held.store(l.id, Ordering::Release);
                    ttl_ms = l.ttl_ms;
                }
            }
            // No center answers: keep trying at the same pace; the lease outlives short
            // outages (and a restarted center grants every lease a full TTL).
            Err(e) => tracing::debug!(error = %e, "renewal failed"),
        }
    }
}

struct CenterRegistration {
    registry: CenterRegistry,
    /// The lease the instance is registered under now.
    lease: Arc<AtomicU64>,
    /// The instance as last registered: what the renewer registers again if the lease is
    /// lost.
    instance: Arc<Mutex<Instance>>,
    renewer: JoinHandle<()>,
}

fn lock(instance: &Mutex<Instance>) -> std::sync::MutexGuard<'_, Instance> {
    instance.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl Registration for CenterRegistration {
    async fn deregister(self: Box<Self>) -> Result<(), Status> {
        self.renewer.abort();
        // By lease, not by (service, id): if a restarted provider has registered the same
        // id meanwhile, that registration is another lease's and stays.
        let lease = self.lease.load(Ordering::Acquire);
        self.registry
            .with_center(|c| async move { c.release(lease).await })
            .await
            .map(|_| ())
    }

    /// Register the new details again (the center's `register` replaces an instance of the
    /// same service and id under a new lease, ending the old one); the renewer takes the new
    /// lease and, should it be lost, registers the new details.
    async fn update(&self, instance: Instance) -> Result<(), Status> {
        {
            let current = lock(&self.instance);
            if (&instance.service, &instance.id) != (&current.service, &current.id) {
                return Err(Status::invalid_argument(format!(
                    "an update must keep the instance's service and id ({:?}, {:?}), not change them to ({:?}, {:?})",
                    current.service, current.id, instance.service, instance.id
                )));
            }
        }
        // Stored first: a renewer that finds its lease lost meanwhile registers these details,
        // never the old ones over them.
        *lock(&self.instance) = instance.clone();
        let ttl_ms = self.registry.ttl.as_millis() as u64;
        let lease = self
            .registry
            .with_center(|c| {
                let instance = instance.clone();
                async move { c.register(instance, ttl_ms).await }
            })
            .await?;
        self.lease.store(lease.id, Ordering::Release);
        Ok(())
    }
}

impl Drop for CenterRegistration {
    fn drop(&mut self) {
        // Not deregistered: stop renewing and let the lease expire.
        self.renewer.abort();
    }
}

#[async_trait]
impl Discover for CenterRegistry {
    async fn subscribe(&self, service: &str) -> Result<watch::Receiver<Endpoints>, Status> {
        watched::subscribe(self, watched::Instances(service.to_owned())).await
    }
}

impl CenterRegistry {
    /// The config entries under `prefix`, kept current: listed now, then followed through the
    /// centers' config watch (resuming after a disconnect, on any center; the last entries
    /// stay while no center answers). Servers and clients read live settings from it.
    pub async fn follow_config(
        &self,
        prefix: &str,
    ) -> Result<watch::Receiver<Arc<BTreeMap<String, String>>>, Status> {
        watched::subscribe(self, watched::Config(prefix.to_owned())).await
    }
}
