//! A server-wide cap on calls running at once, as a header-level hook: over the cap a call is
//! refused `resource_exhausted` before anything is decoded or spawned for it (a bulkhead, as
//! Hystrix and resilience4j call it; Netflix's concurrency-limits with a fixed limit).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::admission::{Admission, Admitted, CallHead};
use crate::human::count;
use crate::status::{Status, zero_cap};

/// At most `limit` calls (unary, oneway and streams alike) running at once across every
/// connection of the server. Cheap: one atomic increment per admitted call, one decrement as
/// it ends.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    limit: usize,
    running: AtomicUsize,
}

impl ConcurrencyLimit {
    /// A cap of `limit` running calls. Errors: `invalid_argument` for a cap of 0, which
    /// would refuse every call.
    pub fn new(limit: usize) -> Result<ConcurrencyLimit, Status> {
        if limit == 0 {
            return Err(zero_cap("ConcurrencyLimit::new(0)"));
        }
        Ok(ConcurrencyLimit {
            state: Arc::new(State {
                limit,
                running: AtomicUsize::new(0),
            }),
        })
    }

    /// Calls running now under this cap.
    pub fn running(&self) -> usize {
        self.state.running.load(Ordering::Relaxed)
    }
}

/// Gives its slot back when the call ends.
struct Permit(Arc<State>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission for ConcurrencyLimit {
    fn refused_by(&self) -> crate::observe::RefusedBy {
        crate::observe::RefusedBy::Concurrency
    }

    /// A cap on running calls: a call waiting for a rate limit's turn takes no slot.
    fn counts_running(&self) -> bool {
        true
    }

    fn admit(&self, _call: &CallHead<'_>) -> Result<Admitted, Status> {
        let state = &self.state;
        let taken = state
            .running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < state.limit).then_some(n + 1)
            });
        match taken {
            Ok(_) => Ok(Admitted::holding(Permit(state.clone()))),
            Err(_) => Err(Status::resource_exhausted(format!(
                "server: {} already running (ConcurrencyLimit)",
                count(state.limit, "call")
            ))),
        }
    }
}
