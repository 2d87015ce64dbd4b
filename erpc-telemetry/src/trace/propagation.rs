//! The W3C trace context (`traceparent`, `tracestate`) and W3C baggage (`baggage`) in erpc
//! call metadata, so a trace continues across services in any language whose OpenTelemetry
//! SDK speaks W3C (all of them do by default).

use std::sync::LazyLock;

use erpc_core::Metadata;
use erpc_core::protocol::ByteStr;
use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};
use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceState};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use super::traceparent::{TRACEPARENT, Traceparent};

/// Writes propagation fields into call metadata (replacing any there).
pub struct MetadataInjector<'a>(pub &'a mut Metadata);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.set(key.to_owned(), value.into_bytes());
    }
}

/// Reads propagation fields from call metadata; a value that is not UTF-8 reads as absent.
pub struct MetadataExtractor<'a>(pub &'a Metadata);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get_str(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(key, _)| key).collect()
    }
}

/// The W3C `tracestate` metadata key.
pub(crate) const TRACESTATE: &str = "tracestate";
/// The W3C `baggage` metadata key.
pub(crate) const BAGGAGE: &str = "baggage";

/// W3C trace context and baggage, made once: a composite propagator is three allocations.
static PROPAGATOR: LazyLock<TextMapCompositePropagator> = LazyLock::new(|| {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
});

/// Put `cx`'s span context and baggage into `metadata` as W3C `traceparent`, `tracestate` and
/// `baggage`.
pub fn inject(cx: &Context, metadata: &mut Metadata) {
    if !inject_traceparent(cx.span().span_context(), cx, metadata) {
        inject_with_propagators(cx, metadata);
    }
}

/// What [`inject`] does when [`inject_traceparent`] wrote nothing: the propagators write
/// `traceparent`, `tracestate` and `baggage` from `cx`.
pub(crate) fn inject_with_propagators(cx: &Context, metadata: &mut Metadata) {
    PROPAGATOR.inject_context(cx, &mut MetadataInjector(metadata));
}

/// The common case of [`inject`], without the propagators' strings: when `span` has no trace
/// state, `baggage` (the context whose baggage goes out) has none and `metadata` has no
/// `tracestate` to replace, all there is to write is `traceparent` — one allocation, its
/// value. (The propagator would also write an empty `tracestate`, which W3C reads as none.)
/// `false`, having written nothing, otherwise.
pub(crate) fn inject_traceparent(
    span: &SpanContext,
    baggage: &Context,
    metadata: &mut Metadata,
) -> bool {
    let plain = span.is_valid()
        && span.trace_state() == &TraceState::default()
        && metadata.get(TRACESTATE).is_none()
        && baggage.baggage().is_empty();
    if plain {
        metadata.set(
            ByteStr::from_static(TRACEPARENT),
            Traceparent::of(span).header(),
        );
    }
    plain
}

/// The remote context `metadata` carries (an empty context when it carries none or a
/// malformed `traceparent`: the call then starts a trace of its own).
pub fn extract(metadata: &Metadata) -> Context {
    PROPAGATOR.extract(&MetadataExtractor(metadata))
}

/// The context of a call whose `traceparent` read as `parent` (remote): the current context
/// with `parent` as its span — built directly unless `metadata` also carries `tracestate` or
/// `baggage`, which only the propagators read.
pub(crate) fn remote(metadata: &Metadata, parent: SpanContext) -> Context {
    if metadata.get(TRACESTATE).is_some() || metadata.get(BAGGAGE).is_some() {
        extract(metadata)
    } else {
        Context::current().with_remote_span_context(parent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };

    #[test]
    fn a_span_context_round_trips_through_metadata() {
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex"),
            SpanId::from_hex("00f067aa0ba902b7").expect("hex"),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let cx = Context::new().with_remote_span_context(sc.clone());
        let mut md = Metadata::new();
        inject(&cx, &mut md);
        assert_eq!(
            md.get_str("traceparent"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        let back = extract(&md);
        assert_eq!(back.span().span_context().trace_id(), sc.trace_id());
        assert_eq!(back.span().span_context().span_id(), sc.span_id());
        assert!(back.span().span_context().is_remote());
    }

    #[test]
    fn a_plain_context_goes_out_as_traceparent_alone_and_trace_state_through_the_propagator() {
        let plain = SpanContext::new(
            TraceId::from(1),
            SpanId::from(2),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        let mut md = Metadata::new();
        inject(
            &Context::new().with_remote_span_context(plain.clone()),
            &mut md,
        );
        let keys: Vec<&str> = md.iter().map(|(key, _)| key).collect();
        assert_eq!(keys, ["traceparent"]);
        let state = TraceState::from_key_value([("vendor", "x")]).expect("valid");
        let with_state = SpanContext::new(
            plain.trace_id(),
            plain.span_id(),
            TraceFlags::SAMPLED,
            false,
            state,
        );
        inject(
            &Context::new().with_remote_span_context(with_state),
            &mut md,
        );
        assert_eq!(md.get_str("tracestate"), Some("vendor=x"));
        let back = extract(&md);
        assert_eq!(
            back.span().span_context().trace_state().get("vendor"),
            Some("x")
        );
    }

    #[test]
    fn a_malformed_traceparent_starts_a_new_trace() {
        let mut md = Metadata::new();
        md.set("traceparent", "00-zz-yy-01");
        assert!(!extract(&md).span().span_context().is_valid());
    }
}
