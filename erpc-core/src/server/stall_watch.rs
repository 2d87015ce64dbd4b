//! A watchdog for handler polls on multi-threaded runtimes: when a handler holds its worker
//! thread for long in one poll — an inline first poll in the reader's (`inline_call`), or
//! any poll of a spawned call's or stream's handler ([`watched`]) — it wakes a parked worker
//! of the same runtime so that someone drives the runtime's I/O and timers meanwhile.
//!
//! Why it is needed: tokio's multi-threaded scheduler gives its I/O and timer driver to
//! whichever worker parks first, and wakes a parked worker only when work is queued. A
//! connection's task woken by the driver runs alone on its worker; a call run inline queues
//! no task, so while its handler computes (or blocks) in its first poll, no other worker is
//! woken and nobody polls the driver: every other connection of the runtime, and every
//! timer, waits for the handler (measured: a second connection's call waited over 5 s in 20
//! of 60 runs on a 2-worker runtime). A spawned call's task queues nothing either once it
//! runs — spawned from the worker, it waits in that worker's LIFO slot, which no other
//! worker steals — so its handler blocking stalled the runtime the same way when its
//! connection's task had been woken by the driver (`tests/inline_calls.rs`, every round).
//! This is the same remedy as Go's `sysmon`
//! handing a blocked P's work to another thread, reduced to what tokio's public API allows:
//! a task spawned from outside the runtime wakes a parked worker, which then takes the
//! driver.
//!
//! Cost on the call path: one thread-local slot, two relaxed loads and three relaxed
//! stores per handler poll on a multi-threaded runtime (about 20 instructions for an inline
//! call, BENCHMARKS.md; a spawned handler's future grows by nothing);
//! on a current-thread runtime, where no other worker could take over, one thread-local
//! check for a spawned handler's poll and nothing for an inline one.
//! Off it: one thread, started with the first inline call and ended once no worker thread
//! that made one is alive, waking every [`TICK`] to look at one slot per such worker
//! thread while calls come, and every [`IDLE_TICK`] once none has come for [`IDLE_AFTER`]
//! ticks (as Go's `sysmon` sleeps longer when nothing runs): an idle server's watchdog
//! costs 4 wake-ups a second, not 100. The first inline call after that wakes it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::runtime::Handle;

/// How often the watchdog looks at the slots. A first poll that has lasted two ticks (so
/// between one and two of them) wakes another worker: 10 to 20 ms of a stalled driver at
/// most, 100 wake-ups a second of one thread while a server serves.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// How long the watchdog sleeps between looks once no inline poll has begun for
/// [`IDLE_AFTER`] ticks; an inline poll beginning wakes it at once.
pub(crate) const IDLE_TICK: Duration = Duration::from_millis(250);

/// Ticks without an inline poll beginning after which the watchdog sleeps [`IDLE_TICK`]s.
const IDLE_AFTER: u64 = 100;

/// One worker thread's inline poll, as the watchdog sees it.
struct Slot {
    /// The watchdog's tick at which the poll under way began, 0 when none is.
    started: AtomicU64,
    /// The tick at which the thread's last poll began (whether or not it is over).
    last: AtomicU64,
    /// The `started` of the last poll a worker was woken for: one wake-up per poll.
    nudged: AtomicU64,
    /// The runtime the thread is a worker of (a worker thread serves one for its life).
    runtime: Handle,
}

/// The watchdog's clock, in ticks; starts at 1 so that 0 means "no poll under way".
static NOW: AtomicU64 = AtomicU64::new(1);

/// Every worker thread that has run an inline call, while it lives, and whether the
/// watchdog thread runs; one lock, so that it cannot end while a slot is being added.
static WATCHED: Mutex<Watched> = Mutex::new(Watched {
    slots: Vec::new(),
    running: false,
    thread: None,
});

struct Watched {
    slots: Vec<Weak<Slot>>,
    running: bool,
    /// The watchdog thread, to wake from its idle sleep.
    thread: Option<std::thread::Thread>,
}

/// Whether the watchdog sleeps [`IDLE_TICK`]s: the first poll to begin wakes it.
static IDLE: AtomicBool = AtomicBool::new(false);

/// Whether the watchdog thread could not be started (the process is out of threads): then
/// inline polls go unwatched, as before the watchdog, rather than fail calls.
static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

thread_local! {
    // Dropped when the thread ends, which is how the watchdog learns the worker is gone.
    static SLOT: Option<Arc<Slot>> = register();
}

/// This thread's slot, registered with the watchdog (started if it is not running); none
/// off a runtime, and on a current-thread runtime (its one thread is the driver's: no
/// other could take over).
fn register() -> Option<Arc<Slot>> {
    let runtime = Handle::try_current().ok()?;
    if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread {
        return None;
    }
    let slot = Arc::new(Slot {
        started: AtomicU64::new(0),
        last: AtomicU64::new(0),
        nudged: AtomicU64::new(0),
        runtime,
    });
    if UNAVAILABLE.load(Ordering::Relaxed) {
        // No watchdog would ever prune the list: the thread goes unwatched.
        return None;
    }
    let mut watched = WATCHED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    watched.slots.push(Arc::downgrade(&slot));
    if !watched.running {
        // Before the thread starts: an earlier watchdog may have ended idle.
        IDLE.store(false, Ordering::Relaxed);
        let started = std::thread::Builder::new()
            .name("erpc-stall-watch".into())
            .spawn(watch);
        match started {
            Ok(handle) => {
                watched.running = true;
                watched.thread = Some(handle.thread().clone());
            }
            Err(e) => {
                UNAVAILABLE.store(true, Ordering::Relaxed);
                tracing::warn!(
                    "erpc: could not start the inline-call watchdog thread ({e}); a handler \
                     that holds its thread in its first poll may stall this runtime's I/O"
                );
            }
        }
    }
    Some(slot)
}

