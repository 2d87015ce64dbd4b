//! A closed-loop load generator: `inflight` workers spread over the caller's connections, each
//! calling again as soon as its previous call returns; a warm-up, then a measured window.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::message::Msg;

/// One stack's client side.
pub trait Caller: Clone + 'static {
    /// Make one echo call on behalf of `worker`, checking the answer.
    fn call(&self, worker: usize, msg: &Msg) -> impl Future<Output = Result<(), String>>;
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

/// Run the load on the current `LocalSet`.
pub async fn run<C: Caller>(caller: C, config: LoadConfig) -> Report {
    // 0 = warming up, 1 = measuring, 2 = stop.
    let phase = Rc::new(Cell::new(0u8));
    let samples = Rc::new(RefCell::new(Vec::<u32>::with_capacity(1 << 22)));
    let errors = Rc::new(Cell::new(0u64));
    let mut workers = Vec::new();
    for worker in 0..config.inflight {
        let caller = caller.clone();
        let phase = phase.clone();
        let samples = samples.clone();
        let errors = errors.clone();
        let msg = Msg::new(worker as i64, config.payload);
        workers.push(tokio::task::spawn_local(async move {
            while phase.get() < 2 {
                let started = Instant::now();
                let result = caller.call(worker, &msg).await;
                if phase.get() == 1 {
                    match result {
                        Ok(()) => samples
                            .borrow_mut()
                            .push(started.elapsed().as_nanos().min(u32::MAX as u128) as u32),
                        Err(e) => {
                            if errors.get() == 0 {
                                eprintln!("first error: {e}");
                            }
                            errors.set(errors.get() + 1)
                        }
                    }
                }
            }
        }));
    }
    tokio::time::sleep(config.warmup).await;
    phase.set(1);
    let started = Instant::now();
    tokio::time::sleep(config.measure).await;
    phase.set(2);
    let elapsed = started.elapsed();
    let mut samples = std::mem::take(&mut *samples.borrow_mut());
    for worker in workers {
        worker.abort();
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
        errors: errors.get(),
    }
}
