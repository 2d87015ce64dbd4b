//! `server:` — a server's settings.

use std::path::PathBuf;
use std::time::Duration;

use erpc_core::{ServerBuilder, ServerConfig};
use serde::Deserialize;

use crate::auth::AuthSettings;
use crate::common::{CompressionName, HeartbeatSettings, LimitsSettings, check_window};
use crate::error::ConfigError;
use crate::per_method::PerMethodSettings;
use crate::rate::RateSettings;
use crate::registration::RegistrationSettings;

/// A server's settings: every field of `erpc_core::ServerConfig`, the addresses to serve on
/// and TLS files. Every field has the default `ServerConfig` has; durations are written as
/// `"10s"`, `"250ms"`, `"1h"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Addresses to serve on, any transport. Default `["tcp://127.0.0.1:7001"]`.
    pub listen: Vec<String>,
    /// Handlers running at once per connection. Default 1,024.
    pub max_in_flight: usize,
    /// Connections served at once. Default 10,000.
    pub max_connections: usize,
    /// A new connection's first frame must arrive within this. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub first_frame_timeout: Duration,
    /// Deadline of a unary or oneway call that carries none. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub default_deadline: Duration,
    /// Longer unary and oneway deadlines are clamped to this. Default `1h`.
    #[serde(with = "humantime_serde")]
    pub max_deadline: Duration,
    /// Deadline of a stream that carries none. Default none (streams live until ended).
    #[serde(with = "humantime_serde")]
    pub default_stream_deadline: Option<Duration>,
    /// How long a graceful shutdown waits for calls in flight. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Smaller responses go uncompressed. Default 1024 (bytes).
    pub compression_threshold: usize,
    /// Compression of responses to calls that ask for none but accept it. Default `none`.
    pub response_compression: CompressionName,
    /// Per-stream receive window in bytes, at least 262144 (the default).
    pub stream_window: u32,
    /// Frames queued per connection's writer. Default 4,096.
    pub write_queue: usize,
    /// Frames the protocol does not allow, per heartbeat interval, before a connection is
    /// closed. Default 1,000.
    pub max_junk_frames: u32,
    /// Rapid cancels beyond completions before a connection is closed. Default 2,048.
    pub max_cancel_debt: u64,
    /// Poll a unary or oneway handler once on its connection's task, spawning it only if it
    /// is still waiting (`ServerConfig::inline_calls`). Default true; `false` spawns a task
    /// per call, for handlers that block or compute for milliseconds before their first
    /// `.await`.
    pub inline_calls: bool,
    /// Liveness checking.
    pub heartbeat: HeartbeatSettings,
    /// Sizes accepted from clients.
    pub limits: LimitsSettings,
    /// The certificate for tls://, wss:// and quic:// addresses, and the CA that client
    /// certificates must chain to for mutual TLS. Default none.
    pub tls: Option<ServerTlsSettings>,
    /// Serve the built-in health service `erpc.Health`. Default true.
    pub health: bool,
    /// A pool of handler workers: at most `workers` unary/oneway handlers at once, `queue`
    /// more waiting. Default none.
    pub workers: Option<WorkersSettings>,
    /// Log calls slower than this at `warn`. Default none.
    #[serde(with = "humantime_serde")]
    pub slow_call_log: Option<Duration>,
    /// Rate limits per method (`null`: none), refused `resource_exhausted` before decoding.
    /// Default none.
    pub rate_limit: PerMethodSettings<Option<RateSettings>>,
    /// Build the rate limiter even when `rate_limit` sets no rate, so that live config
    /// (`erpc config set SERVICE server.rate_limit …`) can add one later: a program builds
    /// its layers once, and one it did not build cannot be changed live. Costs a lookup per
    /// call while no rate is set. Default false.
    pub live_layers: bool,
    /// A rate limit per peer IP address (peers never wait: no `max_wait`). Default none.
    pub peer_rate_limit: Option<RateSettings>,
    /// Calls running at once across the server. Default none.
    pub concurrency_limit: Option<usize>,
    /// Calls running at once per method (`null`: none): bulkheads. Default none.
    pub method_concurrency: PerMethodSettings<Option<usize>>,
    /// A concurrency limit learnt from latency (Vegas). Default none.
    pub adaptive_limit: Option<AdaptiveLimitSettings>,
    /// Authentication and ACL.
    pub auth: AuthSettings,
    /// Register every service with registry centers (erpc-center's
    /// `config_client::register`). Default none.
    pub registration: Option<RegistrationSettings>,
}

/// `server.workers:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersSettings {
    /// Handlers running at once (at least 1).
    pub workers: usize,
    /// Calls waiting for a worker, within their deadline. Default 0: none wait — a call
    /// that finds every worker busy is refused `resource_exhausted` at once.
    #[serde(default)]
    pub queue: usize,
}

/// `server.adaptive_limit:` — `erpc_core::server::AdaptiveSettings`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveLimitSettings {
    /// The limit before the first measure. Default 20.
    pub initial_limit: usize,
    /// The least limit (and a probe's). Default 2.
    pub min_limit: usize,
    /// The greatest limit. Default 1000.
    pub max_limit: usize,
    /// A window ends after at least this long ... Default `100ms`.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// ... and this many calls. Default 10.
    pub window_calls: u64,
    /// How often the no-load latency is measured again. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub probe_every: Duration,
}

impl Default for AdaptiveLimitSettings {
    fn default() -> Self {
        let d = erpc_core::server::AdaptiveSettings::default();
        AdaptiveLimitSettings {
            initial_limit: d.initial_limit,
            min_limit: d.min_limit,
            max_limit: d.max_limit,
            window: d.window,
            window_calls: d.window_calls,
            probe_every: d.probe_every,
        }
    }
}

