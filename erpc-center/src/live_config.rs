//! Settings changed without a restart from the center's live config: rate limits and
//! circuit breakers a program built from erpc-config settings follow the center's config
//! entries under `erpc/config/<service>/`, each value checked as a file's would be. A bad
//! value is refused — logged at WARN with the key, the value and what was expected — and the
//! setting in force stays. Feature `config`.
//!
//! | key | value (YAML or JSON: the shape of the same key in a file) | changes |
//! |---|---|---|
//! | `erpc/config/<service>/client.rate_limit` | `{default: {rate: 100}, methods: {"Kv.get": {rate: 2.5}}}`; `null`: no limit | `ClientRateLimit::set_rates` |
//! | `erpc/config/<service>/server.rate_limit` | as `client.rate_limit` | `RateLimit::set_rates` |
//! | `erpc/config/<service>/client.breaker.instance` | `{trip: {consecutive: 3}, open_timeout: 10s}` | `InstanceBreakers::set_settings` |
//! | `erpc/config/<service>/client.breaker.method` | `{methods: {"Kv.put": {trip: {error_rate: 0.5}}}}`; `null`: none | `MethodBreakers::set_settings` |
//! | `erpc/config/<service>/server.weight` | `40` | the weight the server registers with (`ServerHandle::weights`) |
//! | `erpc/config/<service>/log_filter` | `info,erpc_core=debug` | erpc-telemetry's `LogGuard::follow_filter` (not this module) |
//!
//! A setting changes only a layer the program built: the file (or code) must configure a
//! rate limit or breaker for it to be changed live — a generous default is enough. A key
//! deleted from the center leaves the setting in force as it is. New breaker settings reach
//! breakers already open: the new open timeout counts from when each opened (a shorter one
//! releases it at once).
//!
//! A client's values are read by [`ClientGovernance::parse_live`]: a `methods:` key naming a
//! method that a service the client was declared to call lacks
//! ([`ClientGovernance::calls_typed`]) is refused; a key of a service not declared is
//! applied, and the line saying so is a WARN that it matches no known method.
//!
//! ```no_run
//! # async fn run(registry: erpc_center::CenterRegistry) -> Result<(), Box<dyn std::error::Error>> {
//! let settings = erpc_config::load("config/erpc.yaml")?;
//! let server = settings.server.governance()?;
//! let builder = server.apply(settings.server.plain_builder()?);
//! let targets = erpc_center::live_config::LiveTargets { server: Some(server), ..Default::default() };
//! let _follow = erpc_center::live_config::follow(&registry, "Bank", targets).await?;
//! # drop(builder); Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use erpc_config::{ClientGovernance, LiveValue, ServerGovernance};
use erpc_core::Status;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::CenterRegistry;

/// The key erpc-telemetry's `LogGuard::follow_filter` should follow, under the prefix.
pub const LOG_FILTER: &str = "log_filter";

/// Where a service's live settings are: `erpc/config/<service>/`.
pub fn prefix(service: &str) -> String {
    format!("{}{service}/", crate::service_name::LIVE_CONFIG_PREFIX)
}

/// The settings a follower applies: erpc-config's [`erpc_config::LIVE_KEYS`] (this module)
/// and [`LOG_FILTER`] (erpc-telemetry's `LogGuard::follow_filter`).
pub fn settings() -> impl Iterator<Item = &'static str> {
    erpc_config::LIVE_KEYS
        .into_iter()
        .chain(std::iter::once(LOG_FILTER))
}

/// [`check`] for a center's key: `Ok` for a key outside `erpc/config/<service>/<setting>`.
pub(crate) fn check_key(key: &str, value: &str) -> Result<(), String> {
    match key
        .strip_prefix(crate::service_name::LIVE_CONFIG_PREFIX)
        .and_then(|rest| rest.rsplit_once('/'))
    {
        Some((_, setting)) => check(setting, value, key),
        None => Ok(()),
    }
}

