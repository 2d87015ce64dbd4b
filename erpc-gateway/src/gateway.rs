//! The gateway: its settings ([`GatewayBuilder`]), its routes ([`Gateway::router`]) and the
//! handler that turns `POST /{service}/{method}` into an erpc call.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use erpc_core::discovery::{Balancer, Locality, RoundRobin};
use erpc_core::reflection::MethodKind;
use erpc_core::{AddressError, CallOptions, Client, ClientBuilder, Code, CodecId};
use serde_json::Value;
use tower_http::cors::CorsLayer;

use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::headers;
use crate::lifecycle::{Lifecycle, Phase};
use crate::stream::{self, Format};
use crate::upstream::{CenterOptions, Clients, MakeBalancer, MakeClient, Upstream};

/// The header whose value is a call's timeout by default: `x-erpc-timeout: 250ms`.
pub const TIMEOUT_HEADER: &str = "x-erpc-timeout";

/// A gateway's settings; [`GatewayBuilder::build`] makes the [`Gateway`].
pub struct GatewayBuilder {
    upstream: Upstream,
    make: MakeClient,
    balancer: MakeBalancer,
    allow_headers: Vec<HeaderName>,
    timeout_header: HeaderName,
    max_timeout: Duration,
    max_body: usize,
    describe_ttl: Duration,
    stream_open_wait: Duration,
    cors: Option<CorsLayer>,
    center: CenterOptions,
    explain: Explain,
    #[cfg(feature = "metrics")]
    metrics: Option<erpc_telemetry::Metrics>,
}

/// Rewrites the message of a failure before it is answered ([`GatewayBuilder::explain`]).
pub type Explain = Arc<dyn Fn(&str) -> String + Send + Sync>;

impl GatewayBuilder {
    /// The clients' builder: add governance here (`FailModes`, `InstanceBreakers`, a
    /// balancer's settings, timeouts) — called once per client the gateway opens (one per
    /// service with a center, one with an address). Default `Client::builder()`. The gateway
    /// sets the codec to JSON and, with the `metrics` feature, the observer to its metrics'.
    pub fn client(mut self, make: impl Fn() -> ClientBuilder + Send + Sync + 'static) -> Self {
        self.make = Arc::new(make);
        self
    }

    /// The balancer of each service's client, with [`Upstream::Center`] (erpc-core's
    /// `discovery::{RoundRobin, Random, Weighted, P2c, LeastOutstanding, …}` or yours);
    /// called once per service. Default `RoundRobin`.
    pub fn balancer(
        mut self,
        make: impl Fn() -> Arc<dyn Balancer> + Send + Sync + 'static,
    ) -> Self {
        self.balancer = Arc::new(make);
        self
    }

    /// Send this request header as call metadata (its lower-case name is the key; every
    /// value is sent). No header is sent unless allowed. Repeatable.
    pub fn allow_header(mut self, name: HeaderName) -> Self {
        self.allow_headers.push(name);
        self
    }

    /// The header a caller sets a call's timeout with (default [`TIMEOUT_HEADER`]); without
    /// it a call has the client's default timeout (10 s; streams none).
    pub fn timeout_header(mut self, name: HeaderName) -> Self {
        self.timeout_header = name;
        self
    }

    /// The longest timeout a caller may ask for (default 5 minutes); more is a 400.
    pub fn max_timeout(mut self, max: Duration) -> Self {
        self.max_timeout = max;
        self
    }

    /// The largest request body accepted, in bytes (default 1 MiB); a larger one is a 413.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// How long a service's reflection answer (its methods' call kinds) is reused before the
    /// server is asked again (default 10 s).
    pub fn describe_ttl(mut self, ttl: Duration) -> Self {
        self.describe_ttl = ttl;
        self
    }

    /// How long a server stream's response waits for the stream's first message before its
    /// 200 and headers go out without one (default 500 ms). A stream that fails before then
    /// — its server refusing the request, or failing it at once — is answered with the
    /// HTTP status of its code and the JSON error body, as a unary call is; a failure after
    /// then is the body's last item. Longer catches refusals over slower links; shorter
    /// shows a quiet stream open sooner. Zero sends the headers at once (every failure is
    /// then in the body).
    pub fn stream_open_wait(mut self, wait: Duration) -> Self {
        self.stream_open_wait = wait;
        self
    }

    /// Answer CORS preflights and mark responses as `layer` says (tower-http's
    /// [`CorsLayer`]). Default none: browsers may call from the gateway's own origin only.
    pub fn cors(mut self, layer: CorsLayer) -> Self {
        self.cors = Some(layer);
        self
    }

