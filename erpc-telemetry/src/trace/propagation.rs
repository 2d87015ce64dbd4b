//! The W3C trace context (`traceparent`, `tracestate`) and W3C baggage (`baggage`) in erpc
//! call metadata, so a trace continues across services in any language whose OpenTelemetry
//! SDK speaks W3C (all of them do by default).

use erpc_core::Metadata;
use opentelemetry::Context;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

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

fn propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

/// Put `cx`'s span context and baggage into `metadata` as W3C `traceparent`, `tracestate` and
/// `baggage`.
pub fn inject(cx: &Context, metadata: &mut Metadata) {
    propagator().inject_context(cx, &mut MetadataInjector(metadata));
}

/// The remote context `metadata` carries (an empty context when it carries none or a
/// malformed `traceparent`: the call then starts a trace of its own).
pub fn extract(metadata: &Metadata) -> Context {
    propagator().extract(&MetadataExtractor(metadata))
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
    fn a_malformed_traceparent_starts_a_new_trace() {
        let mut md = Metadata::new();
        md.set("traceparent", "00-zz-yy-01");
        assert!(!extract(&md).span().span_context().is_valid());
    }
}
