//! `--metrics-listen`: the center's calls as Prometheus metrics (erpc-telemetry). Registrations
//! are `erpc_calls_handled_total{service="erpc.Center",method="register"}`, renewals
//! `method="renew"`, expirations show as the gap between them and deregistrations, and open
//! watches are `erpc_calls_in_flight{method="watch"}` (a watch is a call until it ends).

/// The running listener, if one was asked for.
pub struct Listening {
    #[cfg(feature = "metrics")]
    server: erpc_telemetry::MetricsServer,
    #[cfg(feature = "metrics")]
    metrics: erpc_telemetry::Metrics,
}

impl Listening {
    /// Where Prometheus scrapes.
    pub fn url(&self) -> Option<String> {
        #[cfg(feature = "metrics")]
        return Some(format!("http://{}/metrics", self.server.local_addr()));
        #[cfg(not(feature = "metrics"))]
        None
    }

    /// The metrics as Prometheus text, for the dashboard's call rates.
    #[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
    pub fn text(&self) -> Option<std::sync::Arc<dyn Fn() -> String + Send + Sync>> {
        #[cfg(feature = "metrics")]
        {
            let metrics = self.metrics.clone();
            Some(std::sync::Arc::new(move || metrics.encode()))
        }
        #[cfg(not(feature = "metrics"))]
        None
    }
}

/// Observe the center's server and serve `/metrics` on `addr`, when given.
#[cfg(feature = "metrics")]
pub async fn listen(
    addr: Option<&str>,
    builder: &mut erpc_core::ServerBuilder,
) -> Result<Option<Listening>, String> {
    let Some(addr) = addr else { return Ok(None) };
    let metrics = erpc_telemetry::Metrics::new();
    *builder = std::mem::take(builder).observer(metrics.observer());
    let server = erpc_telemetry::MetricsServer::bind(metrics.clone(), addr)
        .await
        .map_err(|e| format!("--metrics-listen {addr}: {e}"))?;
    Ok(Some(Listening { server, metrics }))
}

/// Built without the `metrics` feature: asking for metrics is an error that says so.
#[cfg(not(feature = "metrics"))]
pub async fn listen(
    addr: Option<&str>,
    _builder: &mut erpc_core::ServerBuilder,
) -> Result<Option<Listening>, String> {
    match addr {
        None => Ok(None),
        Some(addr) => Err(format!(
            "--metrics-listen {addr}: this erpc-center was built without the metrics feature"
        )),
    }
}
