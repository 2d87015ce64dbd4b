//! `erpc bench`: load a unary method from `concurrency` callers for a duration (or a number
//! of calls), as ghz does; then the rate, latency percentiles from an HDR histogram, an
//! ASCII histogram of latencies and the count of each status code.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use erpc_core::{CallOptions, Client};
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::Value;

use crate::failure::Failure;

/// How long and how hard.
pub struct Load {
    /// Callers, each with one call outstanding at a time.
    pub concurrency: usize,
    /// How long to run.
    pub duration: Duration,
    /// Stop after this many calls, if sooner.
    pub total: Option<u64>,
}

/// What a run measured. Latencies are in milliseconds; `histogram` and `status` each add up
/// to `count`.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Calls made (finished, whatever their outcome).
    pub count: u64,
    /// Wall time of the run.
    pub total_ms: f64,
    /// `count` per second of `total_ms`.
    pub rps: f64,
    /// Fastest, slowest, mean and percentiles (`p50`, `p99`, `p99.9`, …).
    pub latency_ms: BTreeMap<String, f64>,
    /// Ten equal-width buckets from the fastest to the slowest call: each bucket's upper
    /// bound (`mark_ms`) and how many calls fell in it.
    pub histogram: Vec<Bucket>,
    /// Calls by status code (`ok`, `unavailable`, …).
    pub status: BTreeMap<String, u64>,
}

impl Report {
    /// Success if at least one call succeeded; else exit 1 with a line saying so (unlike
    /// ghz, which exits 0: a run where every call failed measured the failure, not the
    /// method, and a script or CI job should not take it for a benchmark).
    pub fn verdict(&self) -> Result<(), Failure> {
        if self.status.get("ok").copied().unwrap_or(0) > 0 {
            return Ok(());
        }
        let codes: Vec<String> = self
            .status
            .iter()
            .map(|(code, n)| format!("{n} {code}"))
            .collect();
        let line = if self.count == 0 {
            "erpc: bench: no call finished".to_owned()
        } else {
            format!(
                "erpc: bench: no call succeeded (of {}: {})",
                self.count,
                codes.join(", ")
            )
        };
        Err(Failure::Exit(1, line))
    }
}

/// One bar of the latency histogram.
#[derive(Debug, Serialize)]
pub struct Bucket {
    /// Upper bound, milliseconds.
    pub mark_ms: f64,
    /// Calls with latency in (previous mark, mark].
    pub count: u64,
}

/// Latencies are recorded in microseconds, 1 µs to 1 h, to 3 significant digits.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(|_| {
        // The bounds above are valid; this keeps the no-unwrap rule honest.
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"))
    })
}

