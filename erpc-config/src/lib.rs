//! erpc's configuration: one YAML file (and the environment) for servers, clients, the
//! center and telemetry, every option with its default, and errors that name the key, the
//! file and the line.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = erpc_config::load("config/erpc.yaml")?;
//! let server = settings
//!     .server
//!     .builder()?
//!     // .add_service(GreeterServer::new(MyGreeter))
//!     .serve(settings.server.listen.iter().map(String::as_str))
//!     .await?;
//! # drop(server); Ok(()) }
//! ```
//!
//! **Sources, later wins:** the defaults (those of `ServerConfig`, `ClientConfig`, ...), the
//! file, then environment variables named `ERPC_` + the key's path in capitals with `__`
//! between levels — `ERPC_SERVER__MAX_IN_FLIGHT=2048`, `ERPC_SERVER__HEARTBEAT__INTERVAL=5s`,
//! `ERPC_CLIENT__TARGET=tcp://10.0.0.7:7001` — then whatever the code changes in the loaded
//! structs. A list of plain values is one variable, its entries separated by commas
//! (`ERPC_SERVER__LISTEN=tcp://0.0.0.0:7001,quic://0.0.0.0:7002`, spaces after the commas
//! dropped); a list of mappings (JWT keys) and per-method keys (`methods:`, whose names have
//! dots and capitals) are set in the file only; `null` turns off what the file turned on
//! (`ERPC_TELEMETRY__TRACING__ENDPOINT=null`); `ERPC_CLIENTS__<NAME>__…` sets a key of a
//! client the file names, in lower case. An error in a variable's
//! value names the variable — also a required key missing from a mapping the variable made
//! (`ERPC_CLIENT__RATE_LIMIT__DEFAULT__BURST` without a `rate`).
//!
//! **Which variables:** those named `ERPC_` + a section (`SERVER`, `CLIENT`, `CLIENTS`,
//! `CENTER`, `TELEMETRY`) + `__`, in capitals. A variable that looks meant as a setting but
//! is not one stops the load ([`ConfigError::Variable`], naming it and the form it should
//! have): one underscore after a section (`ERPC_CLIENT_TIMEOUT`), `ERPC_<NAME>__…` whose
//! name is no section (`ERPC_SERVR__MAX_IN_FLIGHT`), a settings' name not in capitals
//! (`erpc_server__max_in_flight`). Other programs' variables are left alone: erpc-center's
//! `ERPC_CENTER_*` (one underscore), the queue bridge's `ERPC_BRIDGE__*`, and every `ERPC_*`
//! name neither starting with a section nor holding `__` (`ERPC_TOKEN`, `ERPC_DEMO_CENTER`).
//!
//! **Errors:** an unknown key, a value of the wrong type, or a value that cannot work (a zero
//! timeout, a backoff above its ceiling, a window under the protocol's) stops the load with
//! [`ConfigError`] naming the key, the file and its line, and what was expected — never a
//! silent default, and never a value rounded or cut to fit: a fraction where a whole number
//! goes (`max_in_flight: 2048.7`, in the file or a variable) is refused, as are YAML's `.nan`
//! and `.inf`, and a whole number's bounds are said as numbers (`0 to 4294967295`); a list
//! where a mapping goes is refused at its key (not read as the mapping's keys in order). `config/erpc.example.yaml` lists every key with its default.
//!
//! **Governance:** the client's discovery, balancer, fail modes, retry budget, breakers, rate
//! limits and in-flight cap, and the server's rate limits, concurrency caps, adaptive limit,
//! auth, health, workers and slow-call log are keys too; `builder()` applies them,
//! `governance()` returns them built (to keep handles), `ClientSettings::connect` builds a
//! client from the file alone. Per-method values share one shape, [`PerMethodSettings`].
//! **Telemetry** (feature `telemetry`): `settings.telemetry.start().await?` sets up logging,
//! OTLP tracing and the `/metrics` listener as the `telemetry:` section says, and returns a
//! `Telemetry` to keep; `settings.server.builder_with(&telemetry)` and
//! `settings.client.builder_with(&telemetry)` (or `connect_with`) add its metrics observer,
//! tracing layers and access log. Without the feature the section is read and checked only.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = erpc_config::load("config/erpc.yaml")?;
//! let telemetry = settings.telemetry.start().await?; // keep it until the end of main
//! let server = settings
//!     .server
//!     .builder_with(&telemetry)?
//!     // .add_service(GreeterServer::new(MyGreeter))
//!     .serve(settings.server.listen.iter().map(String::as_str))
//!     .await?;
//! let client = settings.client.connect_with(&telemetry).await?;
//! # drop((server, client, telemetry)); Ok(()) }
//! ```
//!
//! **Live:** [`parse_live`] reads a new value of a live setting (a rate limit, a breaker) as a
//! file's, for `erpc_center::live_config` to apply.

