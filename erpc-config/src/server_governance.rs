//! A server's governance from its settings — authentication, the ACL, rate limits,
//! concurrency caps and the adaptive limit as admission hooks (decided before a body is
//! decoded), workers, the slow-call log and the health service — applied to a
//! `ServerBuilder`.

use std::sync::Arc;

use erpc_core::ServerBuilder;
use erpc_core::Status;
use erpc_core::auth::Acl;
use erpc_core::server::{
    AdaptiveLimit, AdaptiveSettings, Admission, Admitted, CallHead, ConcurrencyLimit,
    MethodConcurrencyLimit, Workers,
};

use crate::error::ConfigError;
use crate::server::ServerSettings;

/// The admission hooks a server's settings configure, built: clones share their state, so
/// keep one to read it or to change a rate while the server runs. `None`: not set.
#[derive(Clone, Default)]
pub struct ServerGovernance {
    /// `auth.bearer` or `auth.jwt` (first: an unknown caller costs nothing more).
    pub authenticate: Option<Arc<dyn Admission>>,
    /// `auth.acl`.
    pub acl: Option<Acl>,
    /// `peer_rate_limit`.
    #[cfg(feature = "rate-limit")]
    pub peer_rate_limit: Option<erpc_core::server::PeerRateLimit>,
    /// `rate_limit`.
    #[cfg(feature = "rate-limit")]
    pub rate_limit: Option<erpc_core::server::RateLimit>,
    /// `method_concurrency`.
    pub method_concurrency: Option<MethodConcurrencyLimit>,
    /// `concurrency_limit`.
    pub concurrency_limit: Option<ConcurrencyLimit>,
    /// `adaptive_limit`. Like the two caps above it counts running calls: whatever the
    /// order, it is asked after the other hooks and, for a call that waits for a rate
    /// limit's turn, only once that wait is over — so neither its slot nor a call's
    /// latency includes the wait.
    pub adaptive_limit: Option<AdaptiveLimit>,
    /// `workers`, made from the settings (checked there).
    workers: Option<Workers>,
    /// `slow_call_log` and `health`, applied with the hooks.
    settings: Option<ServerSettings>,
}

impl std::fmt::Debug for ServerGovernance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerGovernance").finish_non_exhaustive()
    }
}

/// A shared hook as a hook (`ServerBuilder::admission` takes a value).
struct Shared(Arc<dyn Admission>);

impl Admission for Shared {
    fn admit(&self, call: &CallHead<'_>) -> Result<Admitted, Status> {
        self.0.admit(call)
    }

    fn refused_by(&self) -> erpc_core::observe::RefusedBy {
        self.0.refused_by()
    }

    fn counts_running(&self) -> bool {
        self.0.counts_running()
    }
}

impl ServerGovernance {
    /// `builder` with these hooks, in the order above (the caps on running calls —
    /// `method_concurrency`, `concurrency_limit`, `adaptive_limit` — are asked after the
    /// others, and after any wait for a rate limit's turn: `Admission::counts_running`),
    /// and the workers, slow-call log and health settings.
    pub fn apply(&self, mut builder: ServerBuilder) -> ServerBuilder {
        if let Some(hook) = &self.authenticate {
            builder = builder.admission(Shared(hook.clone()));
        }
        if let Some(acl) = &self.acl {
            builder = builder.admission(acl.clone());
        }
        #[cfg(feature = "rate-limit")]
        {
            if let Some(limit) = &self.peer_rate_limit {
                builder = builder.admission(limit.clone());
            }
            if let Some(limit) = &self.rate_limit {
                builder = builder.admission(limit.clone());
            }
        }
        if let Some(caps) = &self.method_concurrency {
            builder = builder.admission(caps.clone());
        }
        if let Some(cap) = &self.concurrency_limit {
            builder = builder.admission(cap.clone());
        }
        if let Some(limit) = &self.adaptive_limit {
            builder = builder.admission(limit.clone());
        }
        if let Some(settings) = &self.settings {
            builder = builder.health(settings.health);
            if let Some(workers) = &self.workers {
                builder = builder.worker_pool(workers.clone());
            }
            if let Some(threshold) = settings.slow_call_log {
                builder = builder.slow_call_log(threshold);
            }
            if let Some(registration) = &settings.registration {
                builder = builder.health_in_registry(registration.health_mode());
            }
        }
        builder
    }
}

