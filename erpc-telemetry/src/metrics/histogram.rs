//! The call-duration histogram, without a lock: prometheus-client's `Histogram` takes a write
//! lock on every observation, and every thread finishing calls of one method takes the same
//! one. Here an observation is two relaxed atomic additions on one of a few shards (a thread
//! keeps to its shard), so threads seldom share a cache line and never wait; a scrape adds
//! the shards up.
//!
//! Counts are kept per bucket (not cumulative) and the count is their total, so a scrape's
//! `_count` always equals its `+Inf` bucket; `_sum` is kept in integer nanoseconds (exact,
//! one addition) and may lag the buckets by the observations being made while it reads.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Bucket upper bounds in seconds (`le`): 100 µs to 10 s, about three per decade (the range
/// an RPC's latency spans, from a loopback call to a deadline).
pub(crate) const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The same bounds in nanoseconds, for comparing without a float conversion.
const BOUNDS_NANOS: [u64; 16] = {
    let mut out = [0u64; 16];
    let mut i = 0;
    while i < 16 {
        out[i] = (LATENCY_BUCKETS[i] * 1e9) as u64;
        i += 1;
    }
    out
};

/// Shards per histogram: enough that a handful of busy runtime threads rarely share one;
/// each is two cache lines.
const SHARDS: usize = 4;

/// One shard: a count per bucket (the last is `+Inf`) and the sum of what was observed.
#[derive(Default)]
#[repr(align(128))]
struct Shard {
    buckets: [AtomicU64; 17],
    sum_nanos: AtomicU64,
}

/// A histogram of durations with [`LATENCY_BUCKETS`]; clones share their counts.
#[derive(Clone, Default)]
pub(crate) struct LatencyHistogram {
    shards: Arc<[Shard; SHARDS]>,
}

impl std::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyHistogram").finish_non_exhaustive()
    }
}

/// The shard this thread adds to (taken on its first observation: a `const` thread-local
/// with no lazy initialiser to check on every read).
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SHARD.with(|shard| match shard.get() {
        usize::MAX => {
            let taken = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
            shard.set(taken);
            taken
        }
        taken => taken,
    })
}

impl LatencyHistogram {
    /// Count one call that took `took`.
    pub(crate) fn observe(&self, took: Duration) {
        // Without `as_nanos`' 128-bit product (saturating past 584 years).
        let nanos = took
            .as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(took.subsec_nanos()));
        let bucket = BOUNDS_NANOS
            .iter()
            .position(|&bound| nanos <= bound)
            .unwrap_or(BOUNDS_NANOS.len());
        let shard = &self.shards[shard_index()];
        shard.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        shard.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Sum in seconds, and (upper bound, count in that bucket alone) per bucket, `+Inf` as
    /// `f64::MAX` (as prometheus-client's encoder expects).
    fn snapshot(&self) -> (f64, Vec<(f64, u64)>) {
        let mut buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
            .iter()
            .chain(std::iter::once(&f64::MAX))
            .map(|&bound| (bound, 0))
            .collect();
        let mut sum_nanos = 0u64;
        for shard in self.shards.iter() {
            for (total, count) in buckets.iter_mut().zip(&shard.buckets) {
                total.1 += count.load(Ordering::Relaxed);
            }
            sum_nanos = sum_nanos.wrapping_add(shard.sum_nanos.load(Ordering::Relaxed));
        }
        (sum_nanos as f64 / 1e9, buckets)
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, buckets) = self.snapshot();
        let count = buckets.iter().map(|(_, n)| n).sum();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::registry::Registry;

    fn encoded(register: impl FnOnce(&mut Registry)) -> String {
        let mut registry = Registry::default();
        register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("to a String");
        out
    }

    #[test]
    fn encodes_as_prometheus_clients_histogram_does() {
        let ours = LatencyHistogram::default();
        let theirs = Histogram::new(LATENCY_BUCKETS);
        // On a bound (le is inclusive), between bounds, past the last, from several threads.
        let observations = [0.0001, 0.0003, 0.003, 10.0, 12.5, 0.0];
        std::thread::scope(|s| {
            for &secs in &observations {
                let (ours, theirs) = (&ours, &theirs);
                s.spawn(move || {
                    ours.observe(Duration::from_secs_f64(secs));
                    theirs.observe(secs);
                });
            }
        });
        let a = encoded(|r| r.register("d", "h", ours.clone()));
        let b = encoded(|r| r.register("d", "h", theirs.clone()));
        // Their sum adds floats in the threads' order; ours is exact.
        let but_sum = |text: &str| -> Vec<String> {
            let lines = text.lines().filter(|l| !l.starts_with("d_sum "));
            lines.map(str::to_owned).collect()
        };
        assert_eq!(but_sum(&a), but_sum(&b));
        assert!(a.contains("d_sum 22.5034\n"), "{a}");
        assert!(a.contains("d_count 6\n"), "{a}");
        assert!(a.contains("d_bucket{le=\"0.0001\"} 2\n"), "{a}");
        assert!(a.contains("d_bucket{le=\"+Inf\"} 6\n"), "{a}");
    }
}
