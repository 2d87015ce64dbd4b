//! Where the gateway's calls go: one address serving every service, or each service's
//! instances found through a registry center — a client per service, built by the user's
//! [`ClientBuilder`] factory, so the client's governance (balancing, fail modes, breakers)
//! is erpc-core's own. With a center, each service's client follows its routing rules
//! (`erpc/routes/<service>`, CENTER.md "Routing rules") too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use erpc_center::{CenterClient, CenterRegistry, Filter};
use erpc_core::discovery::{Balancer, ConfigEntries, Locality, ROUTES_PREFIX};
use erpc_core::server::ServingStatus;
use erpc_core::server::health::service::{CHECK, HealthCheckRequest, HealthCheckResponse, SERVICE};
use erpc_core::{Address, AddressError, CallOptions, Client, ClientBuilder, Code, CodecId, Status};

use crate::error::ApiError;

/// Where calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// One server (or a load balancer in front of several) serving every service:
    /// `tcp://HOST:PORT`, `unix:///PATH`, …
    Address(String),
    /// The registry center at this address (`tcp://HOST:PORT`): each service's registered
    /// instances, followed as they come and go (erpc-center's `CenterRegistry`).
    Center(String),
}

/// Makes the builder of each client the gateway opens (one per service with a center, one in
/// all with an address): where its governance layers are added.
pub type MakeClient = Arc<dyn Fn() -> ClientBuilder + Send + Sync>;

/// Makes the balancer of each service's client (with a center): balancers keep per-client
/// state (a round-robin cursor, outstanding counts), so each client gets its own.
pub type MakeBalancer = Arc<dyn Fn() -> Arc<dyn Balancer> + Send + Sync>;

/// How the gateway talks to a center ([`Upstream::Center`]): the token it sends, where it is
/// for the routing rules' `dc` and `zone`, and the transport settings (of the services'
/// connections too, with either upstream).
#[derive(Debug, Clone, Default)]
pub(crate) struct CenterOptions {
    pub token: Option<String>,
    pub here: Locality,
    /// The transport settings of the center's and the services' connections
    /// (`GatewayBuilder::transport`).
    pub transport: erpc_transport::Options,
}

/// How long a readiness probe waits for the center or the server.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The clients of an upstream.
pub(crate) enum Clients {
    One(Client),
    Center(Box<Center>),
}

pub(crate) struct Center {
    addr: String,
    /// Whether the gateway sends the center a token (for messages when it is refused).
    has_token: bool,
    center: CenterClient,
    registry: CenterRegistry,
    make: MakeClient,
    balancer: MakeBalancer,
    here: Locality,
    /// The routing rules (`erpc/routes/…`), followed from the first client made on.
    routes: tokio::sync::OnceCell<ConfigEntries>,
    clients: Mutex<HashMap<String, Client>>,
    /// Held while a service's client is made, so two first requests make one.
    making: tokio::sync::Mutex<()>,
}

impl Clients {
    /// The clients of `upstream`, made by `make` (the gateway sets each builder's codec to
    /// JSON), spreading a service's calls over its instances with `balancer`'s. Nothing is
    /// dialled yet.
    ///
    /// # Errors
    /// The upstream's address does not parse.
    pub(crate) fn new(
        upstream: &Upstream,
        make: MakeClient,
        balancer: MakeBalancer,
        options: CenterOptions,
    ) -> Result<Clients, AddressError> {
        match upstream {
            Upstream::Address(addr) => Ok(Clients::One(
                make().codec(CodecId::JSON).build(addr.as_str())?,
            )),
            Upstream::Center(addr) => {
                // The center is reached with the services' transport settings: one
                // `--cacert` for a center and services on TLS (CENTER.md, "TLS and QUIC").
                let registry = CenterRegistry::builder().transport(options.transport.clone());
                let (center, registry) = match &options.token {
                    Some(token) => (
                        Client::builder()
                            .middleware(erpc_core::auth::Credentials::bearer(token.clone())),
                        registry.token(token.clone()),
                    ),
                    None => (Client::builder(), registry),
                };
                let registry = registry.build([addr.as_str()])?;
                let center = center
                    .timeout(Duration::from_secs(5))
                    .transport(options.transport.clone())
                    .build(addr.as_str())?;
                Ok(Clients::Center(Box::new(Center {
                    addr: addr.clone(),
                    has_token: options.token.is_some(),
                    center: CenterClient::new(center),
                    registry,
                    make,
                    balancer,
                    here: options.here,
                    routes: tokio::sync::OnceCell::new(),
                    clients: Mutex::default(),
                    making: tokio::sync::Mutex::new(()),
                })))
            }
        }
    }

