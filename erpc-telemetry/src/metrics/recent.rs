//! The methods each thread reported last: a call's events (started, finished, its stream
//! messages) find their method's metric handles here by comparing names — no lock, no hash,
//! no reference count — and go to the shared method cache only on a miss.
//!
//! Per thread, because a call's events are reported on the thread running its task (the
//! server's call task, the client's connection task), and threads then never share or wait
//! on a line of memory. A few entries, not one, because one thread often reports for several
//! observers or sides (a handler's own calls; client and server in one process).

use std::cell::RefCell;
use std::sync::Arc;

use erpc_core::observe::{CallEvent, Side};

use super::labels::SideLabel;
use super::observer::MethodMetrics;

/// Entries per thread.
const WAYS: usize = 4;

struct Entry {
    /// The `Metrics` they belong to ([`super::Inner`]'s id: never reused, unlike an address).
    owner: u64,
    metrics: Arc<MethodMetrics>,
}

struct Recent {
    entries: [Option<Entry>; WAYS],
    /// The entry a miss replaces next (round robin).
    next: usize,
}

thread_local! {
    static RECENT: RefCell<Recent> = const {
        RefCell::new(Recent { entries: [const { None }; WAYS], next: 0 })
    };
}

/// Run `f` on the metrics of `call` on `side` of `owner`: from this thread's entries if one
/// has the same names, else from `resolve` (the shared cache), then kept here — unless
/// `resolve` gave another method's (`_other`, past `Metrics::MAX_METHODS`), which would never
/// match by name.
pub(crate) fn with<R>(
    owner: u64,
    side: Side,
    call: &CallEvent<'_>,
    resolve: impl FnOnce() -> Arc<MethodMetrics>,
    f: impl FnOnce(&Arc<MethodMetrics>) -> R,
) -> R {
    let side = SideLabel::from(side);
    let matches = |m: &MethodMetrics| {
        m.labels.side == side && m.labels.method == call.method && m.labels.service == call.service
    };
    RECENT.with(|recent| {
        // Nothing in `f` or `resolve` reports an event, so the cache is never borrowed
        // twice; if it were, the call is simply not cached.
        let Ok(mut recent) = recent.try_borrow_mut() else {
            return f(&resolve());
        };
        if let Some(entry) = recent
            .entries
            .iter()
            .flatten()
            .find(|e| e.owner == owner && matches(&e.metrics))
        {
            return f(&entry.metrics);
        }
        let metrics = resolve();
        let result = f(&metrics);
        if matches(&metrics) {
            let slot = recent.next;
            recent.next = (slot + 1) % WAYS;
            recent.entries[slot] = Some(Entry { owner, metrics });
        }
        result
    })
}

#[cfg(test)]
mod tests {
    use erpc_core::observe::{CallEvent, Finished, Observer, Side};
    use erpc_core::status::Code;

    use crate::Metrics;

    fn finish(observer: &impl Observer, side: Side, method: &str) {
        let call = CallEvent {
            service: "S",
            method,
            stream: false,
        };
        observer.call_started(side, &call);
        observer.call_finished(
            side,
            &call,
            &Finished {
                code: Code::Ok,
                took: std::time::Duration::from_millis(1),
                bytes_in: 1,
                bytes_out: 2,
            },
        );
    }

    fn handled(metrics: &Metrics, side: &str, method: &str) -> usize {
        let series = format!(
            "erpc_calls_handled_total{{side=\"{side}\",service=\"S\",method=\"{method}\",code=\"ok\"}} "
        );
        metrics
            .encode()
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .map_or(0, |n| n.parse().expect("a count"))
    }

    #[test]
    fn each_metrics_side_and_method_counts_its_own_calls_on_one_thread() {
        let (a, b) = (Metrics::new(), Metrics::new());
        let (oa, ob) = (a.observer(), b.observer());
        // More (metrics, side, method) triples than a thread keeps, interleaved.
        for _ in 0..3 {
            for method in ["m1", "m2", "m3"] {
                finish(&oa, Side::Server, method);
                finish(&oa, Side::Client, method);
                finish(&ob, Side::Server, method);
            }
        }
        for method in ["m1", "m2", "m3"] {
            assert_eq!(handled(&a, "server", method), 3, "a server {method}");
            assert_eq!(handled(&a, "client", method), 3, "a client {method}");
            assert_eq!(handled(&b, "server", method), 3, "b server {method}");
            assert_eq!(handled(&b, "client", method), 0, "b client {method}");
        }
        // A new Metrics (perhaps where a dropped one was) starts from nothing.
        drop((oa, a));
        let c = Metrics::new();
        finish(&c.observer(), Side::Server, "m1");
        assert_eq!(handled(&c, "server", "m1"), 1);
    }
}
