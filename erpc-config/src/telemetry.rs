//! `telemetry:` — metrics, tracing and logs (as `erpc-telemetry` takes them).

use std::path::PathBuf;

use serde::Deserialize;

/// Metrics, tracing and logging settings. erpc-config only reads them; hand them to
/// `erpc-telemetry` (`MetricsServer::bind`, `trace::otlp::OtlpConfig`, `logs::LogConfig`),
/// whose documentation gives each default's reason.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// `/metrics`.
    pub metrics: MetricsSettings,
    /// OpenTelemetry tracing.
    pub tracing: TracingSettings,
    /// Logs.
    pub logging: LoggingSettings,
}

/// `telemetry.metrics:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Serve Prometheus metrics at `http://ADDR/metrics` (`HOST:PORT`, e.g. `0.0.0.0:9464`;
    /// checked at load). Default off.
    pub listen: Option<String>,
}

/// `telemetry.tracing:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingSettings {
    /// The OTLP/gRPC endpoint (`http://collector:4317`). Default off.
    pub endpoint: Option<String>,
    /// `service.name`. Default `erpc`.
    pub service_name: String,
    /// Share of new traces sampled, 0 to 1 (parent-based). Default 1.
    pub sample_ratio: f64,
}

impl Default for TracingSettings {
    fn default() -> Self {
        TracingSettings {
            endpoint: None,
            service_name: "erpc".to_owned(),
            sample_ratio: 1.0,
        }
    }
}

/// `telemetry.logging:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingSettings {
    /// `human` (default) or `json`.
    pub format: LogFormatName,
    /// `EnvFilter` directives (checked at load). Default `info`.
    pub filter: String,
    /// Write to files instead of stderr.
    pub files: Option<LogFilesSettings>,
    /// Log one line per call (`AccessLog`). Default false.
    pub access_log: bool,
}

impl Default for LoggingSettings {
    fn default() -> Self {
        LoggingSettings {
            format: LogFormatName::Human,
            filter: "info".to_owned(),
            files: None,
            access_log: false,
        }
    }
}

/// `human` or `json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormatName {
    /// Readable lines.
    #[default]
    Human,
    /// JSON lines.
    Json,
}

/// `telemetry.logging.files:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFilesSettings {
    /// The directory.
    pub directory: PathBuf,
    /// The start of each file's name. Default `erpc`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// `hourly`, `daily` (default) or `never`.
    #[serde(default)]
    pub rotation: RotationName,
    /// Files kept (0 = all). Default 7.
    #[serde(default = "default_max_files")]
    pub max_files: usize,
}

fn default_prefix() -> String {
    "erpc".to_owned()
}

fn default_max_files() -> usize {
    7
}

/// `hourly`, `daily` or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RotationName {
    /// A file per hour.
    Hourly,
    /// A file per day.
    #[default]
    Daily,
    /// One file.
    Never,
}

crate::common::named!(LogFormatName {
    Human = "human",
    Json = "json",
});

crate::common::named!(RotationName {
    Hourly = "hourly",
    Daily = "daily",
    Never = "never",
});

impl TelemetrySettings {
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        let ratio = self.tracing.sample_ratio;
        if !(0.0..=1.0).contains(&ratio) {
            return Err((
                "telemetry.tracing.sample_ratio".into(),
                format!("must be between 0 and 1, got {ratio}"),
            ));
        }
        if let Some(listen) = &self.metrics.listen {
            check_host_port(listen).map_err(|reason| {
                (
                    "telemetry.metrics.listen".to_owned(),
                    format!("{listen:?} {reason}"),
                )
            })?;
        }
        let filter = &self.logging.filter;
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(filter) {
            return Err((
                "telemetry.logging.filter".into(),
                format!(
                    "{filter:?} is not a log filter (EnvFilter directives, e.g. \"info,erpc_core=debug\"): {e}"
                ),
            ));
        }
        if let Some(endpoint) = &self.tracing.endpoint {
            check_endpoint(endpoint).map_err(|reason| {
                (
                    "telemetry.tracing.endpoint".to_owned(),
                    format!("{endpoint:?} {reason}"),
                )
            })?;
        }
        Ok(())
    }
}

/// An OTLP endpoint: an `http://` or `https://` URL (parsed as `http::Uri`, as the exporter
/// will) with a host and, if it gives one, a port of 1 to 65535; or why not.
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let example = "e.g. http://collector:4317";
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e| format!("is not a URL ({e}); {example}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(format!("must be an http:// or https:// URL, {example}"));
    }
    let Some(authority) = uri.authority().filter(|a| !a.host().is_empty()) else {
        return Err(format!("has no host, {example}"));
    };
    // `http::Uri` keeps a port it cannot hold as a u16 (`:99999`) and only answers `None`
    // for it, so the port is read from the authority as written.
    let host_port = authority.as_str().rsplit('@').next().unwrap_or_default();
    if let Some((_, port)) = host_port
        .rsplit_once(':')
        .filter(|_| !host_port.ends_with(']'))
    {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(format!("has port {port:?}, expected 1 to 65535; {example}"));
        }
    }
    Ok(())
}

/// `HOST:PORT` (`0.0.0.0:9464`, `[::1]:9464`, `localhost:9464`), or why not.
fn check_host_port(listen: &str) -> Result<(), String> {
    if listen.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let Some((host, port)) = listen.rsplit_once(':') else {
        return Err("is not HOST:PORT (e.g. 0.0.0.0:9464)".to_owned());
    };
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains(':') {
        return Err("is not HOST:PORT (e.g. 0.0.0.0:9464, [::]:9464)".to_owned());
    }
    port.parse::<u16>()
        .map(|_| ())
        .map_err(|_| format!("has port {port:?}, expected 0 to 65535"))
}
