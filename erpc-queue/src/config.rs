//! The bridge's configuration: which queue, which subjects, and the static target table,
//! read from YAML with the `config` crate (QUEUE.md §5 lists every field and default).
//!
//! ```yaml
//! queue:
//!   backend: nats                  # or rabbitmq
//!   url: nats://127.0.0.1:4222     # amqp://127.0.0.1:5672/%2f for rabbitmq
//! requests: erpc.requests          # consumed, in consumer group `group`
//! group: erpc-bridge
//! dead_letter: erpc.dead
//! targets:
//!   - service: Greeter
//!     address: tcp://127.0.0.1:7000
//!     timeout_ms: 5000             # per attempt
//!     max_retries: 3               # attempts after the first, on `unavailable` or a timeout
//!     backoff_ms: 100              # first wait between attempts, doubling...
//!     backoff_max_ms: 2000         # ...up to this
//! ```

use serde::Deserialize;

/// Which queue the bridge (or a client) connects to.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// `nats` or `rabbitmq`. Default `nats`.
    #[serde(default = "default_backend")]
    pub backend: String,
    /// The server's URL. Default `nats://127.0.0.1:4222` (`amqp://127.0.0.1:5672/%2f` for
    /// rabbitmq).
    #[serde(default)]
    pub url: Option<String>,
    /// NATS: the stream holding every subject. Default `ERPC`.
    #[serde(default = "default_stream")]
    pub stream: String,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            backend: default_backend(),
            url: None,
            stream: default_stream(),
        }
    }
}

/// One service the bridge forwards to.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The erpc service name requests name (`Greeter`, `pkg.Greeter`); `*` matches every
    /// service without an entry of its own.
    pub service: String,
    /// Where it listens: any erpc address (`tcp://host:port`, `unix:///path`, ...). None:
    /// found by the service's name through `discovery` (or the registry given to
    /// [`Bridge::with_registry`](crate::Bridge::with_registry)).
    #[serde(default)]
    pub address: Option<String>,
    /// Each attempt's timeout, in milliseconds (cut to what is left of the call's deadline).
    /// Default 10,000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts after the first when one fails `unavailable` or times out. Default 3.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// The first wait between attempts, in milliseconds; it doubles (with jitter: each wait
    /// is drawn between half and all of it) up to `backoff_max_ms`. Default 100.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// The longest wait between attempts, in milliseconds. Default 2,000.
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
}

/// Everything the bridge reads.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// The queue. Default: NATS on `nats://127.0.0.1:4222`.
    #[serde(default)]
    pub queue: QueueConfig,
    /// The subject (queue) requests are consumed from. Default `erpc.requests`.
    #[serde(default = "default_requests")]
    pub requests: String,
    /// The consumer group: bridges with the same group share the requests. Default
    /// `erpc-bridge`.
    #[serde(default = "default_group")]
    pub group: String,
    /// Where requests the bridge gives up on go, with the reason. Default `erpc.dead`.
    #[serde(default = "default_dead_letter")]
    pub dead_letter: String,
    /// A request not acked within this many milliseconds (the bridge died) is redelivered;
    /// while a request is being forwarded the bridge tells the queue it is still at work
    /// every half of it. Default 30,000.
    #[serde(default = "default_ack_wait_ms")]
    pub ack_wait_ms: u64,
    /// Requests forwarded at once, and fetched ahead at once (NATS pull batch, RabbitMQ
    /// prefetch). Default 64.
    #[serde(default = "default_concurrency")]
    pub concurrency: u16,
    /// How long a completed idempotency key is remembered, in milliseconds. Default 600,000
    /// (10 minutes).
    #[serde(default = "default_window_ms")]
    pub idempotency_window_ms: u64,
    /// The most keys remembered at once (the oldest are forgotten first). Default 100,000.
    #[serde(default = "default_window_capacity")]
    pub idempotency_capacity: u64,
    /// The target table.
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    /// Where targets without an address are found. Default: nowhere.
    #[serde(default)]
    pub discovery: Option<DiscoveryConfig>,
}

/// The registry targets without an address are found through.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// The erpc-center addresses (CENTER.md); the `center` cargo feature. Another registry
    /// (etcd, ZooKeeper) is given in code with [`Bridge::with_registry`](crate::Bridge::with_registry).
    pub centers: Vec<String>,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            queue: QueueConfig::default(),
            requests: default_requests(),
            group: default_group(),
            dead_letter: default_dead_letter(),
            ack_wait_ms: default_ack_wait_ms(),
            concurrency: default_concurrency(),
            idempotency_window_ms: default_window_ms(),
            idempotency_capacity: default_window_capacity(),
            targets: Vec::new(),
            discovery: None,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed, or a field has the wrong shape.
    #[error("bridge configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// The fields parsed but make no sense together.
    #[error("bridge configuration: {0}")]
    Invalid(String),
}