#![warn(missing_docs)]

mod auth;
mod balancer;
mod breaker;
mod center;
mod client;
mod client_governance;
mod client_methods;
mod common;
mod discovery;
mod env;
mod error;
mod fail_mode;
mod flags;
mod lists;
mod live;
mod one_of;
mod origin;
mod per_method;
mod probe;
mod rate;
mod registration;
mod server;
mod server_governance;
mod telemetry;
#[cfg(feature = "telemetry")]
mod telemetry_start;
mod tls;
mod whole_numbers;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

pub use auth::{
    AclSettings, AuthSettings, BearerSettings, CredentialsSettings, EffectName, JwtAlg,
    JwtKeySettings, JwtSettings, RuleSettings,
};
pub use balancer::{BalancerSettings, NearestSettings};
pub use breaker::{BreakerSpec, BreakersSettings, DEFAULT_MIN_CALLS, TripSettings};
pub use center::CenterSettings;
pub use client::{BackoffSettings, ClientSettings, ClientTlsSettings, InFlightSettings};
pub use client_governance::{ClientGovernance, LiveClientValue};
pub use common::{CodecName, CompressionName, HeartbeatSettings, LimitsSettings};
pub use discovery::DiscoverySettings;
/// Whether a log filter follows the rules erpc-telemetry's logging applies at start-up and
/// live (`log_filter`): for a center or a tool that checks one before it is written.
pub use erpc_telemetry::log_rules::check_filter as check_log_filter;
pub use error::ConfigError;
pub use fail_mode::{
    DelaySettings, FailModeSettings, MAX_RETRIES, RetryBackoffSettings, RetryBudgetSettings,
};
pub use live::{LIVE_KEYS, LiveValue, parse_live};
pub use origin::Origin;
pub use per_method::PerMethodSettings;
pub use rate::RateSettings;
pub use registration::{HealthModeName, RegistrationSettings};
pub use server::{AdaptiveLimitSettings, ServerSettings, ServerTlsSettings, WorkersSettings};
pub use server_governance::ServerGovernance;
pub use telemetry::{
    LogFilesSettings, LogFormatName, LoggingSettings, MetricsSettings, RotationName,
    TelemetrySettings, TracingSettings,
};
#[cfg(feature = "telemetry")]
pub use telemetry_start::Telemetry;

/// Everything one file may hold; every section is optional and defaults as its type does.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `server:`.
    pub server: ServerSettings,
    /// `client:` — the client an application uses most.
    pub client: ClientSettings,
    /// `clients:` — more clients, by a name of the application's choosing.
    pub clients: BTreeMap<String, ClientSettings>,
    /// `center:` — `erpc-center --config`.
    pub center: CenterSettings,
    /// `telemetry:`.
    pub telemetry: TelemetrySettings,
}

/// Load `path` (YAML), then the process's `ERPC_<SECTION>__*` environment variables over
/// it.
///
/// # Errors
/// [`ConfigError::File`] if the file cannot be read or is not YAML; [`ConfigError::Key`]
/// naming the key (and, for one from the file, its line) that is unknown, of the wrong type,
/// or out of range; [`ConfigError::Variable`] for a variable that looks meant as a setting
/// but would not be read (the crate's "Which variables").
pub fn load(path: impl AsRef<Path>) -> Result<Settings, ConfigError> {
    load_with_env(path, std::env::vars())
}

/// [`load`] with the environment given (tests, or variables from elsewhere).
///
/// # Errors
/// As [`load`].
pub fn load_with_env(
    path: impl AsRef<Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, ConfigError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        file: path.to_owned(),
        reason: e.to_string(),
    })?;
    let env = env::select(env)?;
    // A byte-order mark (Windows editors write one) is no part of the first key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    parse(text, path, Some(env))
}

