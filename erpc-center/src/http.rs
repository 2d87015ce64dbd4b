//! `--http`: the center's web dashboard (the library's `dashboard` module), with the same
//! token rule as the center's erpc API and the center's metrics when it has them.

#[cfg(feature = "dashboard")]
use erpc_center::dashboard::{Dashboard, DashboardOptions};

/// The running dashboard, if one was asked for.
pub struct Listening {
    #[cfg(feature = "dashboard")]
    dashboard: Dashboard,
}

impl Listening {
    /// The page's address.
    pub fn url(&self) -> String {
        #[cfg(feature = "dashboard")]
        return self.dashboard.url();
        #[cfg(not(feature = "dashboard"))]
        String::new()
    }

    /// Stop serving (open event streams end).
    pub async fn shutdown(self) {
        #[cfg(feature = "dashboard")]
        self.dashboard.shutdown().await;
    }
}

/// What the dashboard shares with the center: its token rule and its metrics.
#[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
pub struct Options {
    /// The center's token and whether it protects reads.
    pub token: Option<(String, bool)>,
    /// The center's metrics, as Prometheus text.
    pub metrics: Option<std::sync::Arc<dyn Fn() -> String + Send + Sync>>,
}

/// Serve the dashboard of `center` on `addr`, when given.
#[cfg(feature = "dashboard")]
pub async fn listen(
    addr: Option<&str>,
    center: &erpc_center::CenterImpl,
    options: Options,
) -> Result<Option<Listening>, String> {
    let Some(addr) = addr else { return Ok(None) };
    let mut dashboard = DashboardOptions::default();
    if let Some((token, protect_reads)) = options.token {
        dashboard = dashboard.token(token, protect_reads);
    }
    if let Some(metrics) = options.metrics {
        dashboard = dashboard.metrics(metrics);
    }
    let dashboard = Dashboard::bind(center, addr, dashboard)
        .await
        .map_err(|e| format!("--http {addr}: {e}"))?;
    Ok(Some(Listening { dashboard }))
}

/// Built without the `dashboard` feature: asking for it is an error that says so.
#[cfg(not(feature = "dashboard"))]
pub async fn listen(
    addr: Option<&str>,
    _center: &erpc_center::CenterImpl,
    _options: Options,
) -> Result<Option<Listening>, String> {
    match addr {
        None => Ok(None),
        Some(addr) => Err(format!(
            "--http {addr}: this erpc-center was built without the dashboard feature"
        )),
    }
}
