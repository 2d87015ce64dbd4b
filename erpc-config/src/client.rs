//! `client:` — a client's settings.

use std::path::PathBuf;
use std::time::Duration;

use erpc_core::{ClientBuilder, ClientConfig};
use serde::Deserialize;

use crate::auth::CredentialsSettings;
use crate::balancer::BalancerSettings;
use crate::breaker::BreakersSettings;
use crate::common::{CodecName, CompressionName, HeartbeatSettings, LimitsSettings, check_window};
use crate::discovery::DiscoverySettings;
use crate::error::ConfigError;
use crate::fail_mode::{FailModeSettings, RetryBackoffSettings, RetryBudgetSettings};
use crate::per_method::PerMethodSettings;
use crate::rate::RateSettings;

/// A client's settings: every field of `erpc_core::ClientConfig` and the address it calls.
/// Every field has the default `ClientConfig` has; durations as `"10s"`, `"250ms"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientSettings {
    /// The server's address (`tcp://host:port`, any transport). Default none: give it
    /// here or to `ClientBuilder::build`.
    pub target: Option<String>,
    /// Connections opened to the server. Default 1.
    pub connections: usize,
    /// Deadline of a unary or oneway call that sets none. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Deadline of a stream that sets none. Default none.
    #[serde(with = "humantime_serde")]
    pub stream_timeout: Option<Duration>,
    /// Codec of calls that name none: `msgpack` (default), `json`, `protobuf`, `raw`.
    pub codec: CodecName,
    /// Compression of calls that name none: `none` (default), `gzip`, `zlib`, `zstd`.
    pub compression: CompressionName,
    /// Smaller request bodies go uncompressed. Default 1024 (bytes).
    pub compression_threshold: usize,
    /// Give up connecting after this long. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Redial backoff: `initial` (default `100ms`) growing to at most `max` (default `5s`, at
    /// most `1h`).
    pub backoff: BackoffSettings,
    /// Calls one connection carries at once; more wait. Default 1,024.
    pub max_concurrent_calls: usize,
    /// Per-stream receive window in bytes, at least 262144 (the default).
    pub stream_window: u32,
    /// Frames queued per connection's writer. Default 4,096.
    pub write_queue: usize,
    /// Frames the protocol does not allow, per heartbeat interval, before the connection is
    /// dropped. Default 1,000.
    pub max_junk_frames: u32,
    /// Liveness checking.
    pub heartbeat: HeartbeatSettings,
    /// Sizes accepted from the server.
    pub limits: LimitsSettings,
    /// The CA to trust for tls://, wss://, quic://, and an identity for mutual TLS.
    pub tls: Option<ClientTlsSettings>,
    /// A service and where its instances are listed, instead of `target`. Default none.
    pub discovery: Option<DiscoverySettings>,
    /// How a discovering client picks an instance per call. Default `round_robin`.
    pub balancer: BalancerSettings,
    /// With `discovery.centers`: follow the service's routing rules, the centers' config
    /// entry `erpc/routes/<service>` (CENTER.md "Routing rules"; `ClientBuilder::routes`),
    /// the caller's place being the `nearest` balancer's `dc` and `zone` if set. `false`:
    /// calls go to any instance of the discovery subset, whatever the rules. Default `true`.
    pub routes: bool,
    /// What a failed call does, per method. Default `failfast` (no retry).
    pub fail_mode: PerMethodSettings<FailModeSettings>,
    /// Which methods may be resent after being sent (untyped calls; typed calls of an
    /// `#[idempotent]` method say so themselves). Default none.
    pub idempotent: PerMethodSettings<bool>,
    /// Retries and hedges allowed: a share of calls plus a floor per second.
    pub retry_budget: RetryBudgetSettings,
    /// The wait before a retry. Default `10ms` growing to `1s`, full jitter.
    pub retry_backoff: RetryBackoffSettings,
    /// Circuit breakers per instance and per method. Default none.
    pub breaker: BreakersSettings,
    /// Rate limits on this client's calls, per method (`null`: none). Default none.
    pub rate_limit: PerMethodSettings<Option<RateSettings>>,
    /// Build the rate limiter and the method breakers even when `rate_limit` and
    /// `breaker.method` set none, so that live config (`client.rate_limit`,
    /// `client.breaker.method`) can add them later: a program builds its layers once, and one
    /// it did not build cannot be changed live. Costs two layers per call while none is set.
    /// Default false.
    pub live_layers: bool,
    /// A cap on this client's calls in flight. Default none.
    pub max_in_flight: Option<InFlightSettings>,
    /// A bearer token sent on every call, from a file. Default none.
    pub credentials: Option<CredentialsSettings>,
    /// Where these settings were loaded from, for the errors of
    /// [`ClientSettings::check_service`]; not a key of the file. Default: made in code.
    #[serde(skip)]
    pub origin: crate::Origin,
}