    /// The token sent to the center ([`Upstream::Center`]) on every call the gateway makes
    /// to it — its discovery, its watches, its routing rules' config watch — as metadata
    /// `authorization: Bearer <token>`, for a center started with `--token` and
    /// `--protect-reads` (CENTER.md, "Access"). Default none. Not sent to the services.
    pub fn center_token(mut self, token: impl Into<String>) -> Self {
        self.center.token = Some(token.into());
        self
    }

    /// The transport settings of every connection to the services and to the center — TLS
    /// ([`ClientTls`](erpc_transport::ClientTls)) for `tls://`, `wss://` and `quic://`
    /// addresses, set on every builder [`client`](GatewayBuilder::client) makes. A service
    /// reached only over TLS without TLS settings is a 503 with the dial's error, which says
    /// what to set. Default: none (no TLS).
    pub fn transport(mut self, options: erpc_transport::Options) -> Self {
        self.center.transport = options;
        self
    }

    /// Rewrite the message of every failure before it is answered (`{"code", "message"}`;
    /// the code and HTTP status are kept) — a stream's last item (the NDJSON `{"error": …}`
    /// line, the SSE `event: error`) too. Default: as is. For a binary whose users know its
    /// flags, not the Rust API the engine's messages name: `erpc-gateway` turns
    /// `ClientTls::trust_pem` into `--cacert`, [`CENTER_TOKEN_HINT`](crate::CENTER_TOKEN_HINT)
    /// into `--center-token`.
    pub fn explain(mut self, explain: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        self.explain = Arc::new(explain);
        self
    }

    /// Where the gateway runs (its data center and zone; [`Locality`]), matched by the
    /// `dc` and `zone` of the routing rules (`erpc/routes/<service>`, CENTER.md "Routing
    /// rules") its clients follow with [`Upstream::Center`]. Default: nowhere in particular
    /// (rules matching on `dc` or `zone` do not match the gateway's calls).
    pub fn locality(mut self, here: Locality) -> Self {
        self.center.here = here;
        self
    }

    /// The metrics the gateway's calls and requests are counted in and `/metrics` serves
    /// (default: its own). Give yours to serve the application's metrics beside them — one
    /// gateway per `Metrics`: each registers `erpc_gateway_requests_total` in it.
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, metrics: erpc_telemetry::Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The gateway. Nothing is dialled until the first request.
    ///
    /// # Errors
    /// The upstream's address does not parse.
    pub fn build(self) -> Result<Gateway, AddressError> {
        #[cfg(feature = "metrics")]
        let metrics = self.metrics.unwrap_or_default();
        #[cfg(feature = "metrics")]
        let make: MakeClient = {
            let (make, observer) = (self.make, metrics.observer());
            Arc::new(move || make().observer(observer.clone()))
        };
        #[cfg(not(feature = "metrics"))]
        let make = self.make;
        let make: MakeClient = {
            // The services' clients get the transport settings the center's connections have.
            let transport = self.center.transport.clone();
            Arc::new(move || make().transport(transport.clone()))
        };
        let clients = Clients::new(&self.upstream, make, self.balancer, self.center)?;
        #[cfg(feature = "metrics")]
        let http_metrics = crate::http_metrics::HttpMetrics::register(&metrics);
        Ok(Gateway {
            shared: Arc::new(Shared {
                clients,
                catalog: Catalog::new(self.describe_ttl),
                allow_headers: self.allow_headers,
                timeout_header: self.timeout_header,
                max_timeout: self.max_timeout,
                max_body: self.max_body,
                stream_open_wait: self.stream_open_wait,
                explain: self.explain,
                lifecycle: Lifecycle::new(),
                #[cfg(feature = "metrics")]
                metrics,
            }),
            cors: self.cors,
            #[cfg(feature = "metrics")]
            http_metrics,
        })
    }
}

/// An HTTP/JSON gateway to erpc services (see the crate doc). Serve its
/// [`router`](Gateway::router) with axum, or [`Gateway::serve`] it.
pub struct Gateway {
    pub(crate) shared: Arc<Shared>,
    cors: Option<CorsLayer>,
    #[cfg(feature = "metrics")]
    http_metrics: crate::http_metrics::HttpMetrics,
}

pub(crate) struct Shared {
    clients: Clients,
    catalog: Catalog,
    allow_headers: Vec<HeaderName>,
    timeout_header: HeaderName,
    max_timeout: Duration,
    max_body: usize,
    stream_open_wait: Duration,
    explain: Explain,
    pub(crate) lifecycle: Lifecycle,
    #[cfg(feature = "metrics")]
    metrics: erpc_telemetry::Metrics,
}

