//! A client's governance from its settings — rate limits, the in-flight cap, circuit
//! breakers, fail modes, the balancer and discovery — built into erpc-core's layers and
//! applied to a `ClientBuilder`, and a client connected from settings alone.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use erpc_core::client::TypedClient;

use erpc_core::client::{ClientConcurrencyLimit, FailModes, InstanceBreakers, MethodBreakers};
use erpc_core::discovery::{Discover, StaticList};
use erpc_core::{Client, ClientBuilder, Status};

use crate::auth::CredentialsSettings;
use crate::client::ClientSettings;
use crate::error::ConfigError;
use crate::live::LiveValue;
use crate::per_method::MethodKey;

/// The layers a client's settings configure, built: clones share their state, so keep one
/// to read a breaker's state or to change a rate while the client runs
/// ([`ClientRateLimit::set_rates`](erpc_core::client::ClientRateLimit::set_rates)). `None`: not set.
#[derive(Clone, Default)]
pub struct ClientGovernance {
    /// `max_in_flight` (outermost: one slot per call, across its retries).
    pub max_in_flight: Option<ClientConcurrencyLimit>,
    /// `breaker.method`.
    pub method_breakers: Option<MethodBreakers>,
    /// `fail_mode` (with `idempotent`, `retry_budget`, `retry_backoff`).
    pub fail_modes: Option<FailModes>,
    /// `rate_limit` (below the fail modes: each retry takes a turn of its own).
    #[cfg(feature = "rate-limit")]
    pub rate_limit: Option<erpc_core::client::ClientRateLimit>,
    /// `breaker.instance` (an attempt layer: one breaker per instance).
    pub instance_breakers: Option<InstanceBreakers>,
    /// `credentials`: each [`ClientGovernance::apply`] adds its own `Credentials` (its own
    /// token held) reading this file.
    pub(crate) credentials: Option<CredentialsSettings>,
    /// The services the client calls and their methods ([`ClientGovernance::calls`]),
    /// shared by clones: what a live value's method keys are checked against.
    calls: Arc<RwLock<BTreeMap<String, Vec<String>>>>,
}

/// A live value of a client's ([`ClientGovernance::parse_live`]): the value, and the method
/// keys it has that could not be checked.
#[derive(Debug)]
pub struct LiveClientValue {
    /// For the layer's `set_*` method, as [`crate::parse_live`] gives it.
    pub value: LiveValue,
    /// The `methods:` keys of the value naming a service the client was not declared to
    /// call ([`ClientGovernance::calls`]), as written: nothing says whether they match a
    /// method (a misspelt one matches none, and its setting applies to nothing).
    pub unchecked: Vec<String>,
}

impl std::fmt::Debug for ClientGovernance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientGovernance").finish_non_exhaustive()
    }
}

impl ClientGovernance {
    /// Declare that the client these layers serve calls `service`, whose methods are
    /// `methods` (a generated client's `XClient::SERVICE` and `XClient::METHODS`;
    /// [`ClientGovernance::calls_typed`] takes them from the type). A live value
    /// ([`ClientGovernance::parse_live`]) with a key naming a method `service` lacks is then
    /// refused, as [`ClientSettings::check_service`] refuses a file's. Clones share the
    /// declarations; a later one for the same service replaces the earlier.
    pub fn calls(&self, service: &str, methods: &[&str]) {
        let methods = methods.iter().map(|m| (*m).to_owned()).collect();
        self.calls
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(service.to_owned(), methods);
    }

    /// [`ClientGovernance::calls`] with the service and methods of the typed client `C`
    /// (`KvClient`); nothing for an untyped `Client`, which may call any.
    pub fn calls_typed<C: TypedClient>(&self) {
        if let Some(service) = C::SERVICE {
            self.calls(service, C::METHODS);
        }
    }

