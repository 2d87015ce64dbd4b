//! The observer that turns engine events into metric updates, and the shared cache of each
//! method's metric handles (made on its first call; no label allocation after it). The
//! engine asks for a method's handles once ([`Observer::method_observer`]: they are the
//! method's [`MethodObserver`]) and reports its calls' start and end straight to them, so a
//! call's updates are a few atomic additions with no lookup. Events that come by name
//! (stream messages, refusals, retries, and calls the engine keeps no watch for) find the
//! handles in the reporting thread's `recent` entries first, then in the shared cache (a
//! read lock and two lookups) for a thread's first events of a method.

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use erpc_core::observe::{
    BreakerChange, CallEvent, CloseReason, Direction, Finished, HedgeOutcome, MethodObserver,
    Observer, Refusal, RefusedBy, Retry, Side, WriteBatch,
};
use erpc_core::status::Code;
use erpc_core::{Address, PeerAddr};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use rustc_hash::FxHashMap;

use super::governance::MethodGovernance;
use super::histogram::LatencyHistogram;
use super::labels::{
    self, CallLabels, CodeLabels, ConnLabels, MessageLabels, ReasonLabels, SideLabel,
};
use super::{Inner, Metrics, recent};

/// The name both labels take once a side has [`Metrics::MAX_METHODS`] pairs.
pub(crate) const OTHER: &str = "_other";

/// The metric handles of one side's method, made on its first event.
pub(crate) struct MethodMetrics {
    pub(crate) labels: CallLabels,
    started: Counter,
    duration: LatencyHistogram,
    in_flight: Gauge,
    received_bytes: Counter,
    sent_bytes: Counter,
    /// One counter per status code, made on the code's first use (most methods only ever
    /// see a few codes, and a series that never happened is not exported).
    handled: [OnceLock<Counter>; 17],
    /// Where those are made (the family's handle, shared with [`Inner`]).
    handled_family: Family<CodeLabels, Counter>,
    /// Sent, received.
    messages: [OnceLock<Counter>; 2],
    /// Refusals, retries, hedges and waits: made on the method's first such event.
    pub(crate) governance: OnceLock<Box<MethodGovernance>>,
}

/// Per side, service, then method, so a lookup borrows the event's names as they are.
#[derive(Default)]
pub(crate) struct MethodCache {
    sides: [RwLock<Sides>; 2],
}

#[derive(Default)]
struct Sides {
    services: FxHashMap<String, FxHashMap<String, Arc<MethodMetrics>>>,
    count: usize,
}

fn side_index(side: Side) -> usize {
    match side {
        Side::Server => 0,
        Side::Client => 1,
    }
}

impl Inner {
    /// Run `f` on the metric handles of `call` on `side`.
    fn with_method<R>(
        &self,
        side: Side,
        call: &CallEvent<'_>,
        f: impl FnOnce(&Arc<MethodMetrics>) -> R,
    ) -> R {
        recent::with(self.id, side, call, || self.method(side, call), f)
    }

    /// The shared cache's handles of `call` on `side`, made on the method's first event.
    fn method(&self, side: Side, call: &CallEvent<'_>) -> Arc<MethodMetrics> {
        let slot = &self.methods.sides[side_index(side)];
        {
            let sides = slot.read().unwrap_or_else(|p| p.into_inner());
            if let Some(found) = sides
                .services
                .get(call.service)
                .and_then(|methods| methods.get(call.method))
            {
                return found.clone();
            }
        }
        let mut sides = slot.write().unwrap_or_else(|p| p.into_inner());
        let (service, method) = if sides.count >= Metrics::MAX_METHODS {
            (OTHER, OTHER)
        } else {
            (call.service, call.method)
        };
        if let Some(found) = sides
            .services
            .get(service)
            .and_then(|methods| methods.get(method))
        {
            return found.clone();
        }
        let made = Arc::new(self.make(side, service, method));
        sides
            .services
            .entry(service.to_owned())
            .or_default()
            .insert(method.to_owned(), made.clone());
        sides.count += 1;
        made
    }

    fn make(&self, side: Side, service: &str, method: &str) -> MethodMetrics {
        let labels = CallLabels {
            side: side.into(),
            service: service.to_owned(),
            method: method.to_owned(),
        };
        MethodMetrics {
            started: self.started.get_or_create(&labels).clone(),
            duration: self.duration.get_or_create(&labels).clone(),
            in_flight: self.in_flight.get_or_create(&labels).clone(),
            received_bytes: self.received_bytes.get_or_create(&labels).clone(),
            sent_bytes: self.sent_bytes.get_or_create(&labels).clone(),
            handled: Default::default(),
            handled_family: self.handled.clone(),
            messages: Default::default(),
            governance: OnceLock::new(),
            labels,
        }
    }

    fn messages<'m>(&self, m: &'m MethodMetrics, direction: Direction) -> &'m Counter {
        let i = match direction {
            Direction::Sent => 0,
            Direction::Received => 1,
        };
        m.messages[i].get_or_init(|| {
            self.messages
                .get_or_create(&MessageLabels {
                    side: m.labels.side,
                    service: m.labels.service.clone(),
                    method: m.labels.method.clone(),
                    direction: labels::direction(direction),
                })
                .clone()
        })
    }
}

