//! The center's web dashboard (`erpc-center --http ADDR`, feature `dashboard`): one HTML page
//! and the JSON and server-sent-event API it reads, served by axum over HTTP/1.1.
//!
//! - `GET /`: the page (`page.html`, embedded; its script builds the DOM with
//!   `textContent` only, so registered metadata cannot inject markup).
//! - `GET /api/services`, `GET /api/config`: snapshots (`views.rs`).
//! - `GET /api/events`, `GET /api/config/events`: the center's watches as server-sent events,
//!   resumable by `Last-Event-ID` (`events.rs`).
//! - `GET /api/rates`: the center's own call counters, when it has metrics (`rates.rs`).
//!
//! Every `/api/` path asks for what the center's erpc API asks for (`access.rs`): a token
//! only when the center protects its reads. Shapes in full: CENTER.md, "Dashboard".

mod access;
mod events;
mod rates;
mod views;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;

use crate::backend::Backend;
use crate::service::CenterImpl;

pub use rates::MetricsText;

/// The page, with its script and style inline: nothing to build, nothing else to serve.
const PAGE: &str = include_str!("page.html");

/// What the dashboard needs besides the center: the center's token, and its metrics.
#[derive(Clone, Default)]
pub struct DashboardOptions {
    token: Option<String>,
    protect_reads: bool,
    metrics: Option<MetricsText>,
}

impl std::fmt::Debug for DashboardOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: only whether there is one.
        f.debug_struct("DashboardOptions")
            .field("token", &self.token.is_some())
            .field("protect_reads", &self.protect_reads)
            .field("metrics", &self.metrics.is_some())
            .finish()
    }
}

impl DashboardOptions {
    /// The center's token (as given to [`crate::auth::require_token`]) and whether it
    /// protects reads: if it does, every `/api/` request needs `Authorization: Bearer
    /// <token>`, as every read of the center does. A wrong token is refused either way.
    /// Default: no token.
    pub fn token(mut self, token: impl Into<String>, protect_reads: bool) -> DashboardOptions {
        self.token = Some(token.into());
        self.protect_reads = protect_reads;
        self
    }

    /// Where the center's own metrics come from: a function returning them in Prometheus
    /// text form (erpc-telemetry's `Metrics::encode`), whose `erpc_calls_handled_total` and
    /// `erpc_calls_in_flight` series `/api/rates` reports. Default: none (the page says
    /// so).
    pub fn metrics(mut self, text: MetricsText) -> DashboardOptions {
        self.metrics = Some(text);
        self
    }
}

/// What every handler shares.
#[derive(Clone)]
struct Shared {
    backend: Arc<dyn Backend>,
    access: access::Access,
    metrics: Option<MetricsText>,
    /// Becomes `true` when the dashboard stops: open event streams end then.
    stopping: watch::Receiver<bool>,
}

/// A running dashboard; stops when dropped (or with [`Dashboard::shutdown`]).
#[derive(Debug)]
pub struct Dashboard {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Dashboard {
    /// Listen on `addr` (e.g. `"127.0.0.1:8080"`; port 0 for a free one) and serve the
    /// dashboard of `center`. Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// The bind's error (address in use, permission denied).
    pub async fn bind(
        center: &CenterImpl,
        addr: impl ToSocketAddrs,
        options: DashboardOptions,
    ) -> std::io::Result<Dashboard> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Dashboard::serve(center, listener, options))
    }

    /// Serve the dashboard of `center` on an already bound listener.
    pub fn serve(
        center: &CenterImpl,
        listener: TcpListener,
        options: DashboardOptions,
    ) -> Dashboard {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (stop, stopping) = watch::channel(false);
        let shared = Shared {
            backend: center.backend().clone(),
            access: access::Access::new(options.token, options.protect_reads),
            metrics: options.metrics,
            stopping: stopping.clone(),
        };
        let app = Router::new()
            .route("/", get(page))
            .route("/api/services", get(views::services))
            .route("/api/config", get(views::config))
            .route("/api/events", get(events::instances))
            .route("/api/config/events", get(events::config))
            .route("/api/rates", get(rates::rates))
            // After the routes: axum gives these to the paths there are (adding `Allow`).
            .method_not_allowed_fallback(method_not_allowed)
            .fallback(not_found)
            .with_state(shared);
        let mut stopped = stopping;
        let task = tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!("erpc-center dashboard stopped: {e}");
            }
        });
        Dashboard { addr, stop, task }
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's address, `http://ADDR/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stop listening, end the open event streams, and wait for the requests being
    /// answered to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let _ = (&mut self.task).await;
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn page() -> Response {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page holds no data: everything it shows comes from /api/ (which checks
            // the token); this keeps any other site from framing it.
            (axum::http::header::X_FRAME_OPTIONS, "DENY"),
        ],
        PAGE,
    )
        .into_response()
}

/// What the dashboard answers, for the messages of requests it does not.
const PATHS: &str = "the dashboard is at GET /, its API at GET /api/services, /api/config, \
     /api/events, /api/config/events and /api/rates; the center's metrics, when it has \
     them, are at /metrics on its --metrics-listen address";

/// A path the dashboard does not serve: 404 naming it and what there is.
async fn not_found(uri: axum::http::Uri) -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        format!("no page {}: {PATHS}", uri.path()),
    )
}

/// A path asked with a method other than GET: 405 (axum adds `Allow: GET,HEAD`), naming
/// both.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Failure {
    Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} answers GET, not {method}: {PATHS}", uri.path()),
    )
}

/// A JSON answer (serde_json, without axum's `json` feature and its extra crates).
fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => ([(CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => Failure::new(StatusCode::INTERNAL_SERVER_ERROR, format!("encoding: {e}"))
            .into_response(),
    }
}

/// An error answer: an HTTP status and `{"error": message}`, with `WWW-Authenticate:
/// Bearer` on a 401.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    /// A center error: 503 for `unavailable`, 500 for the rest.
    fn center(status: &erpc_core::Status) -> Failure {
        let code = if status.code() == erpc_core::Code::Unavailable {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Failure::new(code, status.message())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message }).to_string();
        let mut response =
            (self.status, [(CONTENT_TYPE, "application/json")], body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// What every `/api/` handler reads of its request: who asks, with which headers, and the
/// query string.
struct ApiRequest {
    headers: axum::http::HeaderMap,
    peer: SocketAddr,
    query: Option<String>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ApiRequest {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |info| info.0);
        Ok(ApiRequest {
            headers: parts.headers.clone(),
            peer,
            query: parts.uri.query().map(str::to_owned),
        })
    }
}

impl ApiRequest {
    /// Whether the caller may do what the center's `method` does ([`access`]), and then the
    /// query's parameters, each one of `allowed`.
    fn admit(
        &self,
        shared: &Shared,
        method: &str,
        allowed: &[&str],
    ) -> Result<HashMap<String, String>, Failure> {
        shared.access.check(&self.headers, self.peer, method)?;
        query(self.query.as_deref(), allowed)
    }
}

/// The query's parameters, each of them one of `allowed`; 400 naming any other (nothing
/// asked for is silently ignored).
fn query(raw: Option<&str>, allowed: &[&str]) -> Result<HashMap<String, String>, Failure> {
    let mut params = HashMap::new();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if !allowed.contains(&key.as_ref()) {
            let known = if allowed.is_empty() {
                "this endpoint takes none".to_owned()
            } else {
                format!("expected {}", allowed.join(", "))
            };
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                format!("unknown query parameter {key:?}: {known}"),
            ));
        }
        params.insert(key.into_owned(), value.into_owned());
    }
    Ok(params)
}
