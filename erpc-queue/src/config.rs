//! The bridge's configuration: which queue, which subjects, and the static target table,
//! read from YAML with the `config` crate (QUEUE.md §5 lists every field and default).
//!
//! ```yaml
//! queue:
//!   backend: nats                  # or rabbitmq
//!   url: nats://127.0.0.1:4222     # amqp://127.0.0.1:5672/%2f for rabbitmq
//!   rabbitmq: { queue_type: quorum } # or classic (QUEUE.md §1)
//! requests: erpc.requests          # consumed, in consumer group `group`
//! group: erpc-bridge
//! dead_letter: erpc.dead
//! targets:
//!   - service: Greeter
//!     address: tcp://127.0.0.1:7000
//!     timeout_ms: 5000             # per attempt
//!     max_retries: 3               # attempts after a failure the service saw (QUEUE.md §4.4)
//!     idempotent_methods: [get]    # may run again after a timed-out attempt
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
    /// RabbitMQ's settings (`queue.rabbitmq`).
    #[serde(default)]
    pub rabbitmq: RabbitConfig,
    /// How long connecting may take, in milliseconds, the whole of it: the TCP connection,
    /// the protocol's greeting and handshake, and the setup after (NATS: the JetStream
    /// stream; RabbitMQ: the channel and publisher confirms). A server that accepts the
    /// connection and then says nothing (a stalled proxy, a half-dead broker) fails the
    /// connect after this, naming the URL, the backend and the time. Default 5,000.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

impl QueueConfig {
    /// [`QueueConfig::connect_timeout_ms`] as a duration.
    pub fn connect_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.connect_timeout_ms)
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            backend: default_backend(),
            url: None,
            stream: default_stream(),
            rabbitmq: RabbitConfig::default(),
            connect_timeout_ms: default_connect_timeout_ms(),
        }
    }
}

/// RabbitMQ's settings (`queue.rabbitmq` in YAML).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RabbitConfig {
    /// The type of the queues erpc declares for its subjects (requests, dead letters; reply
    /// queues are always classic and expiring, QUEUE.md §1). Every client and bridge of the
    /// subjects must say the same: RabbitMQ refuses to declare a queue again with another
    /// type. Default `quorum`.
    #[serde(default)]
    pub queue_type: RabbitQueueType,
}

/// What RabbitMQ queue erpc declares for a subject (QUEUE.md §1 weighs them). In YAML,
/// `quorum` or `classic`; another value is refused naming both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RabbitQueueType {
    /// `x-queue-type: quorum`: replicated over a cluster's nodes (Raft), survives the loss
    /// of a minority of them. The default.
    #[default]
    Quorum,
    /// `x-queue-type: classic`, durable: on one node's disk. Survives that node killed
    /// (messages confirmed are on disk) without an election, which a single node's quorum
    /// queue may not (it can stay without a leader: rabbitmq-server issue 10070).
    Classic,
}

/// By hand, not derived: the derived refusal reads `enum RabbitQueueType does not have
/// variant constructor fast`, which names neither the accepted values nor anything a user
/// wrote.
impl<'de> Deserialize<'de> for RabbitQueueType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        match value.as_str() {
            "quorum" => Ok(RabbitQueueType::Quorum),
            "classic" => Ok(RabbitQueueType::Classic),
            other => Err(serde::de::Error::custom(format!(
                "{other:?} is not a RabbitMQ queue type erpc declares: `quorum` (the default) or `classic`"
            ))),
        }
    }
}

