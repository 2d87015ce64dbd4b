//! JSON lines that carry the OpenTelemetry trace and span ids of the call they were logged
//! in, as OpenTelemetry's log bridges put them on a log record (`trace_id`, `span_id`: the
//! W3C hex forms), so a log line and its trace find each other in the backend.

use std::fmt;

use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use tracing::Subscriber;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// A JSON event format (`F`: tracing-subscriber's) whose object also has `trace_id` and
/// `span_id` when the event has an OpenTelemetry context: the nearest span of its scope that
/// `tracing-opentelemetry` knows (a sampled call's span, or a span of the handler's own
/// inside it), else the current OpenTelemetry context (an unsampled call: its trace id and
/// the caller's span id, as erpc's layers run its handler in the caller's context).
/// An event with neither is written as `F` writes it.
pub(crate) struct WithTraceIds<F>(pub(crate) F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let Some(ids) = span_context(ctx) else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        // The JSON format writes one object and a newline; the ids go in before its closing
        // brace. Anything else (not expected) is written as it came.
        match line.trim_end().strip_suffix('}') {
            Some(object) => writeln!(
                writer,
                "{object},\"trace_id\":\"{}\",\"span_id\":\"{}\"}}",
                ids.trace_id(),
                ids.span_id()
            ),
            None => writer.write_str(&line),
        }
    }
}

/// The event's OpenTelemetry span context, if it has a valid one (see [`WithTraceIds`]).
fn span_context<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<SpanContext>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    let from_spans = ctx.event_scope().and_then(|scope| {
        // The dispatcher delivering this event: the one whose OpenTelemetry layer knows its
        // spans.
        let dispatch = tracing::dispatcher::get_default(|dispatch| dispatch.clone());
        // Leaf first: the span the event happened in, then its parents. A span the
        // OpenTelemetry layer does not know (filtered out of it) has no context.
        scope.into_iter().find_map(|span| {
            let cx = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)?;
            let span_context = cx.span().span_context().clone();
            span_context.is_valid().then_some(span_context)
        })
    });
    from_spans.or_else(|| {
        opentelemetry::Context::map_current(|cx| {
            let span_context = cx.span().span_context().clone();
            span_context.is_valid().then_some(span_context)
        })
    })
}
