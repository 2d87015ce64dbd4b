//! A closed-loop load generator: `inflight` workers spread over the caller's connections, each
//! calling again as soon as its previous call returns; a warm-up, then a measured window.
//!
//! Workers are ordinary runtime tasks (no `LocalSet`), like the tasks an application calls
//! from, and each keeps its own samples, so measuring adds no shared state to the calls.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::message::Msg;

/// One stack's client side.
pub trait Caller: Clone + Send + Sync + 'static {
    /// Make one echo call on behalf of `worker`, checking the answer.
    fn call(&self, worker: usize, msg: &Msg) -> impl Future<Output = Result<(), String>> + Send;
}

/// The shape of a run.
#[derive(Debug, Clone, Copy)]
pub struct LoadConfig {
    /// Calls in flight at once.
    pub inflight: usize,
    /// Unmeasured time first.
    pub warmup: Duration,
    /// Measured time.
    pub measure: Duration,
    /// Payload bytes per message.
    pub payload: usize,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Completed calls per second.
    pub rps: f64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile latency, µs.
    pub p99_us: f64,
    /// 99.9th percentile latency, µs.
    pub p999_us: f64,
    /// Failed calls in the measured window.
    pub errors: u64,
}

const WARMING: u8 = 0;
const MEASURING: u8 = 1;
const STOPPED: u8 = 2;

/// Run the load on the current runtime.
pub async fn run<C: Caller>(caller: C, config: LoadConfig) -> Report {
    let phase = Arc::new(AtomicU8::new(WARMING));
    let mut workers = Vec::new();
    for worker in 0..config.inflight {
        let caller = caller.clone();
        let phase = phase.clone();
        let msg = Msg::new(worker as i64, config.payload);
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            loop {
                let now = phase.load(Ordering::Relaxed);
                if now == STOPPED {
                    break;
                }
                let started = Instant::now();
                let result = caller.call(worker, &msg).await;
                if now == MEASURING && phase.load(Ordering::Relaxed) == MEASURING {
                    match result {
                        Ok(()) => {
                            samples.push(started.elapsed().as_nanos().min(u32::MAX as u128) as u32)
                        }
                        Err(e) => {
                            if errors == 0 {
                                eprintln!("first error: {e}");
                            }
                            errors += 1;
                        }
                    }
                }
            }
            (samples, errors)
        }));
    }
    tokio::time::sleep(config.warmup).await;
    phase.store(MEASURING, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(config.measure).await;
    phase.store(STOPPED, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut samples = Vec::new();
    let mut errors = 0;
    for worker in workers {
        // A worker finishes its call in flight, then stops; one stuck beyond this is dropped.
        if let Ok(Ok((mine, failed))) = tokio::time::timeout(Duration::from_secs(5), worker).await {
            samples.extend(mine);
            errors += failed;
        }
    }
    samples.sort_unstable();
    let pick = |q: f64| {
        if samples.is_empty() {
            return f64::NAN;
        }
        let i = ((samples.len() as f64) * q) as usize;
        samples[i.min(samples.len() - 1)] as f64 / 1000.0
    };
    Report {
        rps: samples.len() as f64 / elapsed.as_secs_f64(),
        p50_us: pick(0.50),
        p99_us: pick(0.99),
        p999_us: pick(0.999),
        errors,
    }
}
