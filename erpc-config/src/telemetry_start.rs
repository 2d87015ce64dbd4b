//! The `telemetry:` section applied (feature `telemetry`): [`TelemetrySettings::start`]
//! sets up logging, OTLP tracing and the `/metrics` listener as the settings say, and the
//! [`Telemetry`] it returns wires the metrics observer, the tracing layers and the access log
//! into the servers and clients built from the same file
//! ([`ServerSettings::builder_with`], [`ClientSettings::builder_with`],
//! [`ClientSettings::connect_with`]).
//!
//! erpc-telemetry does the work (`logs::layer`, `trace::otlp::provider`, `MetricsServer`);
//! this module only turns the settings into its configurations, since erpc-telemetry cannot
//! depend on erpc-config (erpc-config checks its settings with erpc-telemetry's rules).

use std::net::SocketAddr;

use erpc_core::{Client, ClientBuilder, ServerBuilder, Status};
use erpc_telemetry::logs::{
    self, AccessLog, LogConfig, LogFormat, LogGuard, LogOutput, LogSetupError, Rotation,
};
use erpc_telemetry::trace::otlp::{self, OtlpConfig, TraceSetupError, TracingGuard};
use erpc_telemetry::trace::{ClientTracing, ServerTracing};
use erpc_telemetry::{Metrics, MetricsServer};
use tracing_subscriber::layer::SubscriberExt as _;

use crate::client::ClientSettings;
use crate::client_governance::ClientGovernance;
use crate::error::ConfigError;
use crate::server::ServerSettings;
use crate::server_governance::ServerGovernance;
use crate::telemetry::{
    LogFormatName, LoggingSettings, RotationName, TelemetrySettings, TracingSettings,
};

impl From<LogFormatName> for LogFormat {
    fn from(name: LogFormatName) -> LogFormat {
        match name {
            LogFormatName::Human => LogFormat::Human,
            LogFormatName::Json => LogFormat::Json,
        }
    }
}

impl From<RotationName> for Rotation {
    fn from(name: RotationName) -> Rotation {
        match name {
            RotationName::Hourly => Rotation::Hourly,
            RotationName::Daily => Rotation::Daily,
            RotationName::Never => Rotation::Never,
        }
    }
}

impl LoggingSettings {
    /// erpc-telemetry's logging configuration these settings describe: the format, the
    /// filter, and stderr or `files` (directory, prefix, rotation, files kept). For a
    /// subscriber of your own (`erpc_telemetry::logs::layer`); [`TelemetrySettings::start`]
    /// uses it. `access_log` is not part of it (it is a server layer:
    /// [`Telemetry::server`]).
    pub fn log_config(&self) -> LogConfig {
        LogConfig {
            format: self.format.into(),
            filter: self.filter.clone(),
            output: match &self.files {
                None => LogOutput::Stderr,
                Some(files) => LogOutput::Files {
                    directory: files.directory.clone(),
                    prefix: files.prefix.clone(),
                    rotation: files.rotation.into(),
                    max_files: files.max_files,
                },
            },
        }
    }
}

impl TracingSettings {
    /// erpc-telemetry's OTLP exporter configuration these settings describe — `None` when
    /// `endpoint` is not set (tracing off). The endpoint, service name and sample ratio come
    /// from the settings; the export timeout, queue and intervals are `OtlpConfig`'s
    /// defaults.
    pub fn otlp_config(&self) -> Option<OtlpConfig> {
        self.endpoint.as_ref().map(|endpoint| OtlpConfig {
            endpoint: endpoint.clone(),
            service_name: self.service_name.clone(),
            sample_ratio: self.sample_ratio,
            ..OtlpConfig::default()
        })
    }
}

/// What [`TelemetrySettings::start`] set up and what must stay alive for it to keep working:
/// the log writer, the span exporter, the `/metrics` listener. Keep it until the end of
/// `main` (or call [`Telemetry::shutdown`]): dropping it stops the listener, exports the
/// spans still queued (blocking the dropping thread up to the export timeout, 10 s) and
/// flushes the log lines still buffered; lines logged after that are lost.
///
/// It also carries what the settings ask of each server and client: [`Telemetry::server`]
/// and [`Telemetry::client`] add them to a builder, and the settings' `builder_with` and
/// `connect_with` do it for you.
#[must_use = "dropping the Telemetry stops the /metrics listener and the log and span writers"]
pub struct Telemetry {
    // Dropped in this order: the listener, then the exporter (whose shutdown may log), then
    // the log writer, last, so that what the others log on the way out is written.
    listener: Option<MetricsServer>,
    tracing: Option<TracingGuard>,
    logs: LogGuard,
    metrics: Option<Metrics>,
    access_log: bool,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("metrics_addr", &self.metrics_addr())
            .field("tracing", &self.tracing.is_some())
            .field("access_log", &self.access_log)
            .finish_non_exhaustive()
    }
}

