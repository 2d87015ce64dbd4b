//! Head sampling: whether a call is traced, decided before its span is built.
//!
//! `tracing-opentelemetry` builds a span's attributes and OpenTelemetry context before the
//! SDK's sampler runs, so an unsampled call used to cost nearly what a sampled one does
//! (open-telemetry/opentelemetry-specification#620). [`ServerTracing`](super::ServerTracing)
//! and [`ClientTracing`](super::ClientTracing) decide first, as OpenTelemetry's
//! `ParentBased(TraceIdRatioBased(ratio))` sampler would, and build a span only for a call
//! that is traced:
//!
//! - a parent (the caller's `traceparent`, or the current span or context) that is sampled:
//!   traced;
//! - a parent that is not sampled: not traced; its trace id and span id travel on unchanged,
//!   sampled flag clear;
//! - no parent (a root): a new trace id, traced if its low 63 bits fall under the ratio —
//!   `TraceIdRatioBased`'s arithmetic, so the SDK's sampler agrees with the layer, and every
//!   hop agrees with the first. An unsampled root still sends its trace id on (flag clear),
//!   so the calls it causes are not traced either.
//!
//! The ratio is process-wide, set by [`super::otlp::with_head_sampling`] (which
//! [`super::otlp::provider`] and [`super::otlp::init`] call); until then every root is
//! handed to the span machinery and the SDK's own sampler decides.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId};
use opentelemetry_sdk::trace::IdGenerator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::traceparent::Traceparent;

/// Roots are traced when their trace id's low 63 bits are below this: `ratio × 2^63`, as
/// `TraceIdRatioBased` computes it; `u64::MAX` traces every root (ratio 1, or unset).
static ROOT_BOUND: AtomicU64 = AtomicU64::new(u64::MAX);

/// Trace this share of new traces (0.0–1.0; out-of-range values are clamped, as the SDK's
/// sampler clamps them).
pub(crate) fn set_ratio(ratio: f64) {
    ROOT_BOUND.store(bound(ratio), Ordering::Relaxed);
}

fn bound(ratio: f64) -> u64 {
    if ratio >= 1.0 {
        u64::MAX
    } else {
        // The SDK's formula (`sample_based_on_probability`), so both decide alike.
        (ratio.max(0.0) * (1u64 << 63) as f64) as u64
    }
}

/// Whether a new trace with this id is sampled at `bound`.
fn root_sampled(trace_id: TraceId, bound: u64) -> bool {
    let low = u128::from_be_bytes(trace_id.to_bytes()) as u64;
    (low >> 1) < bound
}

/// What a layer does with a call.
#[derive(Debug)]
pub(crate) enum Head {
    /// Build the span under the current span or context.
    Trace,
    /// Build the span under this sampled parent from the caller's `traceparent`.
    TraceRemote(Traceparent),
    /// Build the span as the root of a new trace with this id ([`with_trace_id`]).
    TraceRoot(TraceId),
    /// Build nothing; this context (sampled flag clear) is the call's, for propagation.
    Skip(SpanContext),
}

impl Head {
    fn follow(parent: &SpanContext) -> Head {
        if parent.is_sampled() {
            Head::Trace
        } else {
            Head::Skip(parent.clone())
        }
    }
}

/// The decision for a call whose parent is the caller's `traceparent` (`remote`: a server
/// reading its request), or else the current span or context.
pub(crate) fn decide(remote: Option<&[u8]>) -> Head {
    if let Some(parent) = remote.and_then(Traceparent::parse) {
        return if parent.sampled {
            Head::TraceRemote(parent)
        } else {
            Head::Skip(parent.span_context(true))
        };
    }
    // Asked without taking a handle on the span first (`Span::current` clones it: a
    // reference count in the subscriber's registry): most calls are made outside any span.
    if tracing::dispatcher::get_default(|d| d.current_span().is_known()) {
        // A span `tracing-opentelemetry` does not know reads as an empty context.
        let cx = tracing::Span::current().context();
        let span = cx.span();
        if span.span_context().is_valid() {
            return Head::follow(span.span_context());
        }
    }
    if let Some(head) = Context::map_current(|cx| {
        let span = cx.span();
        let parent = span.span_context();
        parent.is_valid().then(|| Head::follow(parent))
    }) {
        return head;
    }
    let trace_id = new_trace_id();
    if root_sampled(trace_id, ROOT_BOUND.load(Ordering::Relaxed)) {
        Head::TraceRoot(trace_id)
    } else {
        Head::Skip(SpanContext::new(
            trace_id,
            new_span_id(),
            TraceFlags::default(),
            false,
            Default::default(),
        ))
    }
}