/// `client.max_in_flight:` — at most `limit` calls in flight; over it a call waits up to
/// `max_wait` for a slot, else fails `resource_exhausted` unsent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InFlightSettings {
    /// Calls in flight at most (at least 1).
    pub limit: usize,
    /// How long a call over the cap waits for a slot, at most `1h`. Default `0s`: fails at
    /// once.
    #[serde(default, with = "humantime_serde")]
    pub max_wait: Option<Duration>,
}

/// `client.backoff:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffSettings {
    /// The first wait's floor. Default `100ms`.
    #[serde(with = "humantime_serde")]
    pub initial: Duration,
    /// The ceiling (at most `1h`). Default `5s`.
    #[serde(with = "humantime_serde")]
    pub max: Duration,
}

impl Default for BackoffSettings {
    fn default() -> Self {
        let d = ClientConfig::default();
        BackoffSettings {
            initial: d.backoff_initial,
            max: d.backoff_max,
        }
    }
}

/// `client.tls:` — PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTlsSettings {
    /// The CA the server's certificate must chain to (PEM).
    pub ca: PathBuf,
    /// A client certificate chain (PEM), for mutual TLS; with `key`.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
    /// The name to verify the server's certificate against, if not the address's host.
    pub server_name: Option<String>,
}

impl ClientTlsSettings {
    /// `cert` and `key` go together; `at` is where these settings are (`client.tls`).
    pub(crate) fn check(&self, at: &str) -> Result<(), (String, String)> {
        if self.cert.is_some() != self.key.is_some() {
            return Err((
                at.to_owned(),
                "cert and key go together: give both or neither".into(),
            ));
        }
        Ok(())
    }

    /// The transport's client TLS these files describe (read now); errors name the keys
    /// under `at` (`client.discovery.tls.ca`).
    ///
    /// # Errors
    /// [`ConfigError::Key`] for a file that cannot be read or holds no usable PEM.
    pub fn client_tls(&self, at: &str) -> Result<erpc_transport::tls::ClientTls, ConfigError> {
        crate::tls::client(self, at)
    }
}

impl Default for ClientSettings {
    fn default() -> Self {
        let d = ClientConfig::default();
        ClientSettings {
            target: None,
            connections: d.connections,
            timeout: d.timeout,
            stream_timeout: d.stream_timeout,
            codec: CodecName::Msgpack,
            compression: CompressionName::None,
            compression_threshold: d.compression_threshold,
            connect_timeout: d.connect_timeout,
            backoff: BackoffSettings::default(),
            max_concurrent_calls: d.max_concurrent_calls,
            stream_window: d.stream_window,
            write_queue: d.write_queue,
            max_junk_frames: d.max_junk_frames,
            heartbeat: HeartbeatSettings::default(),
            limits: LimitsSettings::default(),
            tls: None,
            discovery: None,
            balancer: BalancerSettings::default(),
            routes: true,
            fail_mode: PerMethodSettings::default(),
            idempotent: PerMethodSettings::default(),
            retry_budget: RetryBudgetSettings::default(),
            retry_backoff: RetryBackoffSettings::default(),
            breaker: BreakersSettings::default(),
            rate_limit: PerMethodSettings::default(),
            live_layers: false,
            max_in_flight: None,
            credentials: None,
            origin: Default::default(),
        }
    }
}

