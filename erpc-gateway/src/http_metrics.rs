//! The gateway's own metric, beside the client-side call metrics in the same registry:
//! `erpc_gateway_requests_total{status}`, every HTTP request answered, by HTTP status — the
//! ones refused before any call (400, 404, 413) included.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// A request's labels: its HTTP status (a bounded set: codes 100–999).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: u16,
}

/// The counter, registered in a [`erpc_telemetry::Metrics`]' registry.
#[derive(Clone)]
pub(crate) struct HttpMetrics {
    requests: Family<StatusLabels, Counter>,
}

impl HttpMetrics {
    /// Registered as `gateway_requests` in `metrics` (prefix `erpc_`, suffix `_total`).
    pub(crate) fn register(metrics: &erpc_telemetry::Metrics) -> HttpMetrics {
        let requests = Family::<StatusLabels, Counter>::default();
        metrics.with_registry(|registry| {
            registry.register(
                "gateway_requests",
                "HTTP requests answered by the gateway, by HTTP status",
                requests.clone(),
            )
        });
        HttpMetrics { requests }
    }
}

/// Counts each response as its headers go out (a stream's when its first message came).
pub(crate) async fn count(
    State(metrics): State<HttpMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status().as_u16();
    metrics
        .requests
        .get_or_create(&StatusLabels { status })
        .inc();
    response
}
