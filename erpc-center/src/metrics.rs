//! `--metrics-listen`: the center as Prometheus metrics (erpc-telemetry). Its calls are series
//! as every erpc server's (`erpc_calls_handled_total{service="erpc.Center",method="register"}`
//! and so on); what it holds — instances per service, leases, expirations, configuration
//! keys, open watches — is read from the center at each scrape (a collector: nothing is
//! counted on the calls' path). Names and labels: CENTER.md "Metrics".

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

/// Observe the center's server, collect `center`'s figures, and serve `/metrics` on `addr`,
/// when given.
#[cfg(feature = "metrics")]
pub async fn listen(
    addr: Option<&str>,
    builder: &mut erpc_core::ServerBuilder,
    center: &erpc_center::CenterImpl,
) -> Result<Option<Listening>, String> {
    let Some(addr) = addr else { return Ok(None) };
    let metrics = erpc_telemetry::Metrics::new();
    metrics.with_registry(|r| r.register_collector(Box::new(collector::Figures(center.clone()))));
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
    _center: &erpc_center::CenterImpl,
) -> Result<Option<Listening>, String> {
    match addr {
        None => Ok(None),
        Some(addr) => Err(format!(
            "--metrics-listen {addr}: this erpc-center was built without the metrics feature"
        )),
    }
}

#[cfg(feature = "metrics")]
mod collector {
    use std::fmt;

    use erpc_center::CenterImpl;
    use erpc_telemetry::prometheus_client::collector::Collector;
    use erpc_telemetry::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
    use erpc_telemetry::prometheus_client::metrics::MetricType;
    use erpc_telemetry::prometheus_client::metrics::counter::ConstCounter;
    use erpc_telemetry::prometheus_client::metrics::gauge::ConstGauge;

    /// Services with a series of their own; the rest are summed under `service="_other"`
    /// (a provider registering arbitrary service names cannot grow the scrape without end).
    pub const MAX_SERVICES: usize = 1024;

    /// The center's figures, read at each scrape.
    #[derive(Debug)]
    pub struct Figures(pub CenterImpl);

    fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: usize) -> fmt::Result {
        let metric = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
        metric.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
    }

    impl Collector for Figures {
        fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
            let stats = self.0.stats();
            let mut watches = encoder.encode_descriptor(
                "center_watches",
                "Watches open now, by what they follow (instances or config)",
                None,
                MetricType::Gauge,
            )?;
            for (kind, open) in [
                ("instances", stats.watches),
                ("config", stats.config_watches),
            ] {
                let open = ConstGauge::new(i64::try_from(open).unwrap_or(i64::MAX));
                open.encode(watches.encode_family(&[("kind", kind)])?)?;
            }
            // A backend that does not keep the registry's figures here (etcd) has none.
            let Some(registry) = stats.registry else {
                return Ok(());
            };
            let mut instances = encoder.encode_descriptor(
                "center_instances",
                "Instances registered now, per service",
                None,
                MetricType::Gauge,
            )?;
            let mut other = None;
            for (i, (service, count)) in registry.instances.iter().enumerate() {
                if i >= MAX_SERVICES {
                    *other.get_or_insert(0) += count;
                    continue;
                }
                let count = ConstGauge::new(i64::try_from(*count).unwrap_or(i64::MAX));
                count.encode(instances.encode_family(&[("service", service.as_str())])?)?;
            }
            if let Some(count) = other {
                let count = ConstGauge::new(i64::try_from(count).unwrap_or(i64::MAX));
                count.encode(instances.encode_family(&[("service", "_other")])?)?;
            }
            gauge(
                &mut encoder,
                "center_leases",
                "Leases alive now (one per registered instance)",
                registry.leases,
            )?;
            ConstCounter::new(registry.expired).encode(encoder.encode_descriptor(
                "center_leases_expired",
                "Leases that ran out without a renewal since the center started",
                None,
                MetricType::Counter,
            )?)?;
            gauge(
                &mut encoder,
                "center_config_keys",
                "Configuration keys set now",
                registry.config_keys,
            )
        }
    }
}