impl TelemetrySettings {
    /// Start what these settings describe, in one call:
    ///
    /// - **metrics** (`metrics.listen` set): a [`Metrics`] and its `/metrics` listener on
    ///   that address (port 0: any free one, [`Telemetry::metrics_addr`] says which);
    /// - **logging**, always: `logging.format` lines filtered by `logging.filter`, to stderr
    ///   or to `logging.files` (the directory created if missing, rotated by time, at most
    ///   `max_files` kept), written by a background thread;
    /// - **tracing** (`tracing.endpoint` set): an OTLP/gRPC exporter of `service_name`,
    ///   parent-based head sampling at `sample_ratio` (without an endpoint tracing is off,
    ///   and a WARN says so if `service_name` or `sample_ratio` were given);
    ///
    /// the log and OpenTelemetry layers installed together as the process's global `tracing`
    /// subscriber. `logging.access_log`, the metrics observer and the tracing layers are
    /// per server and client: build them with [`ServerSettings::builder_with`] and
    /// [`ClientSettings::builder_with`] (or add them with [`Telemetry::server`] and
    /// [`Telemetry::client`]). Call it once, early in `main`, inside a Tokio runtime (the
    /// listener and the exporter run on it); keep the [`Telemetry`].
    ///
    /// Nothing is installed unless everything could be set up: the listener is bound, the log
    /// directory created and the exporter built before the subscriber is set.
    ///
    /// # Errors
    /// [`ConfigError::Key`] naming the key — and, for settings as [`crate::load`] read them
    /// (not changed in code since), the file and line or the `ERPC_*` variable its value came
    /// from: a value the load would refuse (settings changed in code); `telemetry.metrics.listen` when the address cannot be bound (in use,
    /// permission denied), with the system's reason; `telemetry.logging.files.directory`
    /// when the directory cannot be created; `telemetry.tracing.endpoint` when the exporter
    /// cannot be built; `telemetry` when a global `tracing` subscriber is already set (by an
    /// earlier `start`, or by the program: compose `LoggingSettings::log_config` and
    /// `TracingSettings::otlp_config` into that subscriber instead).
    pub async fn start(&self) -> Result<Telemetry, ConfigError> {
        let at = |key: &str, reason: String| self.error_at(key, reason);
        self.check().map_err(|(key, reason)| at(&key, reason))?;
        // Before anything is bound: a second start would otherwise fail on its metrics
        // address, held by the first, and blame the address.
        if tracing::dispatcher::has_been_set() {
            return Err(subscriber_set());
        }
        let (metrics, listener) = match &self.metrics.listen {
            Some(addr) => {
                let metrics = Metrics::new();
                let listener = MetricsServer::bind(metrics.clone(), addr.as_str())
                    .await
                    .map_err(|e| at("telemetry.metrics.listen", e.to_string()))?;
                (Some(metrics), Some(listener))
            }
            None => (None, None),
        };
        let (log_layer, logs) = logs::layer(&self.logging.log_config()).map_err(|e| match e {
            LogSetupError::Filter { reason, .. } => at("telemetry.logging.filter", reason),
            LogSetupError::Files { reason, directory } => match reason.strip_prefix("prefix ") {
                Some(reason) => at("telemetry.logging.files.prefix", reason.to_owned()),
                // The directory as the program saw it: a relative one resolves against the
                // working directory, which the file does not show.
                None => at(
                    "telemetry.logging.files.directory",
                    format!("{}: {reason}", directory.display()),
                ),
            },
            other => at("telemetry.logging", other.to_string()),
        })?;
        let provider = match self.tracing.otlp_config() {
            Some(config) => Some(otlp::provider(&config).map_err(|e| match e {
                TraceSetupError::Config(reason) => at("telemetry.tracing", reason),
                other => at("telemetry.tracing.endpoint", other.to_string()),
            })?),
            None => None,
        };
        let subscriber = tracing_subscriber::registry()
            .with(log_layer)
            .with(provider.as_ref().map(otlp::layer));
        tracing::subscriber::set_global_default(subscriber).map_err(|_| subscriber_set())?;
        if let Some(given) = self.tracing.given_without_endpoint() {
            tracing::warn!(
                "telemetry.tracing: {given} given but no endpoint: tracing is off (set \
                 telemetry.tracing.endpoint, e.g. http://collector:4317, to export spans)"
            );
        }
        Ok(Telemetry {
            listener,
            tracing: provider.map(TracingGuard::new),
            logs,
            metrics,
            access_log: self.logging.access_log,
        })
    }
}