/// `text` (YAML) read as settings from `path` (named in errors), with `env` over it, and
/// checked.
pub(crate) fn parse(
    text: &str,
    path: &Path,
    env: Option<HashMap<String, String>>,
) -> Result<Settings, ConfigError> {
    whole_numbers::check(text, path, env.as_ref())?;
    if let Some(env) = &env {
        clients_named_in_file(env, text)?;
    }
    let mut builder = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Yaml));
    if let Some(env) = env.clone() {
        // `ERPC` + `_`, levels split at `__`: the names `error::env_var` and
        // `error::env_key` write and read.
        let mut source = config::Environment::with_prefix("ERPC")
            .prefix_separator("_")
            .separator(error::ENV_SEPARATOR)
            .try_parsing(true);
        // Only the variables of list keys are split at commas (a filter's commas stay); with
        // no list key named, the `config` crate would split every value.
        let lists: Vec<String> = env.keys().filter_map(|var| list_key(var)).collect();
        if !lists.is_empty() {
            source = source.list_separator(",");
            for key in &lists {
                source = source.with_list_parse_key(key);
            }
        }
        builder = builder.add_source(source.source(Some(env)));
    }
    let read = |e| match e {
        // The text came from a string: name the file.
        config::ConfigError::FileParse { cause, .. } => {
            error::not_yaml(path, text, cause.to_string())
        }
        // A value the environment set is the variable's fault, not the file's (an
        // unknown key or a bad value in `ERPC_…` has no line in the file).
        other => error::blamed_on_env(
            error::from_config(other, Some((path, text))),
            env.as_ref(),
            text,
        ),
    };
    let mut root = builder
        .build()
        .and_then(|built| config::Source::collect(&built))
        .map(|table| config::Value::new(None, config::ValueKind::Table(table)))
        .map_err(read)?;
    // Numbers with a point or an exponent as their text: the `config` crate rounds a float
    // given where a whole number goes (`max_in_flight: 2048.7` would load as 2049), and
    // text is read as a float where one goes but refused where a whole number does.
    whole_numbers::floats_as_text(&mut root);
    // `ERPC_…=null` turns off what the file turned on (`null` as in the file).
    for (var, value) in env.iter().flatten() {
        if value.trim() == "null" {
            if let Some(key) = error::env_key(var) {
                set_null(&mut root, &key);
            }
        }
    }
    // A variable's list entries without the spaces after its commas
    // (`ERPC_SERVER__LISTEN="tcp://a:1, tcp://b:2"` is two addresses, not " tcp://b:2").
    for key in env
        .iter()
        .flat_map(|e| e.keys().filter_map(|var| list_key(var)))
    {
        trim_entries(&mut root, &key);
    }
    let read = root.clone().try_deserialize::<Settings>().map_err(read);
    let locate = |found| error::located_in(found, path, text, env.as_ref());
    if let Some(misplaced) = lists::misplaced(&root, &read, path, text) {
        return Err(locate(misplaced));
    }
    if let Some(misplaced) = flags::misplaced(&root, &read, path, text) {
        return Err(locate(misplaced));
    }
    let mut settings = read?;
    settings.check().map_err(locate)?;
    // The files the settings name (tokens, keys), read now so that an error names the
    // key's line; they are read again when the server or client is built.
    settings.check_files().map_err(|e| match e {
        ConfigError::Key {
            file: None,
            env: None,
            key,
            reason,
            ..
        } => locate((key, reason)),
        other => other,
    })?;
    // Each client knows where it came from, for the check of its per-method keys against
    // a typed client's methods (made after loading: `ClientSettings::check_service`), and
    // the telemetry, for the errors of starting it (`TelemetrySettings::start`).
    let shared: std::sync::Arc<str> = text.into();
    let env = env.map(std::sync::Arc::new);
    let origin = |at: String| Origin::file(path.to_owned(), shared.clone(), env.clone(), at);
    settings.client.origin = origin("client".into());
    for (name, client) in &mut settings.clients {
        client.origin = origin(error::key_at("clients", name));
    }
    settings.telemetry.origin = origin("telemetry".into());
    settings.center.origin = origin("center".into());
    Ok(settings)
}