/// `Ok` if a follower would apply `value` as `setting`, checked by the parser followers use
/// (`erpc_config::parse_live`; for [`LOG_FILTER`], erpc-telemetry's log filter rules); else the follower's
/// message, beginning with `key` (the center's key, `erpc/config/Bank/server.rate_limit`)
/// and naming the line of the value and the key inside it that is wrong. An unknown
/// `setting` is refused, listing the known ones: a follower would refuse it too. What only
/// the program can check (a rate limit naming a method its server lacks, a setting for a
/// layer it did not build) is not checked here.
///
/// # Errors
/// The message, as above.
pub fn check(setting: &str, value: &str, key: &str) -> Result<(), String> {
    if setting == LOG_FILTER {
        return erpc_config::check_log_filter(value)
            .map_err(|reason| format!("{key}: {value:?} is not a log filter: {reason}"));
    }
    if !erpc_config::LIVE_KEYS.contains(&setting) {
        let known: Vec<&str> = settings().collect();
        return Err(format!(
            "{key}: {setting:?} is not a live setting; expected one of {}",
            known.join(" ")
        ));
    }
    erpc_config::parse_live(setting, value, key)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The layers a live configuration may change (clones of those the program applied: they
/// share their state). `None`: that side is not followed.
#[derive(Clone, Default)]
pub struct LiveTargets {
    /// The client's layers.
    pub client: Option<ClientGovernance>,
    /// The server's hooks.
    pub server: Option<ServerGovernance>,
    /// The server's registrations (`ServerHandle::weights`), for `server.weight`.
    pub weights: Option<erpc_core::server::Weights>,
}

/// Follow `service`'s live settings in the centers of `registry` (see the module docs)
/// until the returned task is aborted.
///
/// # Errors
/// The registry's, if no center answers the first listing.
pub async fn follow(
    registry: &CenterRegistry,
    service: &str,
    targets: LiveTargets,
) -> Result<JoinHandle<()>, Status> {
    let prefix = prefix(service);
    let config = registry.follow_config(&prefix).await?;
    Ok(follow_map(config, prefix, targets))
}

/// [`follow`] over any followed key-value map: entries under `prefix` are live settings.
/// Runs until the map's sender is dropped; needs a Tokio runtime.
pub fn follow_map(
    mut config: watch::Receiver<Arc<BTreeMap<String, String>>>,
    prefix: String,
    targets: LiveTargets,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        // The value last acted on per key (applied or refused): each is logged once.
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        loop {
            let entries = config.borrow_and_update().clone();
            for (full, value) in entries.iter() {
                let Some(name) = full.strip_prefix(&prefix) else {
                    continue;
                };
                if name == LOG_FILTER || seen.get(full) == Some(value) {
                    continue;
                }
                seen.insert(full.clone(), value.clone());
                if !targets.follows(name) {
                    // A program that is only a server (or only a client) of the service reads
                    // the other side's settings too: not its own, nothing to say.
                    tracing::debug!(key = %full, "live setting of a side this program does not follow");
                    continue;
                }
                match apply(&targets, name, value, full).await {
                    Ok((what, unchecked)) if unchecked.is_empty() => {
                        tracing::info!(key = %full, value = %value, "live config applied to {what}")
                    }
                    Ok((what, unchecked)) => tracing::warn!(
                        key = %full,
                        value = %value,
                        "live config applied to {what}, but {} no known method: the client was \
                         not declared to call {} (ClientGovernance::calls), so a misspelt method \
                         would match nothing",
                        keys_named(&unchecked),
                        if unchecked.len() == 1 { "its service" } else { "their services" },
                    ),
                    Err(reason) => tracing::warn!(
                        key = %full,
                        value = %value,
                        "live config refused, the setting in force stays: {reason}"
                    ),
                }
            }
            // A deleted setting changes nothing in a running program (it has no other value to
            // go back to): said, so that its log explains a value the center no longer shows.
            for (full, value) in &seen {
                let name = full.strip_prefix(&prefix).unwrap_or(full);
                if !entries.contains_key(full) && targets.follows(name) {
                    tracing::info!(
                        key = %full,
                        value = %value,
                        "live setting deleted from the center: the value in force stays until \
                         this program restarts (set the setting to change it)"
                    );
                }
            }
            seen.retain(|k, _| entries.contains_key(k));
            if config.changed().await.is_err() {
                return;
            }
        }
    })
}