impl ServerSettings {
    /// The governance keys' values that parse but cannot work.
    pub(crate) fn check_governance(&self) -> Result<(), (String, String)> {
        if let Some(w) = self.workers {
            if w.workers == 0 {
                return Err(("server.workers.workers".into(), "must be at least 1".into()));
            }
        }
        if self.slow_call_log.is_some_and(|t| t.is_zero()) {
            return Err((
                "server.slow_call_log".into(),
                "must be above zero (for none, write null)".into(),
            ));
        }
        self.rate_limit.check("server.rate_limit", |r, key| {
            let Some(r) = r else { return Ok(()) };
            r.check(key)?;
            #[cfg(not(feature = "rate-limit"))]
            return Err(crate::rate::unsupported(key));
            #[cfg(feature = "rate-limit")]
            Ok(())
        })?;
        if let Some(r) = &self.peer_rate_limit {
            r.check("server.peer_rate_limit")?;
            if r.max_wait.is_some() || r.max_waiting.is_some() {
                return Err((
                    "server.peer_rate_limit.max_wait".into(),
                    "peers never wait: over the rate a call is refused at once".into(),
                ));
            }
            #[cfg(not(feature = "rate-limit"))]
            return Err(crate::rate::unsupported("server.peer_rate_limit"));
        }
        if self.concurrency_limit == Some(0) {
            return Err((
                "server.concurrency_limit".into(),
                "must be at least 1 (0 would refuse every call)".into(),
            ));
        }
        self.method_concurrency
            .check("server.method_concurrency", |cap, key| match cap {
                Some(0) => Err((key.to_owned(), "must be at least 1".into())),
                _ => Ok(()),
            })?;
        if let Some(a) = &self.adaptive_limit {
            let at = "server.adaptive_limit";
            if a.min_limit == 0 {
                return Err((format!("{at}.min_limit"), "must be at least 1".into()));
            }
            let (min, max) = (format!("{at}.min_limit"), format!("{at}.max_limit"));
            if a.max_limit < a.min_limit {
                let reason = format!(
                    "{} is below {min} {}",
                    crate::error::valued(&max, a.max_limit),
                    crate::error::valued(&min, a.min_limit)
                );
                return Err((max, reason));
            }
            if !(a.min_limit..=a.max_limit).contains(&a.initial_limit) {
                let key = format!("{at}.initial_limit");
                let reason = format!(
                    "{} must be within {min} {} and {max} {}",
                    crate::error::valued(&key, a.initial_limit),
                    crate::error::valued(&min, a.min_limit),
                    crate::error::valued(&max, a.max_limit)
                );
                return Err((key, reason));
            }
            if a.window.is_zero() || a.window_calls == 0 || a.probe_every.is_zero() {
                return Err((
                    at.to_owned(),
                    "window, window_calls and probe_every must be above zero".into(),
                ));
            }
        }
        if let Some(registration) = &self.registration {
            registration.check("server.registration")?;
        }
        self.auth.check("server.auth")
    }

    /// The hooks these settings configure (see [`ServerGovernance`]); auth files are read
    /// now.
    ///
    /// # Errors
    /// [`ConfigError::Key`] naming the key whose file cannot be read or whose value a hook
    /// refuses.
    pub fn governance(&self) -> Result<ServerGovernance, ConfigError> {
        #[cfg(feature = "rate-limit")]
        let (peer_rate_limit, rate_limit) = {
            use crate::rate::refused as invalid;
            let peer = self
                .peer_rate_limit
                .map(|r| {
                    erpc_core::server::PeerRateLimit::new(r.rate())
                        .map_err(|s| invalid("server.peer_rate_limit".into(), &s))
                })
                .transpose()?;
            let per_method = if self.rate_limit.any(Option::is_some) || self.live_layers {
                let rates = self.rate_limit.to_per_method("server.rate_limit", |r, _| {
                    Ok::<_, ConfigError>(r.as_ref().map(crate::rate::RateSettings::rate))
                })?;
                Some(
                    erpc_core::server::RateLimit::per_method(rates)
                        .map_err(|s| invalid("server.rate_limit".into(), &s))?
                        .setting_name("server.rate_limit.methods"),
                )
            } else {
                None
            };
            (peer, per_method)
        };
        let refused = |key: &str, status: Status| ConfigError::Key {
            file: None,
            line: None,
            env: None,
            key: key.to_owned(),
            reason: status.message().to_owned(),
        };
        let method_concurrency = if self.method_concurrency.any(Option::is_some) {
            Some(
                MethodConcurrencyLimit::new(
                    self.method_concurrency
                        .to_per_method("server.method_concurrency", |c, _| {
                            Ok::<_, ConfigError>(*c)
                        })?,
                )
                .map_err(|s| refused("server.method_concurrency", s))?,
            )
        } else {
            None
        };
        let concurrency_limit = self
            .concurrency_limit
            .map(ConcurrencyLimit::new)
            .transpose()
            .map_err(|s| refused("server.concurrency_limit", s))?;
        let workers = self
            .workers
            .map(|w| Workers::new(w.workers, w.queue))
            .transpose()
            .map_err(|s| refused("server.workers.workers", s))?;
        Ok(ServerGovernance {
            authenticate: self.auth.authenticate()?.map(Arc::from),
            acl: self.auth.acl()?,
            #[cfg(feature = "rate-limit")]
            peer_rate_limit,
            #[cfg(feature = "rate-limit")]
            rate_limit,
            method_concurrency,
            concurrency_limit,
            adaptive_limit: self.adaptive_limit.map(|a| {
                AdaptiveLimit::new(AdaptiveSettings {
                    initial_limit: a.initial_limit,
                    min_limit: a.min_limit,
                    max_limit: a.max_limit,
                    window: a.window,
                    window_calls: a.window_calls,
                    probe_every: a.probe_every,
                })
            }),
            workers,
            settings: Some(self.clone()),
        })
    }
}
