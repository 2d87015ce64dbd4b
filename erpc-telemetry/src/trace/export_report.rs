//! Failed span exports, reported: the OTLP exporter's own error (the one OpenTelemetry's SDK
//! logs as `BatchSpanProcessor.ExportError` when its `internal-logs` feature is on) as a WARN,
//! at most once per interval per cause, with the batches and spans lost since the last report.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Causes tracked apart at most; the failures of any more are counted together.
const MAX_CAUSES: usize = 16;

/// `inner` (the library's exporter, which does the sending), with its failures reported.
///
/// Why not the SDK's own report (`internal-logs`)? It logs every failed batch at ERROR — one
/// every export interval while a collector is down, twelve a minute at the default 5 s — and
/// says neither how many spans were lost nor when it works again; and it is off in erpc's
/// build. The error reported here is the same one, taken from the exporter's result.
#[derive(Debug)]
pub(crate) struct Reported<E> {
    inner: E,
    endpoint: String,
    /// The least time between two WARN lines of one cause.
    every: Duration,
    failures: Mutex<Failures>,
    /// Spans in and out of the batch processor: each batch handed here is counted out.
    tally: Option<std::sync::Arc<super::dropped::Tally>>,
}

#[derive(Debug, Default)]
struct Failures {
    causes: Vec<Cause>,
    /// A WARN was logged since the last success (or the start): the next success says
    /// export works again.
    warned: bool,
}

#[derive(Debug)]
struct Cause {
    /// The exporter's error, as displayed (deterministic text: the gRPC code and, for a
    /// local failure such as a refused connection, its source chain).
    text: String,
    last_warned: Option<Instant>,
    /// Lost and not yet reported.
    batches: u64,
    spans: u64,
}

impl<E> Reported<E> {
    pub(crate) fn new(inner: E, endpoint: String, every: Duration) -> Self {
        Reported {
            inner,
            endpoint,
            every,
            failures: Mutex::new(Failures::default()),
            tally: None,
        }
    }

