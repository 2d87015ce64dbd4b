//! Governance metrics: calls refused by limits and checks, retries, hedges and rate-limit
//! waits (per method, through the method cache: a method's counters are made on its first
//! such event and borrowed after), circuit breakers (per breaker) and clients' connections
//! per instance — the last two bounded like methods are, as instances are many.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::Duration;

use erpc_core::Address;
use erpc_core::observe::{BreakerChange, BreakerScope, HedgeOutcome, RefusedBy, Retry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::Metrics;
use super::labels::{
    self, BreakerLabels, CallLabels, HedgeLabels, InstanceLabels, REFUSED_BY, RETRY_KINDS,
    RefusedLabels, RetryKindLabels, RetryLabels, ScopeLabels, TransitionLabels,
};
use super::observer::{MethodMetrics, OTHER};

/// Seconds, summed (a counter of `f64`).
type SecondsCounter = Counter<f64, AtomicU64>;

/// A method's governance counters, each made on its first use (most methods never see a
/// refusal, a retry or a hedge; a series that never happened is not exported).
#[derive(Default)]
pub(crate) struct MethodGovernance {
    /// By [`labels::refused_by`].
    refused: [OnceLock<Counter>; REFUSED_BY.len()],
    /// By [`labels::retry_kind`], then the previous attempt's code (17: no answer).
    retries: [[OnceLock<Counter>; 18]; RETRY_KINDS.len()],
    /// Refused by the retry budget, by kind.
    retries_refused: [OnceLock<Counter>; RETRY_KINDS.len()],
    /// By [`labels::hedge_outcome`].
    hedges: [OnceLock<Counter>; 3],
    /// Calls that waited for a rate limit, and the seconds they waited.
    waits: OnceLock<(Counter, SecondsCounter)>,
}

/// One instance's series: its open connections and its failed attempts to connect (both
/// made at its first event, so an instance that never connects shows 0 connections).
#[derive(Clone)]
struct InstanceSeries {
    connections: Gauge,
    connect_failures: Counter,
}

/// The governance families, and the tables that bound their breaker and instance labels.
#[derive(Default)]
pub(crate) struct Governance {
    refused: Family<RefusedLabels, Counter>,
    retries: Family<RetryLabels, Counter>,
    retries_refused: Family<RetryKindLabels, Counter>,
    hedges: Family<HedgeLabels, Counter>,
    waits: Family<CallLabels, Counter>,
    wait_seconds: Family<CallLabels, SecondsCounter>,
    breaker_state: Family<BreakerLabels, Gauge>,
    transitions: Family<TransitionLabels, Counter>,
    breakers_open: Family<ScopeLabels, Gauge>,
    connections: Family<InstanceLabels, Gauge>,
    connect_failures: Family<InstanceLabels, Counter>,
    listening: Family<InstanceLabels, Gauge>,
    /// Breakers with a state series, per scope (instance, method): at most
    /// [`Metrics::MAX_INSTANCES`] instance and [`Metrics::MAX_METHODS`] method breakers.
    breakers: Mutex<[HashMap<BreakerLabels, Gauge>; 2]>,
    /// Instances with series (connections, failed connects); past
    /// [`Metrics::MAX_INSTANCES`], `_other`.
    instances: RwLock<HashMap<String, InstanceSeries>>,
}

impl Governance {
    /// Register the families (names as in [`Metrics`]' table).
    pub(crate) fn register(&self, r: &mut Registry) {
        r.register(
            "refused_calls",
            "Calls refused by a limit or check before they ran, by reason",
            self.refused.clone(),
        );
        r.register(
            "retries",
            "Further attempts sent by a client's fail mode, by kind and the previous attempt's code",
            self.retries.clone(),
        );
        r.register(
            "retries_refused",
            "Further attempts a client's retry budget refused, by kind",
            self.retries_refused.clone(),
        );
        r.register(
            "hedges",
            "Hedged calls settled, by whose answer was taken",
            self.hedges.clone(),
        );
        r.register(
            "rate_limit_waits",
            "Calls that waited for their turn under a rate limit and then went on",
            self.waits.clone(),
        );
        r.register_with_unit(
            "rate_limit_wait",
            "Time calls waited for their turn under a rate limit",
            Unit::Seconds,
            self.wait_seconds.clone(),
        );
        r.register(
            "breaker_state",
            "A circuit breaker's state: 0 closed, 1 half-open, 2 open",
            self.breaker_state.clone(),
        );
        r.register(
            "breaker_transitions",
            "Circuit breakers' changes of state",
            self.transitions.clone(),
        );
        r.register(
            "breakers_open",
            "Circuit breakers open now",
            self.breakers_open.clone(),
        );
        r.register(
            "client_connections",
            "A client's connections open now to each instance",
            self.connections.clone(),
        );
        r.register(
            "server_listening",
            "1 for each address a server accepts connections on (server_address, as clients \
             name it), 0 once it stopped",
            self.listening.clone(),
        );
        r.register(
            "client_connect_failures",
            "A client's failed attempts to connect to each instance (refused, timed out, or no \
             answer to the first PING)",
            self.connect_failures.clone(),
        );
    }

    fn of(m: &MethodMetrics) -> &MethodGovernance {
        m.governance.get_or_init(Box::default)
    }

    /// A call of `m` was refused by `by`.
    pub(crate) fn refused(&self, m: &MethodMetrics, by: RefusedBy) {
        let i = labels::refused_by(by);
        Self::of(m).refused[i]
            .get_or_init(|| {
                self.refused
                    .get_or_create(&RefusedLabels {
                        side: m.labels.side,
                        service: m.labels.service.clone(),
                        method: m.labels.method.clone(),
                        reason: REFUSED_BY[i],
                    })
                    .clone()
            })
            .inc();
    }

    /// A call of `m` (client side) sent another attempt, or its budget refused one.
    pub(crate) fn retry(&self, m: &MethodMetrics, retry: &Retry) {
        let kind = labels::retry_kind(retry.kind);
        let g = Self::of(m);
        let counter = if retry.granted {
            let code = retry.after.map_or(17, |code| code as usize % 17);
            g.retries[kind][code].get_or_init(|| {
                let reason = retry.after.map_or(labels::NO_ANSWER, |code| code.as_str());
                self.retries
                    .get_or_create(&RetryLabels {
                        service: m.labels.service.clone(),
                        method: m.labels.method.clone(),
                        kind: RETRY_KINDS[kind],
                        reason,
                    })
                    .clone()
            })
        } else {
            g.retries_refused[kind].get_or_init(|| {
                self.retries_refused
                    .get_or_create(&RetryKindLabels {
                        service: m.labels.service.clone(),
                        method: m.labels.method.clone(),
                        kind: RETRY_KINDS[kind],
                    })
                    .clone()
            })
        };
        counter.inc();
    }

    /// A hedged call of `m` settled.
    pub(crate) fn hedge(&self, m: &MethodMetrics, outcome: HedgeOutcome) {
        let (i, outcome) = labels::hedge_outcome(outcome);
        Self::of(m).hedges[i]
            .get_or_init(|| {
                self.hedges
                    .get_or_create(&HedgeLabels {
                        service: m.labels.service.clone(),
                        method: m.labels.method.clone(),
                        outcome,
                    })
                    .clone()
            })
            .inc();
    }

    /// A call of `m` waited `waited` under a rate limit.
    pub(crate) fn waited(&self, m: &MethodMetrics, waited: Duration) {
        let (count, seconds) = Self::of(m).waits.get_or_init(|| {
            (
                self.waits.get_or_create(&m.labels).clone(),
                self.wait_seconds.get_or_create(&m.labels).clone(),
            )
        });
        count.inc();
        seconds.inc_by(waited.as_secs_f64());
    }

    /// A breaker changed state.
    pub(crate) fn breaker(&self, change: &BreakerChange<'_>) {
        let (from, _) = labels::breaker_state(change.from);
        let (to, value) = labels::breaker_state(change.to);
        let (scope, i, cap, breaker) = match change.scope {
            BreakerScope::Instance(addr) => (
                "instance",
                0,
                Metrics::MAX_INSTANCES,
                BreakerLabels {
                    scope: "instance",
                    server_address: addr.to_owned(),
                    service: String::new(),
                    method: String::new(),
                },
            ),
            BreakerScope::Method { service, method } => (
                "method",
                1,
                Metrics::MAX_METHODS,
                BreakerLabels {
                    scope: "method",
                    server_address: String::new(),
                    service: service.to_owned(),
                    method: method.to_owned(),
                },
            ),
        };
        self.transitions
            .get_or_create(&TransitionLabels { scope, from, to })
            .inc();
        let open = self.breakers_open.get_or_create(&ScopeLabels { scope });
        if to == "open" {
            open.inc();
        } else if from == "open" {
            open.dec();
        }
        let mut breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        let known = &mut breakers[i];
        // Past the bound a breaker has no state series of its own (a gauge of many
        // breakers' states would mean nothing); `breakers_open` still counts it.
        if let Some(gauge) = known.get(&breaker) {
            gauge.set(value);
        } else if known.len() < cap {
            let gauge = self.breaker_state.get_or_create(&breaker).clone();
            gauge.set(value);
            known.insert(breaker, gauge);
        }
    }

    /// A client's connection to `instance` opened (`+1`) or closed (`-1`).
    pub(crate) fn instance_connection(&self, instance: &Address, delta: i64) {
        self.instance(instance).connections.inc_by(delta);
    }

    /// A server started (`true`) or stopped accepting on `addr`.
    pub(crate) fn server_listening(&self, addr: &Address, listening: bool) {
        let labels = InstanceLabels {
            server_address: addr.to_string(),
        };
        self.listening
            .get_or_create(&labels)
            .set(i64::from(listening));
    }

    /// A client's attempt to connect to `instance` failed.
    pub(crate) fn instance_connect_failed(&self, instance: &Address) {
        self.instance(instance).connect_failures.inc();
    }

    /// `instance`'s series, made at its first event (`_other` past the bound).
    fn instance(&self, instance: &Address) -> InstanceSeries {
        let name = instance.to_string();
        let found = self
            .instances
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name)
            .cloned();
        found.unwrap_or_else(|| {
            let mut instances = self.instances.write().unwrap_or_else(|p| p.into_inner());
            let name = if instances.len() >= Metrics::MAX_INSTANCES {
                OTHER.to_owned()
            } else {
                name
            };
            instances
                .entry(name)
                .or_insert_with_key(|name| {
                    let labels = InstanceLabels {
                        server_address: name.clone(),
                    };
                    InstanceSeries {
                        connections: self.connections.get_or_create(&labels).clone(),
                        connect_failures: self.connect_failures.get_or_create(&labels).clone(),
                    }
                })
                .clone()
        })
    }
}