    /// The client to call `service` with. With a center, a service none of whose instances
    /// is registered is a 404 naming the services that are; its client is made on its first
    /// request and kept (it follows the service's instances from then on).
    pub(crate) async fn client(&self, service: &str) -> Result<Client, ApiError> {
        match self {
            Clients::One(client) => Ok(client.clone()),
            Clients::Center(center) => center.client(service).await,
        }
    }

    /// The center's refusal of the gateway (its token, or none where the center wants one)
    /// in the words every call is then answered with, asked once as discovery asks it;
    /// `None` with an address, or when the center takes the gateway or does not answer.
    pub(crate) async fn center_refusal(&self) -> Option<Status> {
        let Clients::Center(center) = self else {
            return None;
        };
        let refused = center
            .center
            .discover(String::new(), Filter::default())
            .await
            .err()?;
        is_refusal(&refused).then(|| center.at(refused))
    }

    /// Whether calls have somewhere to go (`/readyz`): the instances there are — with a
    /// center, those registered (of `service`, or of every service) and not known
    /// unreachable, at least one; with an address, 1 if its server's health check (for
    /// `service`, or overall) says SERVING. Else a 503 saying why.
    ///
    /// Known unreachable: the gateway's client of its service found its last connection
    /// attempt failed, and it backs off (a probe re-checks one whose backoff has passed,
    /// so readiness comes back without calls: `erpc_core::Client::reachability`). An
    /// instance never called is not known unreachable.
    pub(crate) async fn ready(&self, service: Option<&str>) -> Result<usize, ApiError> {
        let unready =
            |why: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, Code::Unavailable, why);
        match self {
            Clients::One(client) => {
                let asked = HealthCheckRequest {
                    service: service.unwrap_or("").to_owned(),
                };
                let options = CallOptions {
                    timeout: Some(READY_TIMEOUT),
                    ..CallOptions::default()
                };
                let answer = client
                    .call::<_, HealthCheckResponse>(SERVICE, CHECK, asked)
                    .options(options)
                    .await
                    .map_err(|status| unready(format!("the server: {}", status.message())))?;
                match answer.status {
                    ServingStatus::Serving => Ok(1),
                    other => Err(unready(format!(
                        "the server's health{} is {}",
                        service.map(|s| format!(" for {s:?}")).unwrap_or_default(),
                        other.as_str()
                    ))),
                }
            }
            Clients::Center(center) => {
                let listing = tokio::time::timeout(
                    READY_TIMEOUT,
                    center
                        .center
                        .discover(service.unwrap_or("").to_owned(), Filter::default()),
                )
                .await
                .map_err(|_| {
                    unready(format!(
                        "the center at {} did not answer within {}",
                        center.addr,
                        humantime::format_duration(READY_TIMEOUT)
                    ))
                })?
                .map_err(|status| unready(center.at(status).message().to_owned()))?;
                let of = service.map(|s| format!(" of {s:?}")).unwrap_or_default();
                if listing.instances.is_empty() {
                    return Err(unready(format!(
                        "no instance{of} is registered at the center {}",
                        center.addr
                    )));
                }
                let down = center.known_unreachable(&listing.instances);
                match listing.instances.len() - down.len() {
                    0 => Err(unready(format!(
                        "no instance{of} is reachable: {}",
                        some_of(&down)
                    ))),
                    n => Ok(n),
                }
            }
        }
    }
}

