//! The access log's line for a call refused before it ran — by a header-level hook (a rate
//! limit, a cap, authentication), the worker limit or the connection's running-call cap.
//! No layer sees such a call (layers wrap the calls that run), so the engine writes it, on
//! the target and with the fields erpc-telemetry's `AccessLog` uses for the calls that ran,
//! when [`crate::ServerBuilder::log_refused_calls`] asks.

use std::time::Duration;

use crate::Status;
use crate::observe::RefusedBy;
use crate::server::Shared;
use erpc_transport::PeerAddr;

/// Log the refusal of `service`'s `method` from `peer` with `status` (by `by`, after
/// waiting `waited` for a rate limit's turn: zero for a refusal on arrival): INFO on target
/// `erpc::access`, message `call refused`, fields `service`, `method`, `peer`, `code`,
/// `duration_us`, `refused_by` (the `reason` label of `erpc_refused_calls_total`) and
/// `reason` (the status message the caller got).
/// Nothing unless the server was built with `log_refused_calls` (`shared`'s).
pub(crate) fn log(
    shared: &Shared,
    peer: Option<&PeerAddr>,
    (service, method): (&str, &str),
    status: &Status,
    by: RefusedBy,
    waited: Duration,
) {
    if !shared.log_refused_calls {
        return;
    }
    tracing::info!(
        target: "erpc::access",
        service,
        method,
        peer = %peer.map(ToString::to_string).unwrap_or_default(),
        code = status.code().as_str(),
        duration_us = waited.as_micros() as u64,
        refused_by = by.as_str(),
        reason = status.message(),
        "call refused"
    );
}