impl Gateway {
    /// A gateway to `upstream`, with the defaults in [`GatewayBuilder`]'s setters.
    pub fn builder(upstream: Upstream) -> GatewayBuilder {
        GatewayBuilder {
            upstream,
            make: Arc::new(Client::builder),
            balancer: Arc::new(|| Arc::new(RoundRobin::default())),
            allow_headers: Vec::new(),
            timeout_header: HeaderName::from_static(TIMEOUT_HEADER),
            max_timeout: Duration::from_secs(300),
            max_body: 1 << 20,
            describe_ttl: Duration::from_secs(10),
            stream_open_wait: Duration::from_millis(500),
            cors: None,
            center: CenterOptions::default(),
            explain: Arc::new(str::to_owned),
            #[cfg(feature = "metrics")]
            metrics: None,
        }
    }

    /// Whether the center ([`Upstream::Center`]) refuses the gateway — its token, or none
    /// where the center wants one — asked once, as the gateway's discovery asks it: the
    /// message every call is then answered with (a 503; reworded by
    /// [`GatewayBuilder::explain`]), or `None` with an upstream address, a center that
    /// takes the gateway, or one that does not answer (in 5 s). For a binary to say at
    /// start what is wrong, rather than leave it to the first request.
    pub async fn center_refusal(&self) -> Option<String> {
        let refused = self.shared.clients.center_refusal().await?;
        Some((self.shared.explain)(refused.message()))
    }

    /// The routes: `POST /{service}/{method}`, `GET /healthz`, `GET /readyz`, `GET
    /// /metrics` (feature `metrics`); any other path is a 404, another method on a route a
    /// 405 (with `Allow`), both with the JSON error body every failure has.
    pub fn router(&self) -> Router {
        let mut router = Router::new()
            .route("/{service}/{method}", post(call))
            .layer(DefaultBodyLimit::max(self.shared.max_body))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz));
        #[cfg(feature = "metrics")]
        {
            router = router.route("/metrics", get(metrics));
        }
        // After the routes: axum gives the handler to the routes there are.
        router = router
            .method_not_allowed_fallback(method_not_allowed)
            .fallback(not_found);
        if let Some(cors) = &self.cors {
            router = router.layer(cors.clone());
        }
        let router = router.with_state(self.shared.clone());
        // Outermost: every answer is counted, CORS preflights and refusals included.
        #[cfg(feature = "metrics")]
        let router = router.layer(axum::middleware::from_fn_with_state(
            self.http_metrics.clone(),
            crate::http_metrics::count,
        ));
        router
    }
}

/// `GET /healthz`: 200 `{"status":"SERVING"}` while the gateway runs (its own liveness; the
/// services' health is theirs: `POST /erpc.Health/check`).
async fn healthz() -> Response {
    json_response(StatusCode::OK, &serde_json::json!({ "status": "SERVING" }))
}

/// `/readyz`'s query: nothing, or `service=NAME` (taken as written: service names need no
/// escaping). Anything else is a 400 naming it.
fn ready_query(query: Option<&str>) -> Result<Option<&str>, ApiError> {
    let mut service = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("service", name)) if !name.is_empty() && service.is_none() => {
                service = Some(name);
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "/readyz takes no query or one service=NAME, not {pair:?}"
                )));
            }
        }
    }
    Ok(service)
}

/// `GET /readyz[?service=NAME]`: whether the gateway should be sent requests (readiness, as
/// against `/healthz`'s liveness). 200 `{"status":"SERVING", "instances": N}` when it is
/// not stopping and has somewhere to send calls: with a center, N ≥ 1 instances registered
/// (of `service` if given) and not known unreachable — an instance whose last connection
/// attempt failed does not count until it answers again (the probe re-checks it once its
/// backoff has passed); one never called does; with an address, its server answers its
/// health check SERVING (for `service` if given; N is 1). Else 503
/// `{"code":"unavailable","message":…}` saying why: draining, no instance, no instance
/// reachable, the center or server unreachable.
async fn readyz(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let service = ready_query(uri.query())?;
    if shared.lifecycle.phase() != Phase::Serving {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::Unavailable,
            "the gateway is shutting down (draining its requests)",
        ));
    }
    let instances = shared
        .clients
        .ready(service)
        .await
        .map_err(|e| shared.explained(e))?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "status": "SERVING", "instances": instances }),
    ))
}

#[cfg(feature = "metrics")]
async fn metrics(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let accept = headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let (content_type, body) = shared.metrics.render(accept);
    ([(CONTENT_TYPE, content_type)], body).into_response()
}

/// What the gateway answers, for messages.
const ROUTES: &str =
    "call a method with POST /{service}/{method}; GET /healthz, GET /readyz, GET /metrics";

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Code::NotFound,
        format!("no route {}: {ROUTES}", uri.path()),
    )
}

