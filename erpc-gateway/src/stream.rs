//! A server stream over HTTP: newline-delimited JSON (default) or server-sent events (when
//! the request's `Accept` names `text/event-stream`).
//!
//! The response's status (200) and headers go out with the stream's first message, or once
//! the gateway's open wait ([`GatewayBuilder::stream_open_wait`], default 500 ms) has passed
//! without one — so a client sees a quiet stream open long before its first message. A
//! stream that fails before that — its server refusing the request (it does not decode,
//! its metadata is refused, the method is unknown) or failing it at once — is answered as a
//! unary call is: the HTTP status of its code and the JSON error body. Every failure after
//! that arrives in the body, last (the HTTP status is already sent):
//!
//! - NDJSON (`application/x-ndjson`), grpc-gateway's shape: a line `{"result": MESSAGE}` per
//!   message, then `{"error": {"code": CODE, "message": TEXT}}` if the stream failed.
//! - SSE (`text/event-stream`): an event `data: MESSAGE` per message, then
//!   `event: error` with `data: {"code": CODE, "message": TEXT}` if the stream failed.
//!
//! A stream fails when its server fails it, when the connection to its server is lost
//! (`unavailable`), and when the gateway stops and its drain time is over (`unavailable`,
//! "the gateway is shutting down…"). The error is worded as the gateway words the failures
//! it answers ([`GatewayBuilder::explain`]: `erpc-gateway` names its flags, not Rust APIs).
//! A body without its error line and without its end was
//! cut by the network. The body ends when the stream does; a caller who hangs up cancels
//! the call.
//!
//! [`GatewayBuilder::stream_open_wait`]: crate::GatewayBuilder::stream_open_wait
//! [`GatewayBuilder::explain`]: crate::GatewayBuilder::explain

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, header::ACCEPT};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use erpc_core::Streaming;
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::gateway::Explain;
use crate::lifecycle::Lifecycle;

/// How the stream's messages are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Ndjson,
    Sse,
}

impl Format {
    /// SSE if an `Accept` value names `text/event-stream`, else NDJSON.
    pub(crate) fn asked(headers: &HeaderMap) -> Format {
        let sse = headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("text/event-stream"));
        if sse { Format::Sse } else { Format::Ndjson }
    }
}

/// One item of the body: a message, or the failure that ended the stream.
enum Item {
    Message(Value),
    Failed(ApiError),
}

/// The response for `responses`: once its first message comes, or `open_wait` passes
/// without one, a 200 whose body is the stream (see the module doc), failing at `cut` if it
/// is still open then; a failure before either is the error itself, answered as a unary
/// call's is (its caller rewords it). A failure in the body is reworded by `explain` here,
/// as the caller rewords one it answers ([`ApiError::explained`]): the same words either way.
pub(crate) async fn respond(
    mut responses: Streaming<Value>,
    format: Format,
    open_wait: Duration,
    cut: impl Future<Output = ()> + Send + 'static,
    explain: Explain,
) -> Result<Response, ApiError> {
    let first = match open_wait.is_zero() {
        // At once (a zero timeout would still wait for the timer's next tick).
        true => None,
        false => match tokio::time::timeout(open_wait, responses.message()).await {
            Ok(Ok(Some(message))) => Some(Item::Message(message)),
            // Ended with no message: an empty body.
            Ok(Ok(None)) => return Ok(body(stream::empty().boxed(), format)),
            Ok(Err(status)) => return Err(status.into()),
            Err(_) => None,
        },
    };
    let state = Some((responses, Box::pin(cut)));
    let rest = stream::unfold(state, move |state| {
        let explain = explain.clone();
        async move {
            let (mut responses, mut cut) = state?;
            let failed = |error: ApiError| Item::Failed(error.explained(&explain));
            tokio::select! {
                next = responses.message() => match next {
                    Ok(Some(message)) => Some((Item::Message(message), Some((responses, cut)))),
                    Ok(None) => None,
                    Err(status) => Some((failed(status.into()), None)),
                },
                // Dropping `responses` cancels the call at its server.
                () = &mut cut => Some((failed(Lifecycle::cut_error()), None)),
            }
        }
    });
    Ok(body(stream::iter(first).chain(rest).boxed(), format))
}

fn body(items: stream::BoxStream<'static, Item>, format: Format) -> Response {
    match format {
        Format::Ndjson => {
            let lines = items.map(|item| {
                let line = match item {
                    Item::Message(message) => json!({ "result": message }),
                    Item::Failed(error) => json!({ "error": error.body() }),
                };
                Ok::<_, Infallible>(format!("{line}\n"))
            });
            (
                [(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-ndjson"),
                )],
                Body::from_stream(lines),
            )
                .into_response()
        }
        Format::Sse => Sse::new(events(items)).into_response(),
    }
}

fn events(
    items: stream::BoxStream<'static, Item>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    items.map(|item| {
        Ok(match item {
            // serde_json writes no newline, so each message is one `data:` line.
            Item::Message(message) => Event::default().data(message.to_string()),
            Item::Failed(error) => Event::default()
                .event("error")
                .data(error.body().to_string()),
        })
    })
}
