//! The label sets of erpc's metrics.

use erpc_core::observe::{
    BreakerState, CloseReason, Direction, HedgeOutcome, Refusal, RefusedBy, RetryKind, Side,
};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};

/// `side`: which end reports.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum SideLabel {
    server,
    client,
}

impl From<Side> for SideLabel {
    fn from(side: Side) -> Self {
        match side {
            Side::Server => SideLabel::server,
            Side::Client => SideLabel::client,
        }
    }
}

/// A call's labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CallLabels {
    pub side: SideLabel,
    pub service: String,
    pub method: String,
}

/// A finished call's labels: the call's and its status code.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CodeLabels {
    pub side: SideLabel,
    pub service: String,
    pub method: String,
    pub code: &'static str,
}

/// A stream message's labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct MessageLabels {
    pub side: SideLabel,
    pub service: String,
    pub method: String,
    pub direction: &'static str,
}

/// A connection count's labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ConnLabels {
    pub side: SideLabel,
}

/// A closed connection's or refused frame's labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabels {
    pub side: SideLabel,
    pub reason: &'static str,
}

/// `direction`'s value.
pub(crate) fn direction(direction: Direction) -> &'static str {
    match direction {
        Direction::Sent => "sent",
        Direction::Received => "received",
    }
}

/// `reason`'s value for a closed connection (the variant, without its message: messages
/// would make every close a series of its own).
pub(crate) fn close_reason(reason: &CloseReason) -> &'static str {
    match reason {
        CloseReason::PeerClosed => "peer_closed",
        CloseReason::Local => "local",
        CloseReason::GoAway => "goaway",
        CloseReason::Heartbeat => "heartbeat",
        CloseReason::FirstFrameTimeout => "first_frame_timeout",
        CloseReason::Protocol(_) => "protocol",
        CloseReason::Abuse(_) => "abuse",
        CloseReason::Limit(_) => "limit",
        CloseReason::Denied(_) => "denied",
        CloseReason::PeerError(_) => "peer_error",
        CloseReason::Io(_) => "io",
    }
}

/// `reason`'s value for a refused frame.
pub(crate) fn refusal(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::TooLarge => "too_large",
        Refusal::Malformed => "malformed",
        Refusal::Unknown => "unknown",
        Refusal::AtCapacity => "at_capacity",
        Refusal::Hook => "hook",
        Refusal::Draining => "draining",
        Refusal::Expired => "expired",
    }
}

/// A refused call's labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RefusedLabels {
    pub side: SideLabel,
    pub service: String,
    pub method: String,
    pub reason: &'static str,
}

/// A retry's labels (client side only).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RetryLabels {
    pub service: String,
    pub method: String,
    pub kind: &'static str,
    pub reason: &'static str,
}

/// A retry the budget refused: the method's and the kind of attempt.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RetryKindLabels {
    pub service: String,
    pub method: String,
    pub kind: &'static str,
}

/// A settled hedge's labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct HedgeLabels {
    pub service: String,
    pub method: String,
    pub outcome: &'static str,
}

/// One breaker's labels: an instance breaker has `server_address` (the instance's, as
/// OpenTelemetry's `server.address`; not `instance`, the label Prometheus gives each scrape
/// target, which would rename ours `exported_instance`), a method breaker `service` and
/// `method`; the others are empty (as good as absent to Prometheus).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct BreakerLabels {
    pub scope: &'static str,
    pub server_address: String,
    pub service: String,
    pub method: String,
}

/// A breaker transition's labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TransitionLabels {
    pub scope: &'static str,
    pub from: &'static str,
    pub to: &'static str,
}

/// Breakers of one scope.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ScopeLabels {
    pub scope: &'static str,
}

/// A client's instance, by its address (`server_address`, as [`BreakerLabels`]).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct InstanceLabels {
    pub server_address: String,
}

/// The `reason` values of refused calls, indexed as [`refused_by`] numbers them.
pub(crate) const REFUSED_BY: [&str; 11] = [
    "rate_limit",
    "peer_rate_limit",
    "concurrency",
    "method_concurrency",
    "shedding",
    "auth",
    "acl",
    "workers",
    "in_flight",
    "hook",
    "other",
];

/// A refusal's index in [`REFUSED_BY`] (`other` for a kind this crate does not know yet).
pub(crate) fn refused_by(by: RefusedBy) -> usize {
    match by {
        RefusedBy::RateLimit => 0,
        RefusedBy::PeerRateLimit => 1,
        RefusedBy::Concurrency => 2,
        RefusedBy::MethodConcurrency => 3,
        RefusedBy::Shedding => 4,
        RefusedBy::Auth => 5,
        RefusedBy::Acl => 6,
        RefusedBy::Workers => 7,
        RefusedBy::InFlight => 8,
        RefusedBy::Hook => 9,
        _ => 10,
    }
}

/// The `kind` values of retries, indexed as [`retry_kind`] numbers them.
pub(crate) const RETRY_KINDS: [&str; 3] = ["failover", "failtry", "hedge"];

/// A retry kind's index in [`RETRY_KINDS`].
pub(crate) fn retry_kind(kind: RetryKind) -> usize {
    match kind {
        RetryKind::Failover => 0,
        RetryKind::Failtry => 1,
        RetryKind::Hedge => 2,
    }
}

/// `reason` of a retry sent with no failure before it (a hedge: no answer within its delay).
pub(crate) const NO_ANSWER: &str = "no_answer";

/// `outcome`'s value for a settled hedge, and its index.
pub(crate) fn hedge_outcome(outcome: HedgeOutcome) -> (usize, &'static str) {
    match outcome {
        HedgeOutcome::Original => (0, "original"),
        HedgeOutcome::Hedge => (1, "hedge"),
        HedgeOutcome::BothFailed => (2, "both_failed"),
    }
}

/// A breaker state's label value and the value of `erpc_breaker_state`.
pub(crate) fn breaker_state(state: BreakerState) -> (&'static str, i64) {
    match state {
        BreakerState::Closed => ("closed", 0),
        BreakerState::HalfOpen => ("half_open", 1),
        BreakerState::Open => ("open", 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metric's `reason` and the access log's `refused_by` name a refusal alike.
    #[test]
    fn refusal_reasons_are_the_cores_names() {
        for by in [
            RefusedBy::RateLimit,
            RefusedBy::PeerRateLimit,
            RefusedBy::Concurrency,
            RefusedBy::MethodConcurrency,
            RefusedBy::Shedding,
            RefusedBy::Auth,
            RefusedBy::Acl,
            RefusedBy::Workers,
            RefusedBy::InFlight,
            RefusedBy::Hook,
        ] {
            assert_eq!(REFUSED_BY[refused_by(by)], by.as_str());
        }
    }
}