/// Mark the start of an inline first poll on this thread; the returned guard marks its end.
pub(crate) fn poll_started() -> PollUnderWay {
    // `try_with`: a future polled while the thread's locals are being destroyed is not
    // watched, rather than a panic.
    let _ = SLOT.try_with(|slot| {
        if let Some(slot) = slot {
            let now = NOW.load(Ordering::Relaxed);
            slot.started.store(now, Ordering::Relaxed);
            slot.last.store(now, Ordering::Relaxed);
            // Only a watched thread wakes the watchdog: a current-thread runtime's polls,
            // which it does not watch, would wake it for nothing, again and again.
            if IDLE.load(Ordering::Relaxed) {
                wake();
            }
        }
    });
    PollUnderWay { _private: () }
}

/// `fut` with each of its polls watched as an inline first poll is: a spawned call's or
/// stream's handler (after a slow first poll a connection spawns its calls for a second, and
/// `inline_calls(false)` spawns all), or an inline call's continuation. A task spawned on a
/// worker queues nothing either while it runs, so a handler blocking in any poll stalls the
/// runtime's I/O just as a first poll does (measured: 2.9 s stalls of another connection in
/// 3 of 5 runs with `inline_calls(false)`). Costs no space (the future is `fut` itself)
/// and per poll what [`poll_started`] costs.
pub(crate) fn watched<F: Future>(fut: F) -> WatchedPolls<F> {
    WatchedPolls { fut }
}

/// [`watched`]'s future: `F` itself, no larger (a spawned call's whole future is moved when
/// it is spawned; `a_calls_task_future_stays_small` guards its size), each poll marked.
pub(crate) struct WatchedPolls<F> {
    fut: F,
}

impl<F: Future> Future for WatchedPolls<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let _under_way = poll_started();
        // SAFETY: `fut` is pinned structurally: `WatchedPolls` never moves it out, has no `Drop`
        // of its own, and is `Unpin` only when `F` is (the auto trait).
        let fut = unsafe { self.map_unchecked_mut(|watched| &mut watched.fut) };
        fut.poll(cx)
    }
}

/// An inline first poll under way on this thread; dropping it (after the poll, or when the
/// poll panics) tells the watchdog the worker is free again.
pub(crate) struct PollUnderWay {
    _private: (),
}

impl Drop for PollUnderWay {
    fn drop(&mut self) {
        // `try_with`: a guard dropped while the thread's locals are being destroyed has no
        // slot left to clear.
        let _ = SLOT.try_with(|slot| {
            if let Some(slot) = slot {
                slot.started.store(0, Ordering::Relaxed);
            }
        });
    }
}

/// Wake the watchdog from its idle sleep (the first poll after a quiet spell; rare).
#[cold]
fn wake() {
    if IDLE.swap(false, Ordering::Relaxed) {
        let watched = WATCHED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(thread) = &watched.thread {
            thread.unpark();
        }
    }
}

/// The watchdog thread: every tick, wake a worker of each runtime one of whose workers has
/// been in one inline poll for over a tick; sleep longer while no poll begins; end when no
/// watched worker thread is left.
fn watch() {
    let mut quiet = 0u64;
    loop {
        if IDLE.load(Ordering::Relaxed) {
            std::thread::park_timeout(IDLE_TICK);
        } else {
            std::thread::sleep(TICK);
        }
        let now = NOW.fetch_add(1, Ordering::Relaxed) + 1;
        let mut watched = WATCHED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        watched.slots.retain(|slot| slot.strong_count() > 0);
        if watched.slots.is_empty() {
            watched.running = false;
            watched.thread = None;
            return;
        }
        let mut active = false;
        for slot in watched.slots.iter().filter_map(Weak::upgrade) {
            // A poll began since the last look, or is under way: calls are coming.
            active |= slot.last.load(Ordering::Relaxed) + 1 >= now;
            let started = slot.started.load(Ordering::Relaxed);
            if started != 0 {
                active = true;
                if now >= started + 2 && slot.nudged.swap(started, Ordering::Relaxed) != started {
                    // Spawned from outside the runtime, the task goes to its shared queue
                    // and wakes a parked worker, which runs it and then parks on the
                    // driver. If no worker is parked, every one is busy and none could have
                    // driven I/O anyway.
                    drop(slot.runtime.spawn(async {}));
                }
            }
        }
        quiet = if active { 0 } else { quiet + 1 };
        let idle = quiet >= IDLE_AFTER;
        if idle && !IDLE.load(Ordering::Relaxed) {
            IDLE.store(true, Ordering::SeqCst);
            // A poll that began as this look ended, and saw `IDLE` still false, would wait
            // for the idle tick: look once more after saying idle. (Not airtight without a
            // fence on the call path, which every call would pay; a miss is bounded by
            // IDLE_TICK.)
            std::sync::atomic::fence(Ordering::SeqCst);
            let began = watched.slots.iter().filter_map(Weak::upgrade).any(|slot| {
                slot.started.load(Ordering::Relaxed) != 0
                    || slot.last.load(Ordering::Relaxed) >= now
            });
            if began {
                IDLE.store(false, Ordering::Relaxed);
                quiet = 0;
            }
        } else if !idle {
            IDLE.store(false, Ordering::Relaxed);
        }
    }
}
