//! Where a gateway is in its life: serving, draining (stopping: `/readyz` says 503 so load
//! balancers send no more requests, and requests in flight may finish), or cut (the drain
//! time is up: every open request is ended now, streams with a final error).

use tokio::sync::watch;

use crate::error::ApiError;

/// The phases, in order; a gateway only moves forward through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    Serving,
    Draining,
    Cut,
}

/// A gateway's phase, shared by its handlers and its server.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    phase: watch::Sender<Phase>,
}

impl Lifecycle {
    pub(crate) fn new() -> Lifecycle {
        Lifecycle {
            phase: watch::Sender::new(Phase::Serving),
        }
    }

    /// Move to `phase` unless the gateway is already further along.
    pub(crate) fn enter(&self, phase: Phase) {
        self.phase.send_if_modified(|now| {
            let later = phase > *now;
            if later {
                *now = phase;
            }
            later
        });
    }

    pub(crate) fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Resolves when the gateway is cut (at once if it is already).
    pub(crate) fn cut(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut phase = self.phase.subscribe();
        async move {
            // The sender lives as long as the gateway's shared state, which the request
            // being answered holds: an error here cannot happen, and would mean "stopped".
            let _ = phase.wait_for(|p| *p == Phase::Cut).await;
        }
    }

    /// The failure an open request (or stream) ends with when the gateway is cut.
    pub(crate) fn cut_error() -> ApiError {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            erpc_core::Code::Unavailable,
            "the gateway is shutting down and its drain time is over; call again (another gateway instance will answer)",
        )
    }
}