/// The messages of the first three of `statuses` — enough to see whether they share a cause,
/// few enough to read — and how many more, as a client's "no instance … is reachable" says.
fn some_of(statuses: &[Status]) -> String {
    const SHOWN: usize = 3;
    let mut text: Vec<&str> = statuses.iter().take(SHOWN).map(Status::message).collect();
    let more = statuses.len().saturating_sub(SHOWN);
    let more = format!("… and {more} more");
    if statuses.len() > SHOWN {
        text.push(&more);
    }
    text.join("; ")
}

/// What a message of the gateway says where the center refused it for want of a token: the
/// setter to call (the `erpc-gateway` binary rewrites it into its flags).
pub const CENTER_TOKEN_HINT: &str = "GatewayBuilder::center_token";

/// Whether the center's `status` refuses the gateway itself: no token, or a wrong one.
fn is_refusal(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unauthenticated | Code::PermissionDenied
    )
}

impl Center {
    /// `status` from the center, saying so. A refusal of the gateway itself (no token, or
    /// a wrong one) is `unavailable` (503), not the center's `unauthenticated` (401): the
    /// HTTP caller did nothing wrong and no credential of theirs would help — the gateway
    /// is not set up for this center, and the message says what to set.
    fn at(&self, status: Status) -> Status {
        if is_refusal(&status) {
            let why = if self.has_token {
                "the center refused the gateway's token: set the center's token"
            } else {
                "the center wants a token and the gateway has none: set it"
            };
            return Status::unavailable(format!(
                "the center at {} refused the gateway ({}: {}); {why} ({CENTER_TOKEN_HINT})",
                self.addr,
                status.code(),
                status.message()
            ));
        }
        Status::new(
            status.code(),
            format!("the center at {}: {}", self.addr, status.message()),
        )
    }

    /// Those of `listed` that the gateway's client of their service knows unreachable, as
    /// the statuses a call to each alone is refused with ("cannot connect to ADDR: …;
    /// retrying in N ms"). An instance of a service the gateway has not called yet has no
    /// client, so nothing is known against it.
    fn known_unreachable(&self, listed: &[erpc_center::Instance]) -> Vec<Status> {
        let mut reachability: HashMap<&str, Vec<erpc_core::Reachability>> = HashMap::new();
        let mut down = Vec::new();
        for instance in listed {
            let service = instance.service.as_str();
            if !reachability.contains_key(service) {
                let known = self.known(service).map(|c| c.reachability());
                reachability.insert(service, known.unwrap_or_default());
            }
            let addrs: Vec<Address> = instance
                .addrs
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect();
            let unreachable = reachability[service]
                .iter()
                .find(|r| addrs.contains(&r.addr))
                .and_then(|r| r.unreachable.clone());
            down.extend(unreachable);
        }
        down
    }

    fn known(&self, service: &str) -> Option<Client> {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.get(service).cloned()
    }

    async fn client(&self, service: &str) -> Result<Client, ApiError> {
        if let Some(client) = self.known(service) {
            return Ok(client);
        }
        let _making = self.making.lock().await;
        if let Some(client) = self.known(service) {
            return Ok(client);
        }
        let at = |status| self.at(status);
        // Only a registered service gets a client (and a watch on the center): a caller
        // naming arbitrary services cannot grow the gateway's state.
        let listing = self
            .center
            .discover(service.to_owned(), Filter::default())
            .await
            .map_err(at)?;
        if listing.instances.is_empty() {
            let all = self
                .center
                .discover(String::new(), Filter::default())
                .await
                .map_err(at)?;
            let mut names: Vec<&str> = all.instances.iter().map(|i| i.service.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                Code::NotFound,
                format!(
                    "no service {service:?} is registered at the center {}; registered: {}",
                    self.addr,
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        }
        let routes = self
            .routes
            .get_or_try_init(|| self.registry.follow_config(ROUTES_PREFIX))
            .await
            .map_err(at)?;
        let client = (self.make)()
            .codec(CodecId::JSON)
            .routes(routes.clone(), self.here.clone())
            .discover_with(&self.registry, service, (self.balancer)())
            .await
            .map_err(at)?;
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.insert(service.to_owned(), client.clone());
        Ok(client)
    }
}