impl RabbitQueueType {
    /// The value of `x-queue-type`: `quorum` or `classic`.
    pub fn as_str(self) -> &'static str {
        match self {
            RabbitQueueType::Quorum => "quorum",
            RabbitQueueType::Classic => "classic",
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
    /// Attempts after the first that reached the service and failed: `unavailable`, or a
    /// timeout (`timeout_ms`) only for a method marked idempotent (`idempotent`,
    /// `idempotent_methods`) — a timed-out attempt of any other method may have run and is
    /// the answer. An attempt that never reached the service (the dial failed) does not
    /// count: it is tried again, with backoff, until the call's deadline (QUEUE.md §4.4).
    /// Default 3.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// The first wait between attempts, in milliseconds; it doubles (with jitter: each wait
    /// is drawn between half and all of it) up to `backoff_max_ms`. Default 100.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// The longest wait between attempts, in milliseconds. Default 2,000.
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Every method of this service may run more than once: an attempt that timed out
    /// (the service may have run it) is tried again. Default false: a timed-out attempt is
    /// the answer (`deadline_exceeded`), as gRPC does for methods not marked idempotent.
    #[serde(default)]
    pub idempotent: bool,
    /// The methods of this service (by name, `double`) that may run more than once, as
    /// `idempotent` for these only. Default none.
    #[serde(default)]
    pub idempotent_methods: Vec<String>,
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
    /// NATS: a request not acked within this many milliseconds (the bridge died) is
    /// redelivered. Used when the bridge creates the group's consumer; an existing consumer
    /// keeps its own value (a WARN names both), and the bridge signals progress every half of
    /// the consumer's value as the server has it. Default 30,000.
    #[serde(default = "default_ack_wait_ms")]
    pub ack_wait_ms: u64,
    /// Requests forwarded at once, and fetched ahead at once (NATS pull batch, RabbitMQ
    /// prefetch). Default 64.
    #[serde(default = "default_concurrency")]
    pub concurrency: u16,
    /// How long a completed idempotency key is remembered, in milliseconds. Default 600,000
    /// (10 minutes). At least 1: idempotency cannot be turned off (every queued call has a
    /// key, and a redelivered request would run again without it).
    #[serde(default = "default_window_ms")]
    pub idempotency_window_ms: u64,
    /// The most keys remembered at once (the oldest are forgotten first). Default 100,000;
    /// at least 1, as for `idempotency_window_ms`.
    #[serde(default = "default_window_capacity")]
    pub idempotency_capacity: u64,
    /// The target table: at least one entry (a bridge without one could only give every
    /// request back); `service: "*"` is the entry of every service without one of its own.
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

/// What starts an environment variable overriding a field (`ERPC_BRIDGE__QUEUE__URL`).
pub const ENV_PREFIX: &str = "ERPC_BRIDGE__";

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed, or a field has the wrong shape.
    #[error("bridge configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// The fields parsed but make no sense together.
    #[error("bridge configuration: {0}")]
    Invalid(String),
    /// A field's value is refused: `field` is its path (`targets[0].timeout_ms`), `message`
    /// why. [`BridgeConfig::load`] turns it into an [`ConfigError::Invalid`] naming the file
    /// too (or the environment variable that set the field), as does
    /// [`ConfigError::in_file`].
    #[error("bridge configuration: {field}: {message}")]
    Field {
        /// The field's path, dotted, with list indexes: `targets[0].timeout_ms`.
        field: String,
        /// Why it is refused.
        message: String,
    },
}

impl ConfigError {
    /// A refusal of `field` (its path) saying `message`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Field {
            field: field.into(),
            message: message.into(),
        }
    }

    /// This error as one about the configuration read from `path`: a field's refusal then
    /// names the file and the field (`bridge.yaml: targets[0].timeout_ms: must be at least
    /// 1`). Other errors are returned as they are (they name their file already).
    pub fn in_file(self, path: &std::path::Path) -> ConfigError {
        self.located(path, &Default::default())
    }

    /// [`ConfigError::in_file`], naming instead the environment variable that set the field
    /// when one of `overrides` did (`environment: ERPC_BRIDGE__CONCURRENCY: concurrency: …`).
    fn located(
        self,
        path: &std::path::Path,
        overrides: &std::collections::HashMap<String, String>,
    ) -> ConfigError {
        let ConfigError::Field { field, message } = self else {
            return self;
        };
        let variable = format!("{ENV_PREFIX}{}", field.to_uppercase().replace('.', "__"));
        ConfigError::Invalid(if overrides.contains_key(&variable) {
            format!("environment: {variable}: {field}: {message}")
        } else {
            format!("{}: {field}: {message}", path.display())
        })
    }
}