thread_local! {
    /// The trace id [`HeadIds`] hands out next (0: none), set around a root span's start.
    static NEXT_TRACE_ID: Cell<u128> = const { Cell::new(0) };
}

/// Run `f` (which starts a root span) so that the span gets `trace_id`, the id the decision
/// was made on — if the provider's id generator is [`HeadIds`]; with another, the SDK draws
/// its own id and its sampler decides again.
pub(crate) fn with_trace_id<R>(trace_id: TraceId, f: impl FnOnce() -> R) -> R {
    NEXT_TRACE_ID.set(u128::from_be_bytes(trace_id.to_bytes()));
    let result = f();
    NEXT_TRACE_ID.set(0);
    result
}

fn new_trace_id() -> TraceId {
    TraceId::from(loop {
        let id = fastrand::u128(..);
        if id != 0 {
            break id;
        }
    })
}

fn new_span_id() -> SpanId {
    SpanId::from(fastrand::u64(1..))
}

/// The id generator of providers made by [`super::otlp::with_head_sampling`]: random ids,
/// except that a root span started by erpc's layers gets the trace id they decided on.
#[derive(Debug, Default)]
pub(crate) struct HeadIds;

impl IdGenerator for HeadIds {
    fn new_trace_id(&self) -> TraceId {
        match NEXT_TRACE_ID.replace(0) {
            0 => new_trace_id(),
            id => TraceId::from(id),
        }
    }

    fn new_span_id(&self) -> SpanId {
        new_span_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::SpanKind;
    use opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample};

    #[test]
    fn roots_are_decided_as_the_sdks_ratio_sampler_decides() {
        for ratio in [0.0, 0.01, 0.25, 0.5, 0.999, 1.0] {
            let sdk = Sampler::TraceIdRatioBased(ratio);
            let mut sampled = 0;
            for _ in 0..10_000 {
                let id = new_trace_id();
                let theirs = sdk
                    .should_sample(None, id, "x", &SpanKind::Client, &[], &[])
                    .decision
                    == SamplingDecision::RecordAndSample;
                assert_eq!(root_sampled(id, bound(ratio)), theirs, "{ratio} {id}");
                sampled += usize::from(theirs);
            }
            let expected = ratio * 10_000.0;
            assert!(
                (sampled as f64 - expected).abs() <= 300.0,
                "{ratio}: {sampled} of 10000"
            );
        }
    }

    #[test]
    fn a_remote_parent_decides() {
        let sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(matches!(
            decide(Some(sampled.as_bytes())),
            Head::TraceRemote(_)
        ));
        let unsampled = sampled.replace("-01", "-00");
        match decide(Some(unsampled.as_bytes())) {
            Head::Skip(cx) => {
                assert_eq!(
                    Traceparent::of(&cx),
                    Traceparent::parse(unsampled.as_bytes()).expect("ok")
                );
                assert!(cx.is_remote());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_id_generator_hands_out_the_decided_id_once() {
        let id = TraceId::from(42u128);
        let got = with_trace_id(id, || HeadIds.new_trace_id());
        assert_eq!(got, id);
        assert_ne!(HeadIds.new_trace_id(), id);
        with_trace_id(id, || ());
        assert_ne!(HeadIds.new_trace_id(), id, "cleared after use");
    }
}
