//! The label sets of erpc's metrics.

use erpc_core::observe::{CloseReason, Direction, Refusal, Side};
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