/// `start`'s refusal when a global `tracing` subscriber is already set. Not a value's fault:
/// named by the section alone.
fn subscriber_set() -> ConfigError {
    ConfigError::from((
        "telemetry".to_owned(),
        "cannot start: a global tracing subscriber is already set; start telemetry once per \
         process, before anything else sets one, or add erpc_telemetry's layers \
         (LoggingSettings::log_config, TracingSettings::otlp_config) to that subscriber"
            .to_owned(),
    ))
}

impl TelemetrySettings {
    /// An error at `key` found when starting, named with where its value came from when
    /// these settings are still those loaded (else by the key alone: a value set in code has
    /// no line in the file, and a variable may no longer be what set it).
    fn error_at(&self, key: &str, reason: String) -> ConfigError {
        let unchanged = self.origin.reload().is_some_and(|s| s.telemetry == *self);
        if unchanged {
            self.origin.locate(key.to_owned(), reason)
        } else {
            ConfigError::from((key.to_owned(), reason))
        }
    }
}

impl Telemetry {
    /// `builder` with what the settings ask of a server: the metrics observer (with
    /// `metrics.listen`; it becomes the builder's observer, one per builder, the last set
    /// wins), `ServerTracing` (with `tracing.endpoint`) and `AccessLog` (with
    /// `logging.access_log`, and `log_refused_calls` so that calls refused before they ran
    /// have their line too), in that order, the first outermost — so the access-log line
    /// carries the call's trace ids. [`ServerSettings::builder_with`] applies it before the
    /// server's own settings (whose slow-call log then also runs inside the call's span).
    pub fn server(&self, mut builder: ServerBuilder) -> ServerBuilder {
        if let Some(metrics) = &self.metrics {
            builder = builder.observer(metrics.observer());
        }
        if self.tracing.is_some() {
            builder = builder.layer(ServerTracing);
        }
        if self.access_log {
            builder = builder.layer(AccessLog).log_refused_calls(true);
        }
        builder
    }

    /// `builder` with what the settings ask of a client: the metrics observer (with
    /// `metrics.listen`; the builder's observer, the last set wins) and `ClientTracing` as an
    /// attempt layer (with `tracing.endpoint`), outermost of the attempt layers added after
    /// it. The client's governance layers report to the metrics only through
    /// [`Telemetry::client_governance`] (which [`ClientSettings::builder_with`] uses).
    pub fn client(&self, mut builder: ClientBuilder) -> ClientBuilder {
        if let Some(metrics) = &self.metrics {
            builder = builder.observer(metrics.observer());
        }
        if self.tracing.is_some() {
            builder = builder.attempt_layer(ClientTracing);
        }
        builder
    }

    /// `governance` with each of its layers reporting to the metrics (with
    /// `metrics.listen`; unchanged without): the in-flight cap and rate limit their refusals
    /// and waits, the breakers their changes of state, the fail modes their retries and
    /// hedges (`erpc_refused_calls_total`, `erpc_breaker_state`, `erpc_retries_total`, ...).
    pub fn client_governance(&self, mut governance: ClientGovernance) -> ClientGovernance {
        let Some(metrics) = &self.metrics else {
            return governance;
        };
        governance.max_in_flight = governance
            .max_in_flight
            .take()
            .map(|l| l.observer(metrics.observer()));
        governance.method_breakers = governance
            .method_breakers
            .take()
            .map(|b| b.observer(metrics.observer()));
        governance.fail_modes = governance
            .fail_modes
            .take()
            .map(|m| m.observer(metrics.observer()));
        #[cfg(feature = "rate-limit")]
        {
            governance.rate_limit = governance
                .rate_limit
                .take()
                .map(|l| l.observer(metrics.observer()));
        }
        governance.instance_breakers = governance
            .instance_breakers
            .take()
            .map(|b| b.observer(metrics.observer()));
        governance
    }