    /// A live value for this client's layers (`client.rate_limit`, `client.breaker.method`,
    /// ...), read as [`crate::parse_live`] reads it, and its `methods:` keys checked against
    /// the services declared with [`ClientGovernance::calls`]: a key naming a method a
    /// declared service lacks is refused. Keys of services not declared are handed back
    /// ([`LiveClientValue::unchecked`]) for the caller to say so.
    ///
    /// # Errors
    /// As [`crate::parse_live`]; and [`ConfigError::Key`] naming the first key of a
    /// declared service that names a method it lacks (and the methods it has).
    pub fn parse_live(
        &self,
        key: &str,
        value: &str,
        origin: &str,
    ) -> Result<LiveClientValue, ConfigError> {
        let (value, settings) = crate::live::parse_live_settings(key, value, origin)?;
        let Some((settings, depth)) = settings else {
            return Ok(LiveClientValue {
                value,
                unchecked: Vec::new(),
            });
        };
        let client = &settings.client;
        let calls = self.calls.read().unwrap_or_else(|p| p.into_inner());
        for (service, methods) in calls.iter() {
            let methods: Vec<&str> = methods.iter().map(String::as_str).collect();
            client
                .check_service(service, &methods)
                .map_err(|e| crate::live::of_value(e, depth))?;
        }
        let keys: Vec<&String> = match key {
            "client.rate_limit" => client.rate_limit.methods.keys().collect(),
            "client.breaker.method" => client.breaker.method.methods.keys().collect(),
            _ => Vec::new(),
        };
        let unchecked = keys
            .into_iter()
            .filter(|k| {
                let service = match crate::per_method::parse_key(k) {
                    Ok(MethodKey::Service(s) | MethodKey::Method(s, _)) => s,
                    Err(_) => return true,
                };
                !calls.contains_key(service)
            })
            .cloned()
            .collect();
        Ok(LiveClientValue { value, unchecked })
    }

    /// `builder` with these layers, in the order above (the first outermost).
    pub fn apply(&self, mut builder: ClientBuilder) -> ClientBuilder {
        if let Some(credentials) = &self.credentials {
            builder = builder.middleware(credentials.credentials());
        }
        if let Some(cap) = &self.max_in_flight {
            builder = builder.layer(cap.clone());
        }
        if let Some(breakers) = &self.method_breakers {
            builder = builder.layer(breakers.clone());
        }
        if let Some(modes) = &self.fail_modes {
            builder = builder.layer(modes.clone());
        }
        #[cfg(feature = "rate-limit")]
        if let Some(limit) = &self.rate_limit {
            builder = builder.layer(limit.clone());
        }
        if let Some(breakers) = &self.instance_breakers {
            builder = builder.attempt_layer(breakers.clone());
        }
        builder
    }
}

impl ClientSettings {
    /// The governance keys' values that parse but cannot work, under `at`.
    pub(crate) fn check_governance(&self, at: &str) -> Result<(), (String, String)> {
        if let Some(discovery) = &self.discovery {
            discovery.check(&format!("{at}.discovery"))?;
            if self.target.is_some() {
                return Err((
                    format!("{at}.target"),
                    "give target (one address) or discovery (a service), not both".into(),
                ));
            }
        }
        self.balancer.check(&format!("{at}.balancer"))?;
        self.fail_mode
            .check(&format!("{at}.fail_mode"), |m, key| m.check(key))?;
        self.idempotent
            .check(&format!("{at}.idempotent"), |_, _| Ok(()))?;
        self.retry_budget.check(&format!("{at}.retry_budget"))?;
        // `base` is at most `max` (below), so it is bounded too.
        crate::rate::check_wait(
            &format!("{at}.retry_backoff.max"),
            Some(self.retry_backoff.max),
            "before a retry",
        )?;
        if self.retry_backoff.base > self.retry_backoff.max {
            let (key, max) = (
                format!("{at}.retry_backoff.base"),
                format!("{at}.retry_backoff.max"),
            );
            let reason = format!(
                "{} is above {max} {}",
                crate::error::valued(&key, humantime::format_duration(self.retry_backoff.base)),
                crate::error::valued(&max, humantime::format_duration(self.retry_backoff.max))
            );
            return Err((key, reason));
        }
        self.breaker.check(&format!("{at}.breaker"))?;
        self.rate_limit
            .check(&format!("{at}.rate_limit"), |r, key| {
                let Some(r) = r else { return Ok(()) };
                r.check(key)?;
                #[cfg(not(feature = "rate-limit"))]
                return Err(crate::rate::unsupported(key));
                #[cfg(feature = "rate-limit")]
                Ok(())
            })?;
        if self.max_in_flight.is_some_and(|m| m.limit == 0) {
            return Err((
                format!("{at}.max_in_flight.limit"),
                "must be at least 1".into(),
            ));
        }
        crate::rate::check_wait(
            &format!("{at}.max_in_flight.max_wait"),
            self.max_in_flight.and_then(|m| m.max_wait),
            "for a slot",
        )
    }