impl BridgeConfig {
    /// Read `path` (YAML), then let `ERPC_BRIDGE_*` environment variables override top-level
    /// fields (`ERPC_BRIDGE_REQUESTS`, `ERPC_BRIDGE_QUEUE__URL`: `__` separates levels).
    pub fn load(path: &std::path::Path) -> Result<BridgeConfig, ConfigError> {
        let loaded: BridgeConfig = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Yaml))
            .add_source(
                config::Environment::with_prefix("ERPC_BRIDGE")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()?
            .try_deserialize()?;
        loaded.check()?;
        Ok(loaded)
    }

    /// Refuse what cannot work: a target twice, an address that does not parse, zero
    /// concurrency, a dead-letter subject that is the request subject (every dead letter
    /// would be consumed as a request and dead-lettered again, without end), a zero
    /// `ack_wait_ms`, a target with a zero timeout or a backoff whose first wait exceeds its
    /// ceiling. (A target without an address and nothing to discover it with is refused
    /// when the bridge is made.)
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.concurrency == 0 {
            return Err(ConfigError::Invalid(
                "concurrency must be at least 1".into(),
            ));
        }
        if self.dead_letter == self.requests {
            return Err(ConfigError::Invalid(format!(
                "dead_letter and requests are both {:?}: dead letters would come back as requests without end",
                self.requests
            )));
        }
        if self.ack_wait_ms == 0 {
            return Err(ConfigError::Invalid(
                "ack_wait_ms must be at least 1".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for target in &self.targets {
            if !seen.insert(target.service.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "service {:?} has two targets",
                    target.service
                )));
            }
            if target.timeout_ms == 0 {
                return Err(ConfigError::Invalid(format!(
                    "target {:?}: timeout_ms must be at least 1",
                    target.service
                )));
            }
            if target.backoff_ms > target.backoff_max_ms {
                return Err(ConfigError::Invalid(format!(
                    "target {:?}: backoff_ms ({}) exceeds backoff_max_ms ({})",
                    target.service, target.backoff_ms, target.backoff_max_ms
                )));
            }
            if let Some(address) = &target.address {
                erpc_core::IntoAddress::into_address(address.as_str()).map_err(|e| {
                    ConfigError::Invalid(format!(
                        "target {:?}: address {address:?}: {e}",
                        target.service
                    ))
                })?;
            }
        }
        Ok(())
    }
}

fn default_backend() -> String {
    "nats".into()
}
fn default_stream() -> String {
    "ERPC".into()
}
fn default_requests() -> String {
    "erpc.requests".into()
}
fn default_group() -> String {
    "erpc-bridge".into()
}
fn default_dead_letter() -> String {
    "erpc.dead".into()
}
fn default_ack_wait_ms() -> u64 {
    30_000
}
fn default_concurrency() -> u16 {
    64
}
fn default_window_ms() -> u64 {
    600_000
}
fn default_window_capacity() -> u64 {
    100_000
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_max_retries() -> u32 {
    3
}
fn default_backoff_ms() -> u64 {
    100
}
fn default_backoff_max_ms() -> u64 {
    2_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<BridgeConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge.yaml");
        std::fs::write(&path, yaml).unwrap();
        BridgeConfig::load(&path)
    }

    #[test]
    fn reads_the_documented_example_with_defaults_filled_in() {
        let config = load(
            "queue:\n  backend: nats\n  url: nats://127.0.0.1:4222\ntargets:\n  - service: pkg.Greeter\n    address: tcp://127.0.0.1:7000\n    max_retries: 1\n",
        )
        .unwrap();
        assert_eq!(config.requests, "erpc.requests");
        assert_eq!(config.targets[0].service, "pkg.Greeter", "case kept");
        assert_eq!(config.targets[0].max_retries, 1);
        assert_eq!(config.targets[0].timeout_ms, 10_000);
    }

    #[test]
    fn refuses_bad_input_naming_the_problem() {
        let cases = [
            (
                "targets:\n  - service: A\n    address: bogus://x\n",
                "bogus",
            ),
            (
                "targets:\n  - service: A\n    address: tcp://h:1\n  - service: A\n    address: tcp://h:2\n",
                "two targets",
            ),
            ("requets: typo\n", "requets"),
            ("concurrency: 0\n", "concurrency"),
            (
                "requests: erpc.loop\ndead_letter: erpc.loop\n",
                "without end",
            ),
            ("ack_wait_ms: 0\n", "ack_wait_ms"),
            (
                "targets:\n  - service: A\n    address: tcp://h:1\n    timeout_ms: 0\n",
                "timeout_ms",
            ),
            (
                "targets:\n  - service: A\n    address: tcp://h:1\n    backoff_ms: 5000\n    backoff_max_ms: 100\n",
                "exceeds backoff_max_ms",
            ),
        ];
        for (yaml, says) in cases {
            let err = load(yaml).unwrap_err().to_string();
            assert!(err.contains(says), "{yaml}: {err}");
        }
    }
}