impl BridgeConfig {
    /// Read `path` (YAML), then let `ERPC_BRIDGE__*` environment variables override fields:
    /// the prefix `ERPC_BRIDGE__`, then the field's path with `__` between levels
    /// (`ERPC_BRIDGE__REQUESTS`, `ERPC_BRIDGE__QUEUE__URL`). The double underscore after
    /// the prefix keeps the command line's own variables (`ERPC_BRIDGE_CONFIG`) out. An
    /// entry of a list (`targets`) cannot be overridden this way: such a variable is
    /// refused, naming it. Errors name the file and the field (`targets[0].timeout_ms`), or for
    /// a bad variable (an unknown field from a misspelt name, a value of the wrong shape)
    /// the variable: `environment: ERPC_BRIDGE__CONCURENCY: unknown field ...`.
    pub fn load(path: &std::path::Path) -> Result<BridgeConfig, ConfigError> {
        BridgeConfig::load_with_env(path, std::env::vars())
    }

    /// [`BridgeConfig::load`] with `vars` as the environment.
    pub fn load_with_env(
        path: &std::path::Path,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<BridgeConfig, ConfigError> {
        let in_file = |e: config::ConfigError| {
            // The `config` crate ends some messages with ` in <file>`: the file comes first.
            // (as a path relative to the working directory, so matched by its file name).
            let text = dotted(&e.to_string());
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let text = match (text.rsplit_once(" in "), name) {
                (Some((message, file)), Some(name)) if file.ends_with(&name) => message,
                _ => &text,
            };
            ConfigError::Invalid(format!("{}: {text}", path.display()))
        };
        let mut overrides = std::collections::HashMap::new();
        for (name, value) in vars {
            let Some(field) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if field.split("__").any(|part| part.parse::<usize>().is_ok()) {
                return Err(ConfigError::Invalid(format!(
                    "environment variable {name}: an entry of a list (such as targets) cannot be overridden by the environment; change it in {}",
                    path.display()
                )));
            }
            overrides.insert(format!("{ENV_PREFIX}{field}"), value);
        }
        let build = |overrides: std::collections::HashMap<String, String>| {
            config::Config::builder()
                .add_source(config::File::from(path).format(config::FileFormat::Yaml))
                .add_source(
                    config::Environment::with_prefix("ERPC_BRIDGE")
                        .prefix_separator("__")
                        .separator("__")
                        .try_parsing(true)
                        .source(Some(overrides)),
                )
                .build()?
                .try_deserialize::<BridgeConfig>()
        };
        let loaded = match build(overrides.clone()) {
            Ok(loaded) => loaded,
            // Blame the file only if it fails alone; otherwise the variable that breaks it
            // (an unknown field from a typo in a name, a value of the wrong shape).
            Err(e) if overrides.is_empty() => return Err(in_file(e)),
            Err(e) => {
                build(Default::default()).map_err(in_file)?;
                let mut names: Vec<&String> = overrides.keys().collect();
                names.sort();
                let culprit = names.iter().find_map(|name| {
                    let one = [((*name).clone(), overrides[*name].clone())];
                    build(one.into_iter().collect()).err().map(|e| (*name, e))
                });
                return Err(ConfigError::Invalid(match culprit {
                    Some((name, e)) => format!("environment: {name}: {}", dotted(&e.to_string())),
                    None => format!(
                        "environment: {}: {}",
                        names
                            .iter()
                            .map(|n| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        dotted(&e.to_string())
                    ),
                }));
            }
        };
        loaded
            .check()
            .and_then(|()| loaded.check_backend())
            .map_err(|e| e.located(path, &overrides))?;
        Ok(loaded)
    }

    /// Refuse a `queue.backend` that [`connect`](crate::connect) cannot connect to: not
    /// `nats` or `rabbitmq`, or one whose cargo feature this build lacks. Checked when a file
    /// is loaded (what `erpc-bridge` connects to), not by [`BridgeConfig::check`]: a bridge
    /// made in code may be given a queue of a backend of its own.
    fn check_backend(&self) -> Result<(), ConfigError> {
        let built: &[&str] = &[
            #[cfg(feature = "nats")]
            "nats",
            #[cfg(feature = "rabbitmq")]
            "rabbitmq",
        ];
        if built.contains(&self.queue.backend.as_str()) {
            return Ok(());
        }
        let known = ["nats", "rabbitmq"].contains(&self.queue.backend.as_str());
        Err(ConfigError::field(
            "queue.backend",
            format!(
                "{:?} is {}: this build has {}",
                self.queue.backend,
                if known {
                    "not built in (its cargo feature of erpc-queue is off)"
                } else {
                    "not a backend (`nats` or `rabbitmq`)"
                },
                if built.is_empty() {
                    "none".to_owned()
                } else {
                    built.join(", ")
                }
            ),
        ))
    }

    /// Refuse what cannot work: no target at all (the bridge could only give every request
    /// back), a target twice, an address that does not parse, zero concurrency, a
    /// dead-letter subject that is the request subject (every dead letter would be consumed
    /// as a request and dead-lettered again, without end), a zero `ack_wait_ms`, a zero
    /// idempotency window or capacity, a target with a zero timeout or a backoff whose first
    /// wait exceeds its ceiling. Each error is a [`ConfigError::Field`] naming the field's
    /// path. (A target without an address and nothing to discover it with is refused when
    /// the bridge is made.)
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.concurrency == 0 {
            return Err(ConfigError::field("concurrency", "must be at least 1"));
        }
        crate::names::check_subject("requests", &self.requests)
            .map_err(|e| ConfigError::field("requests", e))?;
        crate::names::check_subject("dead_letter", &self.dead_letter)
            .map_err(|e| ConfigError::field("dead_letter", e))?;
        crate::names::check_group(&self.group).map_err(|e| ConfigError::field("group", e))?;
        if self.dead_letter == self.requests {
            return Err(ConfigError::field(
                "dead_letter",
                format!(
                    "dead_letter and requests are both {:?}: dead letters would come back as requests without end",
                    self.requests
                ),
            ));
        }
        if self.ack_wait_ms == 0 {
            return Err(ConfigError::field("ack_wait_ms", "must be at least 1"));
        }
        for (name, value) in [
            ("idempotency_window_ms", self.idempotency_window_ms),
            ("idempotency_capacity", self.idempotency_capacity),
        ] {
            if value == 0 {
                return Err(ConfigError::field(
                    name,
                    "must be at least 1: with 0 no key is remembered, and a redelivered request runs again; idempotency cannot be turned off (lower idempotency_capacity to bound its memory, one entry per call answered within idempotency_window_ms)",
                ));
            }
        }
        if self.targets.is_empty() {
            return Err(ConfigError::field(
                "targets",
                "none: a bridge without a target gives every request back until its deadline; list the services to forward to (`- service: Greeter` with an `address`, or without one to find it through `discovery`; `service: \"*\"` matches every service)",
            ));
        }
        let mut seen = std::collections::HashMap::new();
        for (i, target) in self.targets.iter().enumerate() {
            if let Some(first) = seen.insert(target.service.as_str(), i) {
                return Err(ConfigError::field(
                    format!("targets[{i}].service"),
                    format!(
                        "service {:?} has two targets (targets[{first}] too)",
                        target.service
                    ),
                ));
            }
            if target.timeout_ms == 0 {
                return Err(ConfigError::field(
                    format!("targets[{i}].timeout_ms"),
                    "must be at least 1",
                ));
            }
            if target.backoff_ms > target.backoff_max_ms {
                return Err(ConfigError::field(
                    format!("targets[{i}].backoff_ms"),
                    format!(
                        "{} exceeds backoff_max_ms ({})",
                        target.backoff_ms, target.backoff_max_ms
                    ),
                ));
            }
            if let Some(address) = &target.address {
                erpc_core::IntoAddress::into_address(address.as_str()).map_err(|e| {
                    ConfigError::field(format!("targets[{i}].address"), format!("{address:?}: {e}"))
                })?;
            }
        }
        Ok(())
    }
}

/// `message` with each key path printed dotted: the `config` crate writes a field after a
/// list index without its dot (`targets[0]timeout_ms`); this makes it `targets[0].timeout_ms`.
fn dotted(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 8);
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == ']'
            && chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_')
        {
            out.push('.');
        }
    }
    out
}