impl MethodMetrics {
    /// The counter of calls that ended with `code`.
    fn handled(&self, code: Code) -> &Counter {
        self.handled[code as usize % 17].get_or_init(|| {
            self.handled_family
                .get_or_create(&CodeLabels {
                    side: self.labels.side,
                    service: self.labels.service.clone(),
                    method: self.labels.method.clone(),
                    code: code.as_str(),
                })
                .clone()
        })
    }
}

/// A method's handles are its own observer: an event of an engine that kept them
/// ([`Observer::method_observer`]) updates them with no lookup.
impl MethodObserver for MethodMetrics {
    fn call_started(&self, _call: &CallEvent<'_>) {
        self.started.inc();
        self.in_flight.inc();
    }

    fn call_finished(&self, _call: &CallEvent<'_>, finished: &Finished) {
        self.in_flight.dec();
        self.handled(finished.code).inc();
        self.duration.observe(finished.took);
        self.received_bytes.inc_by(finished.bytes_in);
        self.sent_bytes.inc_by(finished.bytes_out);
    }
}

/// [`Metrics::observer`]'s observer.
#[derive(Clone)]
pub(crate) struct MetricsObserver {
    pub(crate) inner: Arc<Inner>,
}

impl Observer for MetricsObserver {
    fn connection_opened(&self, side: Side, _peer: &PeerAddr) {
        let labels = ConnLabels { side: side.into() };
        self.inner.opened.get_or_create(&labels).inc();
        self.inner.open.get_or_create(&labels).inc();
    }

    fn connection_closed(&self, side: Side, _peer: &PeerAddr, reason: &CloseReason) {
        let side: SideLabel = side.into();
        self.inner
            .closed
            .get_or_create(&ReasonLabels {
                side,
                reason: labels::close_reason(reason),
            })
            .inc();
        self.inner.open.get_or_create(&ConnLabels { side }).dec();
    }

    fn frame_refused(&self, side: Side, _peer: &PeerAddr, refusal: Refusal) {
        self.inner
            .refused
            .get_or_create(&ReasonLabels {
                side: side.into(),
                reason: labels::refusal(refusal),
            })
            .inc();
    }

    fn call_started(&self, side: Side, call: &CallEvent<'_>) {
        self.inner
            .with_method(side, call, |m| MethodObserver::call_started(&**m, call));
    }

    fn call_finished(&self, side: Side, call: &CallEvent<'_>, finished: &Finished) {
        self.inner.with_method(side, call, |m| {
            MethodObserver::call_finished(&**m, call, finished)
        });
    }

    fn method_observer(
        &self,
        side: Side,
        service: &str,
        method: &str,
    ) -> Option<Arc<dyn MethodObserver>> {
        let call = CallEvent {
            service,
            method,
            stream: false,
        };
        let found = self.inner.with_method(side, &call, |m| m.clone());
        Some(found)
    }

    fn stream_message(&self, side: Side, call: &CallEvent<'_>, direction: Direction, _: usize) {
        let inner = &self.inner;
        inner.with_method(side, call, |m| inner.messages(m, direction).inc());
    }

    fn write_batch(&self, _side: Side, _peer: &PeerAddr, _batch: &WriteBatch) {}

    fn observes_write_batches(&self) -> bool {
        // No metric counts writes: spare each write the event and the queues' depth.
        false
    }

    fn call_refused(&self, side: Side, call: &CallEvent<'_>, by: RefusedBy) {
        let inner = &self.inner;
        inner.with_method(side, call, |m| inner.governance.refused(m, by));
    }

    fn rate_limit_waited(&self, side: Side, call: &CallEvent<'_>, waited: Duration) {
        let inner = &self.inner;
        inner.with_method(side, call, |m| inner.governance.waited(m, waited));
    }

    fn retry(&self, call: &CallEvent<'_>, retry: &Retry) {
        let inner = &self.inner;
        inner.with_method(Side::Client, call, |m| inner.governance.retry(m, retry));
    }

    fn hedge_settled(&self, call: &CallEvent<'_>, outcome: HedgeOutcome) {
        let inner = &self.inner;
        inner.with_method(Side::Client, call, |m| inner.governance.hedge(m, outcome));
    }

    fn breaker_changed(&self, change: &BreakerChange<'_>) {
        self.inner.governance.breaker(change);
    }

    fn instance_connection_opened(&self, instance: &Address) {
        self.inner.governance.instance_connection(instance, 1);
    }

    fn instance_connection_closed(&self, instance: &Address) {
        self.inner.governance.instance_connection(instance, -1);
    }

    fn instance_connect_failed(&self, instance: &Address) {
        self.inner.governance.instance_connect_failed(instance);
    }

    fn server_listening(&self, addr: &Address, listening: bool) {
        self.inner.governance.server_listening(addr, listening);
    }
}