impl ClientSettings {
    /// Values that parse but cannot work, under `at` (`client`, or `clients.NAME`).
    pub(crate) fn check(&self, at: &str) -> Result<(), (String, String)> {
        if let Some(target) = &self.target {
            if let Err(e) = erpc_core::IntoAddress::into_address(target.as_str()) {
                return Err((format!("{at}.target"), format!("{target:?}: {e}")));
            }
        }
        for (key, zero) in [
            ("connections", self.connections == 0),
            ("timeout", self.timeout.is_zero()),
            ("connect_timeout", self.connect_timeout.is_zero()),
            ("max_concurrent_calls", self.max_concurrent_calls == 0),
            ("write_queue", self.write_queue == 0),
        ] {
            if zero {
                return Err((format!("{at}.{key}"), "must be above zero".into()));
            }
        }
        if self.stream_timeout.is_some_and(|t| t.is_zero()) {
            return Err((format!("{at}.stream_timeout"), "must be above zero".into()));
        }
        erpc_core::config::at_most_a_day("connect_timeout", self.connect_timeout)
            .map_err(|(key, why)| (format!("{at}.{key}"), why))?;
        if self.backoff.initial > self.backoff.max {
            let (key, max) = (format!("{at}.backoff.initial"), format!("{at}.backoff.max"));
            let reason = format!(
                "{} is above {max} {}",
                crate::error::valued(&key, humantime::format_duration(self.backoff.initial)),
                crate::error::valued(&max, humantime::format_duration(self.backoff.max))
            );
            return Err((key, reason));
        }
        // The code's rule (`ClientBuilder::backoff` refuses the same): `max` at most 1h.
        erpc_core::config::check_backoff(self.backoff.initial, self.backoff.max)
            .map_err(|(setting, why)| (format!("{at}.{setting}"), why))?;
        if let Some(tls) = &self.tls {
            tls.check(&format!("{at}.tls"))?;
        }
        check_window(self.stream_window, &format!("{at}.stream_window"))?;
        self.heartbeat.check(&format!("{at}.heartbeat"))?;
        self.limits.check(&format!("{at}.limits"))?;
        self.check_governance(at)
    }

    /// The `ClientConfig` these settings describe (TLS files read).
    ///
    /// # Errors
    /// [`ConfigError::Key`] naming the key of a value the load would refuse (settings changed
    /// in code after loading are checked again here), or the TLS key whose file cannot be
    /// read or parsed.
    pub fn client_config(&self) -> Result<ClientConfig, ConfigError> {
        self.check(self.origin.key_or("client"))
            .map_err(ConfigError::from)?;
        let mut config = ClientConfig {
            connections: self.connections,
            timeout: self.timeout,
            stream_timeout: self.stream_timeout,
            codec: self.codec.id(),
            compression: self.compression.id(),
            compression_threshold: self.compression_threshold,
            limits: self.limits.limits(),
            heartbeat: self.heartbeat.config(),
            connect_timeout: self.connect_timeout,
            backoff_initial: self.backoff.initial,
            backoff_max: self.backoff.max,
            write_queue: self.write_queue,
            max_concurrent_calls: self.max_concurrent_calls,
            max_junk_frames: self.max_junk_frames,
            stream_window: self.stream_window,
            ..ClientConfig::default()
        };
        if let Some(tls) = &self.tls {
            config.transport.client_tls = Some(crate::tls::client(tls, "client.tls")?);
        }
        Ok(config)
    }

    /// A client builder with these settings; `build(target)` or `connect(target)` it.
    ///
    /// # Errors
    /// As [`ClientSettings::client_config`].
    /// The layers it configures (rate limits, breakers, fail modes, the in-flight cap) are
    /// added; to keep handles on them (to read a breaker's state, or change a rate live),
    /// build them with [`ClientSettings::governance`] and use
    /// [`ClientSettings::plain_builder`].
    pub fn builder(&self) -> Result<ClientBuilder, ConfigError> {
        Ok(self.governance()?.apply(self.plain_builder()?))
    }

    /// A client builder with these settings' `ClientConfig` only: no layers.
    ///
    /// # Errors
    /// As [`ClientSettings::client_config`].
    pub fn plain_builder(&self) -> Result<ClientBuilder, ConfigError> {
        Ok(erpc_core::Client::builder().config(self.client_config()?))
    }
}