fn default_backend() -> String {
    "nats".into()
}
fn default_connect_timeout_ms() -> u64 {
    5_000
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
        load_env(yaml, &[])
    }

    fn load_env(yaml: &str, env: &[(&str, &str)]) -> Result<BridgeConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge.yaml");
        std::fs::write(&path, yaml).unwrap();
        BridgeConfig::load_with_env(
            &path,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    const TARGET: &str = "targets:\n  - service: A\n    address: tcp://h:1\n";

    /// The command line's own variables (`ERPC_BRIDGE_CONFIG`, `ERPC_BRIDGE_LOG`) are not
    /// fields; `ERPC_BRIDGE__…` ones are.
    #[test]
    fn the_command_lines_variables_are_not_read_as_fields() {
        let config = load_env(
            TARGET,
            &[
                ("ERPC_BRIDGE_CONFIG", "/etc/erpc/bridge.yaml"),
                ("ERPC_BRIDGE_LOG", "debug"),
                ("ERPC_BRIDGE__QUEUE__URL", "nats://10.0.0.1:4222"),
                ("ERPC_BRIDGE__CONCURRENCY", "8"),
            ],
        )
        .unwrap();
        assert_eq!(config.queue.url.as_deref(), Some("nats://10.0.0.1:4222"));
        assert_eq!(config.concurrency, 8);
    }

    #[test]
    fn a_bad_environment_variable_is_named_not_the_file() {
        for (var, value) in [
            ("ERPC_BRIDGE__CONCURENCY", "3"),
            ("ERPC_BRIDGE__CONCURRENCY", "many"),
        ] {
            let err = load_env(
                TARGET,
                &[("ERPC_BRIDGE__QUEUE__URL", "nats://h:1"), (var, value)],
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(&format!("environment: {var}: ")), "{err}");
            assert!(!err.contains("bridge.yaml"), "{err}");
        }
    }

    #[test]
    fn a_list_entry_by_environment_is_refused_naming_the_variable() {
        let err = load_env(TARGET, &[("ERPC_BRIDGE__TARGETS__0__TIMEOUT_MS", "5")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ERPC_BRIDGE__TARGETS__0__TIMEOUT_MS") && err.contains("list"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_file_and_the_field_dotted() {
        let err = load("targets:\n  - service: A\n    address: tcp://h:1\n    timeout_ms: soon\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bridge.yaml"), "{err}");
        assert!(err.contains("targets[0].timeout_ms"), "{err}");
        let err = load("requets: typo\n").unwrap_err().to_string();
        assert!(
            err.contains("bridge.yaml") && err.contains("requets"),
            "{err}"
        );
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
        assert_eq!(config.queue.rabbitmq.queue_type, RabbitQueueType::Quorum);
    }

    #[test]
    fn the_rabbitmq_queue_type_is_quorum_or_classic() {
        let config = load(&format!(
            "queue:\n  backend: rabbitmq\n  rabbitmq:\n    queue_type: classic\n{TARGET}"
        ))
        .unwrap();
        assert_eq!(config.queue.rabbitmq.queue_type, RabbitQueueType::Classic);
        for bad in ["stream", "fast"] {
            let err = load(&format!(
                "queue:\n  rabbitmq:\n    queue_type: {bad}\n{TARGET}"
            ))
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("queue.rabbitmq.queue_type") && err.contains(bad),
                "{err}"
            );
            // The accepted values, not serde's wording (fu16 #3).
            assert!(
                err.contains("`quorum`") && err.contains("`classic`"),
                "{err}"
            );
            assert!(!err.contains("variant"), "{err}");
        }
    }

    /// Every refusal after parsing names the file and the field's path, as parse errors do
    /// (fu16 #3: these named neither, or only the service).
    #[test]
    fn refusals_after_parsing_name_the_file_and_the_field() {
        let cases = [
            (
                "targets:\n  - service: A\n    address: tcp://h:1\n  - service: B\n    address: tcp://h:1\n    timeout_ms: 0\n",
                "targets[1].timeout_ms: must be at least 1",
            ),
            (
                &format!("concurrency: 0\n{TARGET}"),
                "concurrency: must be at least 1",
            ),
            (
                &format!("queue:\n  backend: kafka\n{TARGET}"),
                "queue.backend: \"kafka\" is not a backend",
            ),
            (
                "targets:\n  - service: A\n    address: tcp://h:1\n    backoff_ms: 5000\n    backoff_max_ms: 100\n",
                "targets[0].backoff_ms: 5000 exceeds",
            ),
            (
                "targets:\n  - service: A\n    address: bogus://x\n",
                "targets[0].address: \"bogus://x\"",
            ),
            (
                &format!("requests: orders.new\n{TARGET}"),
                "requests: requests \"orders.new\"",
            ),
        ];
        for (yaml, says) in cases {
            let err = load(yaml).unwrap_err().to_string();
            assert!(
                err.contains(&format!("bridge.yaml: {says}")),
                "{yaml}: {err}"
            );
        }
    }

    /// A field set by the environment is blamed on its variable, not the file.
    #[test]
    fn a_refused_field_set_by_the_environment_names_the_variable() {
        let err = load_env(TARGET, &[("ERPC_BRIDGE__QUEUE__BACKEND", "kafka")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment: ERPC_BRIDGE__QUEUE__BACKEND: queue.backend: \"kafka\""),
            "{err}"
        );
        assert!(!err.contains("bridge.yaml"), "{err}");
    }

    /// A parse error names the file once (the `config` crate's own ` in <file>` dropped).
    #[test]
    fn a_parse_error_names_the_file_once() {
        let err = load("targets:\n  - service: A\n    address: tcp://h:1\n    timeout_ms: 5s\n")
            .unwrap_err()
            .to_string();
        assert_eq!(err.matches("bridge.yaml").count(), 1, "{err}");
        assert!(err.contains("targets[0].timeout_ms"), "{err}");
    }

    /// fu16 #4: configurations that start but cannot work as meant are refused, saying why.
    #[test]
    fn no_target_and_a_zero_idempotency_window_are_refused() {
        let err = load("queue:\n  url: nats://127.0.0.1:4222\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bridge.yaml: targets: none"), "{err}");
        for field in ["idempotency_window_ms", "idempotency_capacity"] {
            let err = load(&format!("{field}: 0\n{TARGET}"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("bridge.yaml: {field}: must be at least 1")),
                "{err}"
            );
            assert!(err.contains("cannot be turned off"), "{err}");
        }
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
            ("group: bad group\n", "no spaces"),
            ("requests: orders.new\n", "erpc."),
            ("dead_letter: erpc.dead letters\n", "not a valid subject"),
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