    /// The metrics `/metrics` serves (with `metrics.listen`): register your own with
    /// `Metrics::with_registry`, or give its observer to a server or client built otherwise.
    pub fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref()
    }

    /// Where `/metrics` listens (the port chosen when `metrics.listen` asked for 0).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().map(MetricsServer::local_addr)
    }

    /// The log writer's guard: change the filter while the program runs
    /// (`LogGuard::set_filter`, or `LogGuard::follow_filter` of the center's `log_filter`
    /// key).
    pub fn logs(&self) -> &LogGuard {
        &self.logs
    }

    /// The span exporter's guard (with `tracing.endpoint`): its provider, for tracers of
    /// your own or to flush now.
    pub fn tracing(&self) -> Option<&TracingGuard> {
        self.tracing.as_ref()
    }

    /// Stop the `/metrics` listener (waiting for the scrapes being answered), export the
    /// spans still queued (off the runtime's threads: it may wait for the collector up to
    /// the export timeout, 10 s), then flush the log lines still buffered.
    pub async fn shutdown(self) {
        let Telemetry {
            listener,
            tracing,
            logs,
            ..
        } = self;
        if let Some(listener) = listener {
            listener.shutdown().await;
        }
        if let Some(tracing) = tracing {
            // Its drop shuts the provider down, which blocks until the last export ends. A
            // task that fails to join only panicked inside the exporter: nothing left to do.
            let _ = tokio::task::spawn_blocking(move || drop(tracing)).await;
        }
        drop(logs);
    }
}

impl ServerSettings {
    /// [`ServerSettings::builder`] with `telemetry`'s observer and layers
    /// ([`Telemetry::server`]: metrics, tracing, the access log, as the `telemetry:` section
    /// says), outside the server's own layers (the slow-call log).
    ///
    /// # Errors
    /// As [`ServerSettings::builder`].
    pub fn builder_with(&self, telemetry: &Telemetry) -> Result<ServerBuilder, ConfigError> {
        self.governed_with(telemetry).map(|(builder, _)| builder)
    }

    /// [`ServerSettings::builder_with`], and the [`ServerGovernance`] it applied: its hooks
    /// are the builder's (clones share their state), so a rate given to them later — by
    /// `erpc_center::live_config::follow` (`LiveTargets { server: Some(governance), .. }`) or
    /// by hand — is the server's.
    ///
    /// # Errors
    /// As [`ServerSettings::builder`].
    pub fn governed_with(
        &self,
        telemetry: &Telemetry,
    ) -> Result<(ServerBuilder, ServerGovernance), ConfigError> {
        let governance = self.governance()?;
        let builder = governance.apply(telemetry.server(self.plain_builder()?));
        Ok((builder, governance))
    }
}

impl ClientSettings {
    /// [`ClientSettings::builder`] with `telemetry`'s observer and tracing layer
    /// ([`Telemetry::client`]) and the governance layers reporting to its metrics
    /// ([`Telemetry::client_governance`]).
    ///
    /// # Errors
    /// As [`ClientSettings::builder`].
    pub fn builder_with(&self, telemetry: &Telemetry) -> Result<ClientBuilder, ConfigError> {
        self.governed_with(telemetry).map(|(builder, _)| builder)
    }

    /// [`ClientSettings::builder_with`], and the [`ClientGovernance`] it applied (reporting
    /// to `telemetry`'s metrics): its layers are the builder's (clones share their state),
    /// so settings given to them later — by `erpc_center::live_config::follow`
    /// (`LiveTargets { client: Some(governance), .. }`) or by hand — are the client's. Connect
    /// with [`ClientSettings::connect_builder`].
    ///
    /// # Errors
    /// As [`ClientSettings::builder`].
    pub fn governed_with(
        &self,
        telemetry: &Telemetry,
    ) -> Result<(ClientBuilder, ClientGovernance), ConfigError> {
        let governance = telemetry.client_governance(self.governance()?);
        let builder = governance.apply(telemetry.client(self.plain_builder()?));
        Ok((builder, governance))
    }

    /// [`ClientSettings::connect`] with [`ClientSettings::builder_with`]`(telemetry)`.
    ///
    /// # Errors
    /// As [`ClientSettings::connect`].
    pub async fn connect_with(&self, telemetry: &Telemetry) -> Result<Client, Status> {
        let builder = self
            .builder_with(telemetry)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        self.connect_builder(builder).await
    }
}
