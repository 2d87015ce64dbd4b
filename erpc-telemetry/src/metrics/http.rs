//! The `/metrics` listener: an HTTP/1.1 server (axum) that answers `GET /metrics` with
//! [`Metrics::encode`] (OpenMetrics) to a scraper whose `Accept` names
//! `application/openmetrics-text`, as Prometheus' does, and [`Metrics::encode_text`]
//! (text format 0.0.4) to anyone else.

use std::net::SocketAddr;

use axum::Router;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::oneshot;

use super::Metrics;

/// The OpenMetrics text format's media type (Prometheus asks for it first).
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Prometheus' classic text format (for every other client).
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Metrics {
    /// A `/metrics` answer for a request whose `Accept` header values are `accept`: the
    /// content type and the body — OpenMetrics ([`Metrics::encode`]) when a value names
    /// `application/openmetrics-text`, as Prometheus' does, else the text format 0.0.4
    /// ([`Metrics::encode_text`]). For serving the metrics from an HTTP server of your own
    /// (the erpc gateway does) with the same negotiation as [`MetricsServer`].
    pub fn render<'a>(&self, accept: impl IntoIterator<Item = &'a str>) -> (&'static str, String) {
        let openmetrics = accept
            .into_iter()
            .any(|v| v.contains("application/openmetrics-text"));
        if openmetrics {
            (OPENMETRICS, self.encode())
        } else {
            (TEXT, self.encode_text())
        }
    }
}

/// A path other than `/metrics`: 404 naming it and where the metrics are.
async fn not_found(uri: Uri) -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        [(CONTENT_TYPE, PLAIN)],
        format!("no page {}: the metrics are at GET /metrics\n", uri.path()),
    )
}

/// `/metrics` asked with a method other than GET: 405 (axum adds `Allow: GET,HEAD`).
async fn method_not_allowed(method: Method, uri: Uri) -> impl IntoResponse {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(CONTENT_TYPE, PLAIN)],
        format!("{} answers GET, not {method}\n", uri.path()),
    )
}

/// The media type of the refusals' bodies.
const PLAIN: &str = "text/plain; charset=utf-8";

/// A running `/metrics` listener; stops when dropped (or with [`MetricsServer::shutdown`]).
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    /// Listen on `addr` (e.g. `"0.0.0.0:9464"`; port 0 for any free one) and serve
    /// `GET /metrics`; any other path is 404 and another method 405 (with `Allow`), each
    /// with a plain-text body naming the path and where the metrics are. Must be called
    /// inside a Tokio runtime.
    ///
    /// # Errors
    /// The bind's error (address in use, permission denied, not an address), of the same
    /// kind, its message naming the address: `metrics listener on "0.0.0.0:9464": Address
    /// already in use (os error 98)`.
    pub async fn bind(
        metrics: Metrics,
        addr: impl ToSocketAddrs + std::fmt::Debug,
    ) -> std::io::Result<Self> {
        let named = format!("{addr:?}");
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("metrics listener on {named}: {e}"))
        })?;
        Ok(MetricsServer::serve(metrics, listener))
    }

    /// Serve `/metrics` on an already bound listener.
    pub fn serve(metrics: Metrics, listener: TcpListener) -> Self {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let app = Router::new()
            .route(
                "/metrics",
                get(move |headers: HeaderMap| {
                    let metrics = metrics.clone();
                    async move {
                        let accept = headers
                            .get_all(ACCEPT)
                            .iter()
                            .filter_map(|v| v.to_str().ok());
                        let (content_type, body) = metrics.render(accept);
                        ([(CONTENT_TYPE, content_type)], body).into_response()
                    }
                }),
            )
            // After the route: axum gives these to the paths there are (adding `Allow`).
            .method_not_allowed_fallback(method_not_allowed)
            .fallback(not_found);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!("erpc metrics listener stopped: {e}");
            }
        });
        MetricsServer {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop listening and wait for requests being answered to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
