//! Spans that never reached the exporter, counted and said: OpenTelemetry's batch processor
//! drops a span that ends while its queue is full (so that no call waits on the exporter),
//! and says so only through its own internal logs, off in erpc's build. Every span ended is
//! counted here as it enters the processor, and every span handed to the exporter as a batch
//! leaves it; the difference, less what may still be queued, was dropped.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

/// Spans in and out of the batch processor, shared by [`Counted`] (in) and the exporter
/// (out: `export_report::Reported`).
#[derive(Debug)]
pub(crate) struct Tally {
    ended: AtomicU64,
    handed: AtomicU64,
    /// Dropped spans already reported, and when last.
    reported: Mutex<(u64, Option<Instant>)>,
    endpoint: String,
    max_queue: u64,
    every: Duration,
}

impl Tally {
    pub(crate) fn new(endpoint: String, max_queue: usize, every: Duration) -> Arc<Tally> {
        Arc::new(Tally {
            ended: AtomicU64::new(0),
            handed: AtomicU64::new(0),
            reported: Mutex::new((0, None)),
            endpoint,
            max_queue: max_queue as u64,
            every,
        })
    }

    /// `spans` were handed to the exporter (whatever the export's outcome); with the queue
    /// this far behind, some were dropped: said at most once per interval.
    pub(crate) fn handed(&self, spans: usize) {
        let handed = self.handed.fetch_add(spans as u64, Ordering::Relaxed) + spans as u64;
        let ended = self.ended.load(Ordering::Relaxed);
        // At most `max_queue` may still be waiting: anything beyond was dropped.
        let dropped = ended.saturating_sub(handed).saturating_sub(self.max_queue);
        self.report(dropped, false);
    }

    /// Report the spans dropped so far (`dropped`, a total) beyond those already reported:
    /// rate-limited, unless `last` (shutdown: everything still unsaid).
    fn report(&self, dropped: u64, last: bool) {
        let mut reported = self
            .reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (before, at) = *reported;
        if dropped <= before || (!last && at.is_some_and(|at| at.elapsed() < self.every)) {
            return;
        }
        *reported = (dropped, Some(Instant::now()));
        drop(reported);
        let new = dropped - before;
        if last {
            tracing::warn!(
                endpoint = %self.endpoint,
                spans = new,
                "{new} span{} ended but never reached the OTLP exporter of {}: dropped while its \
                 queue of {} was full, or still queued when shutdown ended",
                if new == 1 { "" } else { "s" },
                self.endpoint,
                self.max_queue,
            );
        } else {
            tracing::warn!(
                endpoint = %self.endpoint,
                spans = new,
                "at least {new} span{} dropped since the last report: the OTLP export queue of \
                 {} was full (the collector at {} is slow or down, or spans end faster than \
                 they are exported: raise max_queue_size or lower sample_ratio)",
                if new == 1 { "" } else { "s" },
                self.max_queue,
                self.endpoint,
            );
        }
    }
}

/// `inner` (the batch processor), with the spans entering it counted in `tally`.
#[derive(Debug)]
pub(crate) struct Counted<P> {
    pub inner: P,
    pub tally: Arc<Tally>,
}

impl<P: SpanProcessor> SpanProcessor for Counted<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.tally.ended.fetch_add(1, Ordering::Relaxed);
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let result = self.inner.shutdown_with_timeout(timeout);
        // The queue is drained, or abandoned at the timeout: every span not handed over is
        // lost now.
        let t = &self.tally;
        let lost = t
            .ended
            .load(Ordering::Relaxed)
            .saturating_sub(t.handed.load(Ordering::Relaxed));
        t.report(lost, true);
        result
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
