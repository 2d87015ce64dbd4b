//! The slow-call log: every unary or oneway call whose handler (and the layers inside this
//! one) took longer than a threshold is logged at `warn` with its service, method, peer,
//! duration and outcome — KRPC's slow-request detection, as a server middleware.

use std::time::Duration;

use tokio::time::Instant;

use crate::per_method::PerMethod;
use crate::server::middleware::{Middleware, Next};
use crate::server::{Request, Response};
use crate::status::Status;

/// Logs calls slower than a threshold (per method if wanted), on target
/// `erpc::slow_call` at level `warn`, with fields `service`, `method`, `peer` (the client's
/// address), `took_ms`, `threshold_ms` and `code` (the status code name of PROTOCOL.md: `ok` or the failure's, as the access log writes it). Add it with
/// [`crate::ServerBuilder::slow_call_log`] or [`crate::ServerBuilder::middleware`]; where it
/// sits among the layers decides what it measures (outermost: every layer under it too).
///
/// A call cut off before its handler ended (its deadline passed, the client cancelled it) is
/// logged as it is dropped, with `deadline_exceeded` or `cancelled`. Streaming calls are not
/// measured: they last as long as their client wants, and a layer sees only their opening.
#[derive(Debug, Clone)]
pub struct SlowCallLog {
    threshold: PerMethod<Duration>,
}

impl SlowCallLog {
    /// Log calls slower than `threshold`, whatever their method.
    pub fn new(threshold: Duration) -> SlowCallLog {
        SlowCallLog::per_method(PerMethod::new(threshold))
    }

    /// Log calls slower than their method's threshold (`Duration::MAX`: never).
    pub fn per_method(threshold: PerMethod<Duration>) -> SlowCallLog {
        SlowCallLog { threshold }
    }
}

#[async_trait::async_trait]
impl Middleware for SlowCallLog {
    async fn call(&self, request: Request, next: Next<'_>) -> Result<Response, Status> {
        if request.is_stream() {
            return next.run(request).await;
        }
        let cx = request.context();
        let threshold = *self.threshold.get(cx.service(), cx.method());
        // Kept aside in case the call turns out slow: three reference-counted clones.
        let mut slow = Slow {
            service: cx.service.clone(),
            method: cx.method.clone(),
            conn: cx.conn.clone(),
            deadline: cx.deadline(),
            threshold,
            start: Instant::now(),
            ended: false,
        };
        let outcome = next.run(request).await;
        slow.ended(
            outcome
                .as_ref()
                .map_or_else(|s| s.code(), |_| crate::Code::Ok),
        );
        outcome
    }
}

/// One call being timed. Logged when it ends — or when it is dropped first (its deadline
/// passed, the client cancelled it): a call cut off at its deadline is the slowest of all.
struct Slow {
    service: crate::protocol::ByteStr,
    method: crate::protocol::ByteStr,
    conn: Option<std::sync::Arc<crate::context::Connection>>,
    deadline: Instant,
    threshold: Duration,
    start: Instant,
    ended: bool,
}

impl Slow {
    /// The call ended with `code`: logged if it was slow.
    fn ended(&mut self, code: crate::Code) {
        self.ended = true;
        let took = self.start.elapsed();
        if took > self.threshold {
            tracing::warn!(
                target: "erpc::slow_call",
                service = %self.service,
                method = %self.method,
                peer = %self.conn.as_ref().map_or_else(String::new, |c| c.peer.to_string()),
                took_ms = took.as_secs_f64() * 1e3,
                threshold_ms = self.threshold.as_secs_f64() * 1e3,
                code = code.as_str(),
                "slow call"
            );
        }
    }
}

impl Drop for Slow {
    fn drop(&mut self) {
        if !self.ended {
            self.ended(crate::deadline::dropped_code(self.deadline));
        }
    }
}
