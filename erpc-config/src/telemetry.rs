//! `telemetry:` — metrics, tracing and logs (as `erpc-telemetry` takes them).

use std::path::PathBuf;

use serde::Deserialize;

/// Metrics, tracing and logging settings, checked at load. With the feature `telemetry`,
/// `TelemetrySettings::start` applies them in one call (logging, the OTLP exporter, the
/// `/metrics` listener) and the `Telemetry` it returns adds the observer and layers to the
/// servers and clients built from the settings (`ServerSettings::builder_with`,
/// `ClientSettings::builder_with`); `LoggingSettings::log_config` and
/// `TracingSettings::otlp_config` give erpc-telemetry's configurations for a subscriber of
/// your own. Without the feature they are only read: hand them to `erpc-telemetry`
/// yourself. erpc-telemetry's documentation gives each default's reason.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// `/metrics`.
    pub metrics: MetricsSettings,
    /// OpenTelemetry tracing.
    pub tracing: TracingSettings,
    /// Logs.
    pub logging: LoggingSettings,
    /// Where these settings were loaded from, so that `start`'s errors name the file's line
    /// or the variable of a value it cannot use; not a key of the file. Default: made in
    /// code.
    #[serde(skip)]
    pub origin: crate::Origin,
}

/// `telemetry.metrics:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Serve Prometheus metrics at `http://ADDR/metrics` (`HOST:PORT`, e.g. `0.0.0.0:9464`;
    /// checked at load; port 0 picks a free one). With it, servers and clients built with
    /// `builder_with` (feature `telemetry`) report to those metrics. Default off.
    pub listen: Option<String>,
}

/// `telemetry.tracing:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingSettings {
    /// The OTLP/gRPC endpoint (`http://collector:4317`). With it, servers and clients built
    /// with `builder_with` (feature `telemetry`) trace their calls. Default off.
    pub endpoint: Option<String>,
    /// `service.name`, not empty. Default `erpc`.
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
    /// `EnvFilter` directives, checked at load with the rules erpc-telemetry applies at
    /// start-up and live (`erpc_telemetry::log_rules`): not empty (`off` for no logs), a bare
    /// word must be a level (`trace`, `debug`, `info`, `warn`, `error`, `off`), a module is
    /// `TARGET=LEVEL`. Default `info`.
    pub filter: String,
    /// Write to files instead of stderr.
    pub files: Option<LogFilesSettings>,
    /// Log one line per call (erpc-telemetry's `AccessLog`, on target `erpc::access` at
    /// INFO) on the servers built with `ServerSettings::builder_with` (feature `telemetry`).
    /// Default false.
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
    /// The directory (created if missing): not empty, `.` for the current one.
    pub directory: PathBuf,
    /// The start of each file's name: not empty, no `/`, `\` or NUL. Default `erpc`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// `hourly`, `daily` (default) or `never`.
    #[serde(default)]
    pub rotation: RotationName,
    /// Files kept, the oldest deleted as a new one starts; 0 keeps them all. Default 7.
    /// (Rotation is by time only, never by size.)
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

impl TracingSettings {
    /// The settings given other than their defaults while `endpoint` is not (`service_name`,
    /// `sample_ratio`, or both) — they have no effect: tracing is off without an endpoint.
    /// `TelemetrySettings::start` warns of them, as a file may set them for an endpoint that
    /// only some environments give (`ERPC_TELEMETRY__TRACING__ENDPOINT`).
    pub fn given_without_endpoint(&self) -> Option<&'static str> {
        if self.endpoint.is_some() {
            return None;
        }
        let d = TracingSettings::default();
        match (
            self.service_name != d.service_name,
            self.sample_ratio != d.sample_ratio,
        ) {
            (true, true) => Some("service_name and sample_ratio"),
            (true, false) => Some("service_name"),
            (false, true) => Some("sample_ratio"),
            (false, false) => None,
        }
    }
}

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
        erpc_telemetry::log_rules::check_filter(filter).map_err(|reason| {
            (
                "telemetry.logging.filter".to_owned(),
                format!("{filter:?} is not a log filter: {reason}"),
            )
        })?;
        if let Some(files) = &self.logging.files {
            erpc_telemetry::log_rules::check_directory(&files.directory)
                .map_err(|reason| ("telemetry.logging.files.directory".to_owned(), reason))?;
            erpc_telemetry::log_rules::check_prefix(&files.prefix)
                .map_err(|reason| ("telemetry.logging.files.prefix".to_owned(), reason))?;
        }
        if self.tracing.service_name.trim().is_empty() {
            return Err((
                "telemetry.tracing.service_name".to_owned(),
                "is empty: it names this program on every span (service.name), e.g. billing"
                    .to_owned(),
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

/// An OTLP endpoint under erpc-telemetry's rule (the one `otlp::init` applies), or why
/// not, with an example.
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    erpc_telemetry::endpoint_rules::check_otlp_endpoint(endpoint)
        .map_err(|reason| format!("{reason}; e.g. http://collector:4317"))
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