/// Every `ERPC_CLIENTS__<NAME>__…` variable names a client of the file: a variable's name is
/// read in lower case, so one for a client named with capitals (`Audit`) or misspelt would
/// make a new client beside it, silently.
fn clients_named_in_file(env: &HashMap<String, String>, text: &str) -> Result<(), ConfigError> {
    let mut vars: Vec<&String> = env.keys().collect();
    vars.sort();
    for var in vars {
        let Some(key) = error::env_key(var) else {
            continue;
        };
        let mut parts = key.split('.');
        let (Some("clients"), Some(name)) = (parts.next(), parts.next()) else {
            continue;
        };
        if !error::in_yaml(text, &error::key_at("clients", name)) {
            return Err(error::in_variable(
                var,
                error::key_at("clients", name),
                format!(
                    "names client {name:?}, which the file's `clients:` does not have: a \
                     variable sets a key of a client the file names, in lower case (a \
                     variable's name is read in lower case)"
                ),
            ));
        }
    }
    Ok(())
}

/// The node at dotted `key` of `root` (if there) made null.
fn set_null(root: &mut config::Value, key: &str) {
    if let Some(node) = probe::node_at_key(root, key) {
        node.kind = config::ValueKind::Nil;
    }
}

/// The text entries of the list at dotted `key` of `root` without surrounding spaces.
fn trim_entries(root: &mut config::Value, key: &str) {
    let Some(node) = probe::node_at_key(root, key) else {
        return;
    };
    if let config::ValueKind::Array(entries) = &mut node.kind {
        for entry in entries {
            if let config::ValueKind::String(text) = &mut entry.kind {
                if text.trim() != text.as_str() {
                    *text = text.trim().to_owned();
                }
            }
        }
    }
}

/// The names of the list keys (`server.listen`, `clients.X.discovery.instances`, ...): a
/// variable setting one gives the entries separated by commas.
const LIST_NAMES: [&str; 9] = [
    "listen",
    "follow",
    "instances",
    "centers",
    "tags",
    "addrs",
    "issuers",
    "audiences",
    "failures",
];

/// The `config` crate's key (lower case, dotted) of `var` if it sets a list: its last part a
/// list's name, outside `telemetry:` (whose `metrics.listen` is one address).
fn list_key(var: &str) -> Option<String> {
    let key = error::env_key(var)?;
    let last = key.rsplit('.').next()?;
    (LIST_NAMES.contains(&last) && !key.starts_with("telemetry.")).then_some(key)
}

impl Settings {
    fn check(&self) -> Result<(), (String, String)> {
        self.server.check()?;
        self.client.check("client")?;
        for (name, client) in &self.clients {
            client.check(&format!("clients.{name}"))?;
        }
        self.center.check()?;
        self.telemetry.check()
    }

    /// The files the settings name can be read and hold what they should: the server's
    /// tokens or JWT keys, the clients' token files, the PEM files of `server.tls`,
    /// `client.tls` (and each `clients.NAME.tls`), `center.tls`, `center.follow_ca`, and the
    /// TLS to the centers
    /// (`client.discovery.tls`, `server.registration.tls`).
    fn check_files(&self) -> Result<(), ConfigError> {
        self.server.auth.check_files()?;
        if let Some(tls) = &self.server.tls {
            crate::tls::server(tls, "server.tls")?;
        }
        if let Some(tls) = self
            .server
            .registration
            .as_ref()
            .and_then(|r| r.tls.as_ref())
        {
            crate::tls::client(tls, "server.registration.tls")?;
        }
        if let Some(tls) = &self.center.tls {
            crate::tls::server(tls, "center.tls")?;
        }
        if let Some(ca) = &self.center.follow_ca {
            crate::tls::trust(ca, "center.follow_ca")?;
        }
        let clients = std::iter::once(("client".to_owned(), &self.client)).chain(
            self.clients
                .iter()
                .map(|(n, c)| (format!("clients.{n}"), c)),
        );
        for (at, client) in clients {
            if let Some(credentials) = &client.credentials {
                credentials.check_file(&format!("{at}.credentials.token_file"))?;
            }
            if let Some(tls) = &client.tls {
                crate::tls::client(tls, &format!("{at}.tls"))?;
            }
            if let Some(tls) = client.discovery.as_ref().and_then(|d| d.tls.as_ref()) {
                crate::tls::client(tls, &format!("{at}.discovery.tls"))?;
            }
        }
        Ok(())
    }
}