impl LiveTargets {
    /// Whether this program follows the side setting `name` is for: `client.*` with a
    /// client, `server.weight` with weights, other `server.*` with a server.
    fn follows(&self, name: &str) -> bool {
        if name.starts_with("client.") {
            self.client.is_some()
        } else if name == "server.weight" {
            self.weights.is_some()
        } else if name.starts_with("server.") {
            self.server.is_some()
        } else {
            // An unknown name: let `apply` refuse it, naming the live settings.
            true
        }
    }
}

/// `"A.x" matches` / `"A.x", "B.y" match`, for the log.
fn keys_named(keys: &[String]) -> String {
    let list: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
    let verb = if keys.len() == 1 { "matches" } else { "match" };
    format!("{} {verb}", list.join(", "))
}

/// Parse `value` as the setting `name` and hand it to its layer: what was changed (and the
/// method keys of the value that could not be checked against the client's methods), or
/// why not.
async fn apply(
    targets: &LiveTargets,
    name: &str,
    value: &str,
    full: &str,
) -> Result<(&'static str, Vec<String>), String> {
    let client = targets.client.as_ref();
    // A client's value is checked against the services it was declared to call.
    let (parsed, unchecked) = match client.filter(|_| name.starts_with("client.")) {
        Some(client) => {
            let live = client
                .parse_live(name, value, full)
                .map_err(|e| e.to_string())?;
            (live.value, live.unchecked)
        }
        None => (
            erpc_config::parse_live(name, value, full).map_err(|e| e.to_string())?,
            Vec::new(),
        ),
    };
    let applied = |what: &'static str| Ok((what, unchecked.clone()));
    // A layer is built once, with the program: one it did not build cannot be added live.
    let missing = |what: &str, how: &str| {
        format!("this program has no {what} to change: it builds one only when {how}")
    };
    match parsed {
        LiveValue::ClientRateLimit(rates) => {
            let layer = client.and_then(|c| c.rate_limit.as_ref()).ok_or_else(|| {
                missing(
                    "client rate limit",
                    "its settings set client.rate_limit or client.live_layers: true",
                )
            })?;
            layer.set_rates(rates).map_err(|s| s.message().to_owned())?;
            applied("the client's rate limits")
        }
        LiveValue::ServerRateLimit(rates) => {
            let hook = targets
                .server
                .as_ref()
                .and_then(|s| s.rate_limit.as_ref())
                .ok_or_else(|| {
                    missing(
                        "server rate limit",
                        "its settings set server.rate_limit or server.live_layers: true",
                    )
                })?;
            hook.set_rates(rates).map_err(|s| s.message().to_owned())?;
            applied("the server's rate limits")
        }
        LiveValue::InstanceBreaker(settings) => {
            let layer = client
                .and_then(|c| c.instance_breakers.as_ref())
                .ok_or_else(|| {
                    missing(
                        "instance breaker",
                        "its settings set client.breaker.instance",
                    )
                })?;
            layer.set_settings(settings);
            applied("the instance breakers")
        }
        LiveValue::MethodBreakers(settings) => {
            let layer = client
                .and_then(|c| c.method_breakers.as_ref())
                .ok_or_else(|| {
                    missing(
                        "method breaker",
                        "its settings set client.breaker.method or client.live_layers: true",
                    )
                })?;
            layer.set_settings(settings);
            applied("the method breakers")
        }
        LiveValue::Weight(weight) => {
            let weights = targets.weights.as_ref().ok_or_else(|| {
                missing(
                    "server registration",
                    "it registers with a center and gives live_config its weights",
                )
            })?;
            weights.set(weight).await.map_err(|s| s.to_string())?;
            applied("the server's registered weight")
        }
    }
}