/// Run the load; the progress bar is drawn on stderr (only on a terminal, never with
/// `quiet`).
pub async fn run(
    client: &Client,
    service: &str,
    method: &str,
    request: Value,
    options: CallOptions,
    load: Load,
    quiet: bool,
) -> Result<Report, Failure> {
    if load.concurrency == 0 {
        return Err(Failure::usage("-c must be at least 1"));
    }
    let started = Instant::now();
    let until = started + load.duration;
    let issued = Arc::new(AtomicU64::new(0));
    let bar = progress(load.duration, quiet);
    let ticker = {
        let bar = bar.clone();
        tokio::spawn(async move {
            loop {
                bar.set_position(started.elapsed().as_millis() as u64);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut workers = Vec::new();
    for _ in 0..load.concurrency {
        let (client, request, options) = (client.clone(), request.clone(), options.clone());
        let (service, method, issued) = (service.to_owned(), method.to_owned(), issued.clone());
        let total = load.total;
        workers.push(tokio::spawn(async move {
            let mut latencies = new_histogram();
            let mut status: BTreeMap<String, u64> = BTreeMap::new();
            while Instant::now() < until {
                if let Some(total) = total
                    && issued.fetch_add(1, Ordering::Relaxed) >= total
                {
                    break;
                }
                let start = Instant::now();
                let outcome: Result<Value, _> = client
                    .call(service.clone(), method.clone(), request.clone())
                    .options(options.clone())
                    .await;
                let micros = start.elapsed().as_micros().max(1) as u64;
                latencies.saturating_record(micros);
                let code = match outcome {
                    Ok(_) => "ok".to_owned(),
                    Err(e) => e.code().to_string(),
                };
                *status.entry(code).or_default() += 1;
            }
            (latencies, status)
        }));
    }
    let mut latencies = new_histogram();
    let mut status: BTreeMap<String, u64> = BTreeMap::new();
    for worker in workers {
        let (h, s) = worker.await.map_err(|e| {
            Failure::Call(erpc_core::Status::internal(format!("a caller failed: {e}")))
        })?;
        let _ = latencies.add(&h);
        for (code, n) in s {
            *status.entry(code).or_default() += n;
        }
    }
    ticker.abort();
    bar.finish_and_clear();
    let total = started.elapsed();
    Ok(report(&latencies, status, total))
}

fn progress(duration: Duration, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(duration.as_millis() as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {percent}%",
    ) {
        bar.set_style(style);
    }
    bar
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn report(h: &Histogram<u64>, status: BTreeMap<String, u64>, total: Duration) -> Report {
    let count = h.len();
    let mut latency_ms = BTreeMap::new();
    if count > 0 {
        latency_ms.insert("fastest".to_owned(), ms(h.min()));
        latency_ms.insert("slowest".to_owned(), ms(h.max()));
        latency_ms.insert("average".to_owned(), h.mean() / 1000.0);
        for p in [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9] {
            latency_ms.insert(format!("p{p}"), ms(h.value_at_quantile(p / 100.0)));
        }
    }
    Report {
        count,
        total_ms: total.as_secs_f64() * 1000.0,
        rps: count as f64 / total.as_secs_f64().max(1e-9),
        latency_ms,
        histogram: buckets(h),
        status,
    }
}

/// Ten equal-width buckets from the fastest to the slowest; every recorded call in one.
fn buckets(h: &Histogram<u64>) -> Vec<Bucket> {
    if h.is_empty() {
        return Vec::new();
    }
    let (lo, hi) = (h.min(), h.max());
    let width = ((hi - lo) as f64 / 10.0).max(1.0);
    let marks: Vec<u64> = (1..=10)
        .map(|i| {
            if i == 10 {
                hi
            } else {
                lo + (width * i as f64) as u64
            }
        })
        .collect();
    let mut counts = vec![0u64; marks.len()];
    for v in h.iter_recorded() {
        // hdrhistogram reports each value at its bucket's highest equivalent value, which
        // may pass the recorded max: clamp into the last bar.
        let value = v.value_iterated_to().min(hi);
        let slot = marks
            .iter()
            .position(|&m| value <= m)
            .unwrap_or(marks.len() - 1);
        counts[slot] += v.count_at_value();
    }
    marks
        .into_iter()
        .zip(counts)
        .map(|(mark, count)| Bucket {
            mark_ms: ms(mark),
            count,
        })
        .collect()
}

/// The report as ghz prints it.
pub fn print(r: &Report) {
    let get = |k: &str| r.latency_ms.get(k).copied().unwrap_or(0.0);
    println!("Summary:");
    println!("  Count:        {}", r.count);
    println!("  Total:        {:.2} ms", r.total_ms);
    println!("  Slowest:      {:.3} ms", get("slowest"));
    println!("  Fastest:      {:.3} ms", get("fastest"));
    println!("  Average:      {:.3} ms", get("average"));
    println!("  Requests/sec: {:.2}", r.rps);
    println!();
    println!("Response time histogram:");
    let most = r
        .histogram
        .iter()
        .map(|b| b.count)
        .max()
        .unwrap_or(0)
        .max(1);
    for b in &r.histogram {
        let bar = "∎".repeat((b.count * 40 / most) as usize);
        println!("  {:>10.3} ms [{:>8}] |{bar}", b.mark_ms, b.count);
    }
    println!();
    println!("Latency distribution:");
    for p in ["p10", "p25", "p50", "p75", "p90", "p95", "p99", "p99.9"] {
        println!("  {:>5} % in {:.3} ms", &p[1..], get(p));
    }
    println!();
    println!("Status code distribution:");
    for (code, n) in &r.status {
        println!("  [{code}] {n} responses");
    }
}