    /// Count each batch handed to the exporter out of `tally`.
    pub(crate) fn counting(mut self, tally: std::sync::Arc<super::dropped::Tally>) -> Self {
        self.tally = Some(tally);
        self
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, Failures> {
        // A panic while counting leaves counts at worst stale: keep going.
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn failed(&self, error: String, spans: usize, now: Instant) {
        let mut failures = self.failures();
        let index = match failures.causes.iter().position(|c| c.text == error) {
            Some(index) => index,
            None if failures.causes.len() < MAX_CAUSES => {
                failures.causes.push(Cause {
                    text: error,
                    last_warned: None,
                    batches: 0,
                    spans: 0,
                });
                failures.causes.len() - 1
            }
            // Beyond, counted with the last cause tracked (its text stays, its counts say
            // what was lost).
            None => MAX_CAUSES - 1,
        };
        let cause = &mut failures.causes[index];
        cause.batches += 1;
        cause.spans += spans as u64;
        if cause
            .last_warned
            .is_some_and(|at| now.duration_since(at) < self.every)
        {
            return;
        }
        let (batches, spans) = (cause.batches, cause.spans);
        cause.batches = 0;
        cause.spans = 0;
        cause.last_warned = Some(now);
        let text = cause.text.clone();
        failures.warned = true;
        drop(failures);
        tracing::warn!(
            endpoint = %self.endpoint,
            error = %text,
            batches,
            spans,
            "OTLP span export to {} failed: {text}; {} lost since the last report \
             (this cause is reported at most once per {:?})",
            self.endpoint,
            lost(batches, spans),
            self.every,
        );
    }

    fn succeeded(&self) {
        let mut failures = self.failures();
        if !failures.warned {
            return;
        }
        failures.warned = false;
        let (batches, spans) = take_pending(&mut failures);
        drop(failures);
        tracing::info!(
            endpoint = %self.endpoint,
            batches,
            spans,
            "OTLP span export to {} works again; {} lost since the last report",
            self.endpoint,
            lost(batches, spans),
        );
    }

    /// At shutdown: what was lost and not yet reported, so nothing goes unsaid.
    fn report_pending(&self) {
        let mut failures = self.failures();
        let causes: Vec<String> = failures
            .causes
            .iter()
            .filter(|c| c.batches > 0)
            .map(|c| c.text.clone())
            .collect();
        let (batches, spans) = take_pending(&mut failures);
        drop(failures);
        if batches == 0 {
            return;
        }
        let mut why = String::new();
        for (i, cause) in causes.iter().enumerate() {
            let _ = write!(why, "{}{cause}", if i == 0 { "" } else { "; " });
        }
        tracing::warn!(
            endpoint = %self.endpoint,
            batches,
            spans,
            "OTLP span export to {} failed until shutdown: {} lost since the last report ({why})",
            self.endpoint,
            lost(batches, spans),
        );
    }
}

/// The counts not yet reported, zeroed.
fn take_pending(failures: &mut Failures) -> (u64, u64) {
    failures.causes.iter_mut().fold((0, 0), |(b, s), c| {
        let sum = (b + c.batches, s + c.spans);
        c.batches = 0;
        c.spans = 0;
        sum
    })
}

/// An error chain rendered `outer: inner: ...` with each part said once where a layer
/// repeats the one below it: hyper's connector and its wrapper both say "tcp connect error",
/// so the exporter's text reads `transport error: tcp connect error: tcp connect error:
/// Connection refused`.
fn without_repeats(chain: &str) -> String {
    let mut out = String::with_capacity(chain.len());
    let mut last = None;
    for part in chain.split(": ") {
        if last == Some(part) {
            continue;
        }
        if last.is_some() {
            out.push_str(": ");
        }
        out.push_str(part);
        last = Some(part);
    }
    out
}

/// "1 batch (3 spans)", "2 batches (1 span)".
fn lost(batches: u64, spans: u64) -> String {
    format!(
        "{batches} batch{} ({spans} span{})",
        if batches == 1 { "" } else { "es" },
        if spans == 1 { "" } else { "s" }
    )
}

impl<E: SpanExporter> SpanExporter for Reported<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        if let Some(tally) = &self.tally {
            tally.handed(spans);
        }
        // Runs on the batch processor's own thread: a call never waits on this.
        let result = self.inner.export(batch).await;
        match &result {
            Ok(()) => self.succeeded(),
            Err(e) => self.failed(without_repeats(&e.to_string()), spans, Instant::now()),
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let result = self.inner.shutdown_with_timeout(timeout);
        self.report_pending();
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rate limit: one WARN per cause per interval, the counts of what was lost between.
    #[test]
    fn a_cause_is_counted_between_its_reports() {
        let reported = Reported::new((), "http://x:4317".into(), Duration::from_secs(60));
        let t0 = Instant::now();
        reported.failed("down".into(), 3, t0);
        let counts = |r: &Reported<()>| {
            let f = r.failures();
            f.causes
                .iter()
                .map(|c| (c.text.clone(), c.batches, c.spans))
                .collect::<Vec<_>>()
        };
        // Reported at once: nothing pending.
        assert_eq!(counts(&reported), [("down".to_owned(), 0, 0)]);
        reported.failed("down".into(), 5, t0 + Duration::from_secs(5));
        reported.failed("refused".into(), 1, t0 + Duration::from_secs(6));
        reported.failed("down".into(), 2, t0 + Duration::from_secs(10));
        // "refused" is a cause of its own, reported at once; "down" waits its minute.
        assert_eq!(
            counts(&reported),
            [("down".to_owned(), 2, 7), ("refused".to_owned(), 0, 0)]
        );
        reported.failed("down".into(), 1, t0 + Duration::from_secs(61));
        assert_eq!(counts(&reported)[0], ("down".to_owned(), 0, 0));
        reported.failed("down".into(), 4, t0 + Duration::from_secs(62));
        reported.report_pending();
        assert_eq!(counts(&reported)[0], ("down".to_owned(), 0, 0));
    }

    #[test]
    fn a_part_of_the_chain_repeated_below_itself_is_said_once() {
        assert_eq!(
            without_repeats(
                "Operation failed: TonicTracesClient export failed with gRPC code: \
                 Unavailable: transport error: tcp connect error: tcp connect error: \
                 Connection refused (os error 111)"
            ),
            "Operation failed: TonicTracesClient export failed with gRPC code: Unavailable: \
             transport error: tcp connect error: Connection refused (os error 111)"
        );
        // Only neighbours: a part said again further down stays.
        assert_eq!(without_repeats("a: b: a"), "a: b: a");
        assert_eq!(without_repeats("no chain"), "no chain");
    }

    #[test]
    fn lost_counts_read_as_english() {
        assert_eq!(lost(1, 1), "1 batch (1 span)");
        assert_eq!(lost(2, 1024), "2 batches (1024 spans)");
    }
}