/// `server.tls:` — PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsSettings {
    /// The certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// With it, clients must present a certificate this CA (PEM) signed (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        let d = ServerConfig::default();
        ServerSettings {
            listen: vec!["tcp://127.0.0.1:7001".to_owned()],
            max_in_flight: d.max_in_flight,
            max_connections: d.max_connections,
            first_frame_timeout: d.first_frame_timeout,
            default_deadline: d.default_deadline,
            max_deadline: d.max_deadline,
            default_stream_deadline: d.default_stream_deadline,
            shutdown_grace: d.shutdown_grace,
            compression_threshold: d.compression_threshold,
            response_compression: CompressionName::None,
            stream_window: d.stream_window,
            write_queue: d.write_queue,
            max_junk_frames: d.max_junk_frames,
            max_cancel_debt: d.max_cancel_debt,
            inline_calls: d.inline_calls,
            heartbeat: HeartbeatSettings::default(),
            limits: LimitsSettings::default(),
            tls: None,
            health: true,
            workers: None,
            slow_call_log: None,
            rate_limit: PerMethodSettings::default(),
            live_layers: false,
            peer_rate_limit: None,
            concurrency_limit: None,
            method_concurrency: PerMethodSettings::default(),
            adaptive_limit: None,
            auth: AuthSettings::default(),
            registration: None,
        }
    }
}

impl ServerSettings {
    /// Values that parse but cannot work: the dotted key (under `server`) and why.
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        if self.listen.is_empty() {
            return Err(("server.listen".into(), "needs at least one address".into()));
        }
        for addr in &self.listen {
            if let Err(e) = erpc_core::IntoAddress::into_address(addr.as_str()) {
                return Err(("server.listen".into(), format!("{addr:?}: {e}")));
            }
        }
        for (key, zero) in [
            (
                "server.workers.workers",
                self.workers.is_some_and(|w| w.workers == 0),
            ),
            ("server.max_in_flight", self.max_in_flight == 0),
            ("server.max_connections", self.max_connections == 0),
            ("server.write_queue", self.write_queue == 0),
            (
                "server.first_frame_timeout",
                self.first_frame_timeout.is_zero(),
            ),
            ("server.default_deadline", self.default_deadline.is_zero()),
            ("server.max_deadline", self.max_deadline.is_zero()),
        ] {
            if zero {
                return Err((key.into(), "must be above zero".into()));
            }
        }
        if self.default_stream_deadline.is_some_and(|t| t.is_zero()) {
            return Err((
                "server.default_stream_deadline".into(),
                "must be above zero".into(),
            ));
        }
        erpc_core::config::at_most_a_day("first_frame_timeout", self.first_frame_timeout)
            .and_then(|()| erpc_core::config::check_max_connections(self.max_connections))
            .map_err(|(key, why)| (format!("server.{key}"), why))?;
        if self.default_deadline > self.max_deadline {
            let (key, max) = ("server.default_deadline", "server.max_deadline");
            return Err((
                key.into(),
                format!(
                    "{} is above {max} {}",
                    crate::error::valued(key, humantime::format_duration(self.default_deadline)),
                    crate::error::valued(max, humantime::format_duration(self.max_deadline))
                ),
            ));
        }
        check_window(self.stream_window, "server.stream_window")?;
        self.heartbeat.check("server.heartbeat")?;
        self.limits.check("server.limits")?;
        self.check_governance()
    }

    /// The `ServerConfig` these settings describe (TLS files read).
    ///
    /// # Errors
    /// [`ConfigError::Key`] naming the key of a value the load would refuse (settings changed
    /// in code after loading are checked again here: `max_in_flight = 0` would refuse every
    /// call), or `server.tls` when a PEM file cannot be read or parsed, or this build has no
    /// TLS.
    pub fn server_config(&self) -> Result<ServerConfig, ConfigError> {
        self.check().map_err(ConfigError::from)?;
        let mut config = ServerConfig {
            limits: self.limits.limits(),
            max_in_flight: self.max_in_flight,
            first_frame_timeout: self.first_frame_timeout,
            default_deadline: self.default_deadline,
            max_deadline: self.max_deadline,
            default_stream_deadline: self.default_stream_deadline,
            heartbeat: self.heartbeat.config(),
            compression_threshold: self.compression_threshold,
            response_compression: self.response_compression.id(),
            write_queue: self.write_queue,
            shutdown_grace: self.shutdown_grace,
            max_junk_frames: self.max_junk_frames,
            max_cancel_debt: self.max_cancel_debt,
            max_connections: self.max_connections,
            stream_window: self.stream_window,
            inline_calls: self.inline_calls,
            ..ServerConfig::default()
        };
        if let Some(tls) = &self.tls {
            config.transport.server_tls = Some(crate::tls::server(tls, "server.tls")?);
        }
        Ok(config)
    }

    /// A server builder with these settings; add services and call `serve(&settings.listen)`.
    ///
    /// # Errors
    /// As [`ServerSettings::server_config`].
    ///
    /// Its admission hooks (auth, ACL, rate limits, concurrency caps, the adaptive limit),
    /// workers, slow-call log and health setting are applied; to keep handles on the hooks
    /// (to change a rate live), build them with [`ServerSettings::governance`] and use
    /// [`ServerSettings::plain_builder`].
    pub fn builder(&self) -> Result<ServerBuilder, ConfigError> {
        Ok(self.governance()?.apply(self.plain_builder()?))
    }

    /// A server builder with these settings' `ServerConfig` only: no hooks.
    ///
    /// # Errors
    /// As [`ServerSettings::server_config`].
    pub fn plain_builder(&self) -> Result<ServerBuilder, ConfigError> {
        Ok(erpc_core::Server::builder().config(self.server_config()?))
    }
}