/// A route asked with another method (axum adds `Allow`): `unimplemented`, as erpc names
/// an operation not offered.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        Code::Unimplemented,
        format!("{} does not answer {method}: {ROUTES}", uri.path()),
    )
}

/// `POST /{service}/{method}`: the body (JSON; empty is `null`) is the request; the answer
/// is the response as JSON (unary), 202 with no body (oneway), or a stream (server stream).
async fn call(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // A request still open when the gateway is cut is answered 503 then.
    let cut = shared.lifecycle.cut();
    tokio::select! {
        answer = answer(&shared, uri.path(), path, headers, body) => {
            answer.map_err(|e| shared.explained(e))
        }
        () = cut => Err(shared.explained(Lifecycle::cut_error())),
    }
}

impl Shared {
    /// `error` with its message as [`GatewayBuilder::explain`] words it.
    fn explained(&self, error: ApiError) -> ApiError {
        error.explained(&self.explain)
    }
}

async fn answer(
    shared: &Arc<Shared>,
    raw_path: &str,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // axum decodes a malformed escape (`%ZZ`) as the text itself, which would then be
    // looked up as a service name (a 404): refused here as what it is.
    check_escapes(raw_path)?;
    // A path that does not decode to UTF-8 (`%FF`): axum's rejection, as a JSON 400.
    let Path((service, method)) =
        path.map_err(|e| ApiError::bad_request(format!("the path: {}", e.body_text())))?;
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::ResourceExhausted,
            format!(
                "the request body is over the gateway's limit of {} bytes",
                shared.max_body
            ),
        ),
        http => ApiError::new(
            http,
            Code::InvalidArgument,
            format!("the request body: {}", rejection.body_text()),
        ),
    })?;
    let request = parse(&body)?;
    let options = CallOptions {
        metadata: headers::metadata(&headers, &shared.allow_headers)?,
        timeout: headers::timeout(&headers, &shared.timeout_header, shared.max_timeout)?,
        codec: Some(CodecId::JSON),
        ..CallOptions::default()
    };
    let client = shared.clients.client(&service).await?;
    let found = shared
        .catalog
        .method(&client, &service, &method, &options)
        .await?;
    let options = CallOptions {
        idempotent: found.idempotent,
        ..options
    };
    match found.kind {
        MethodKind::Unary => {
            let answer: Value = client
                .call(service, method, request)
                .options(options)
                .await?;
            Ok(json_response(StatusCode::OK, &answer))
        }
        MethodKind::Oneway => {
            client
                .oneway(service, method, request)
                .options(options)
                .await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        MethodKind::ServerStream => {
            let responses = client
                .server_stream::<Value, Value>(service, method, request)
                .options(options)
                .await?;
            let cut = shared.lifecycle.cut();
            let format = Format::asked(&headers);
            let explain = shared.explain.clone();
            stream::respond(responses, format, shared.stream_open_wait, cut, explain).await
        }
        MethodKind::ClientStream | MethodKind::BidiStream => Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            Code::Unimplemented,
            format!(
                "{service}.{method} takes a stream of requests ({}); the gateway calls unary, oneway and server-stream methods",
                if found.kind == MethodKind::ClientStream {
                    "client stream"
                } else {
                    "bidirectional stream"
                }
            ),
        )),
    }
}

/// Every `%` of `path` (as received, still encoded) begins an escape of two hex digits;
/// else a 400 naming the path segment and the bad escape.
fn check_escapes(path: &str) -> Result<(), ApiError> {
    for segment in path.split('/') {
        let bytes = segment.as_bytes();
        for (at, _) in segment.match_indices('%') {
            let escape = bytes.get(at + 1..at + 3);
            if !escape.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                let end = (at + 3).min(segment.len());
                let bad = segment.get(at..end).unwrap_or(&segment[at..]);
                return Err(ApiError::bad_request(format!(
                    "the path segment {segment:?} has a malformed percent-encoding {bad:?}: a % must be followed by two hex digits (write a literal % as %25)"
                )));
            }
        }
        if percent_encoding::percent_decode(bytes)
            .decode_utf8()
            .is_err()
        {
            return Err(ApiError::bad_request(format!(
                "the path segment {segment:?} does not decode to UTF-8: service and method names are UTF-8 text, percent-encoded byte by byte"
            )));
        }
    }
    Ok(())
}

/// The request body as JSON (empty: `null`); not JSON is a 400 saying where.
fn parse(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    // serde_json's message ends with the position: "… at line 1 column 10".
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not JSON: {e}")))
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        value.to_string(),
    )
        .into_response()
}