    /// The layers these settings configure (see [`ClientGovernance`]).
    ///
    /// # Errors
    /// [`ConfigError::Key`] for a value the layer refuses (settings loaded with
    /// [`crate::load`] were checked already).
    pub fn governance(&self) -> Result<ClientGovernance, ConfigError> {
        let at = "client";
        let method_breakers = if self.breaker.method.any(Option::is_some) || self.live_layers {
            let settings = self
                .breaker
                .method
                .to_per_method(&format!("{at}.breaker.method"), |spec, _| {
                    Ok::<_, ConfigError>(spec.as_ref().map(|s| s.settings()))
                })?;
            Some(MethodBreakers::new(settings))
        } else {
            None
        };
        #[cfg(feature = "rate-limit")]
        let rate_limit = if self.rate_limit.any(Option::is_some) || self.live_layers {
            let key = format!("{at}.rate_limit");
            let rates = self.rate_limit.to_per_method(&key, |r, _| {
                Ok::<_, ConfigError>(r.as_ref().map(crate::rate::RateSettings::rate))
            })?;
            Some(
                erpc_core::client::ClientRateLimit::per_method(rates)
                    .map_err(|s| crate::rate::refused(key, &s))?,
            )
        } else {
            None
        };
        Ok(ClientGovernance {
            max_in_flight: self
                .max_in_flight
                .map(|m| {
                    ClientConcurrencyLimit::new(m.limit)
                        .map(|cap| cap.max_wait(m.max_wait.unwrap_or(Duration::ZERO)))
                })
                .transpose()
                .map_err(|s| ConfigError::Key {
                    file: None,
                    line: None,
                    env: None,
                    key: "client.max_in_flight.limit".into(),
                    reason: s.message().to_owned(),
                })?,
            method_breakers,
            fail_modes: crate::fail_mode::layer(
                &self.fail_mode,
                &self.idempotent,
                &self.retry_budget,
                &self.retry_backoff,
                at,
            )?,
            #[cfg(feature = "rate-limit")]
            rate_limit,
            instance_breakers: self
                .breaker
                .instance
                .as_ref()
                .map(|spec| InstanceBreakers::new(spec.settings())),
            calls: Arc::default(),
            credentials: match &self.credentials {
                Some(c) => {
                    c.check_file(&format!("{at}.credentials.token_file"))?;
                    Some(c.clone())
                }
                None => None,
            },
        })
    }

    /// A client from these settings alone: of `discovery.service` over
    /// `discovery.instances` with the balancer, or of `target` with one connection made now.
    /// Every layer configured is applied.
    ///
    /// # Errors
    /// `invalid_argument` naming the key when the settings name neither a target nor a
    /// fixed list (a registry center needs `erpc-center`'s client: its feature `config`,
    /// `erpc_center::config_client::connect`), or a value is wrong; the connection's
    /// error when the target cannot be reached.
    pub async fn connect(&self) -> Result<Client, Status> {
        let builder = self
            .builder()
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        self.connect_builder(builder).await
    }

    /// [`ClientSettings::connect`] with `builder` (from [`ClientSettings::builder`], or
    /// [`ClientSettings::plain_builder`] with a kept [`ClientGovernance`] applied).
    ///
    /// # Errors
    /// As [`ClientSettings::connect`].
    pub async fn connect_builder(&self, builder: ClientBuilder) -> Result<Client, Status> {
        match (&self.discovery, &self.target) {
            (Some(d), _) if !d.instances.is_empty() => {
                let list =
                    StaticList::addrs(d.instances.iter().map(String::as_str)).map_err(|e| {
                        Status::invalid_argument(format!("client.discovery.instances: {e}"))
                    })?;
                self.discover_builder(builder, &list).await
            }
            (Some(_), _) => Err(Status::invalid_argument(
                "client.discovery.centers: a client of registry centers is built by erpc-center (feature `config`): erpc_center::config_client::connect(&settings), or connect_builder(&settings, builder) with a builder you made (from governed_with, say)",
            )),
            (None, Some(target)) => builder.connect(target.as_str()).await,
            (None, None) => Err(Status::invalid_argument(
                "client: neither target nor discovery is set: nothing to connect to",
            )),
        }
    }

    /// A client of `discovery.service` through `registry` (any `Discover`), with the
    /// balancer, the subset and every layer configured applied to `builder`.
    ///
    /// # Errors
    /// `invalid_argument` if `discovery` is not set; the registry's error.
    pub async fn discover_builder(
        &self,
        builder: ClientBuilder,
        registry: &dyn Discover,
    ) -> Result<Client, Status> {
        let Some(discovery) = &self.discovery else {
            return Err(Status::invalid_argument(
                "client.discovery is not set: which service to discover?",
            ));
        };
        let balancer: Arc<dyn erpc_core::discovery::Balancer> = self.balancer.balancer();
        builder
            .subset(discovery.subset())
            .discover_with(registry, &discovery.service, balancer)
            .await
    }
}
