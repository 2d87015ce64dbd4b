//! A call's task: the handler run under its deadline scope with panics caught, then the
//! answer queued for the writer.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::frame_queue;
use bytes::Bytes;
use erpc_codec::compression::CompressionId;
use futures_util::FutureExt;

use crate::body::side_status;
use crate::body::{compress, decompress};
use crate::context::Context;
use crate::deadline;
use crate::engine::queue;
use crate::engine::task_guard::{OnAbandon, abandoned_how, panic_text};
use crate::observe::{CallEvent, RefusedBy};
use crate::protocol::{Frame, Header, Kind};
use crate::server::admission::{self, Admitted, CallHead, CallKind, Gate};
use crate::server::conn::answer_frame;
use crate::server::in_flight::{self, InFlight};
use crate::server::observed::Observed;
use crate::server::refusal_log;
use crate::server::stall_watch;
use crate::server::workers::Seat;
use crate::server::{Request, Response, Shared};
use crate::status::{Code, Status};
use crate::status_wire::{check_answer, status_frame};

/// Everything a call's task needs, gathered by the reader so the spawned future stays small
/// (spawning moves it; a 1.5 KiB future cost a fifth of the server's CPU in memmove).
pub(crate) struct CallTask {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tx: frame_queue::Sender,
    pub(crate) in_flight: Arc<InFlight>,
    pub(crate) service: Arc<dyn crate::server::Service>,
    pub(crate) context: Context,
    pub(crate) header: Header,
    pub(crate) body: Bytes,
    /// What the response body is compressed with when it reaches the threshold: chosen from
    /// the request's accept-compression list, never from the request body's compression.
    pub(crate) compression: CompressionId,
    /// The transport's largest frame (UDP: one datagram), if it has one.
    pub(crate) max_frame: Option<usize>,
    /// Reports the call's end to the server's observer, if it has one.
    pub(crate) observed: Option<Box<Observed>>,
    /// What a header-level hook made the call wait for before it runs (a rate limit's line).
    pub(crate) gate: Option<Gate>,
    /// The call's place under the server's worker limit, if it has one: a call with a gate
    /// joins the workers' queue, and takes a worker, only after its gate opens, so calls
    /// waiting in a rate limit's line hold neither.
    pub(crate) seat: Option<Seat>,
}

impl CallTask {
    /// Run the call and answer it. A plain function returning one `async move` block over
    /// `self`'s fields, so the task's future holds each field once: spawning moves the whole
    /// future, and at 1.5 KiB that move cost a fifth of the server's CPU (profiled).
    pub(crate) fn run(self) -> impl std::future::Future<Output = ()> + Send {
        let CallTask {
            shared,
            tx,
            in_flight,
            service,
            context,
            header,
            body,
            compression,
            max_frame,
            mut observed,
            gate,
            seat,
        } = self;
        let deadline = context.deadline;
        async move {
            let id = header.request_id;
            let abandoned = on_abandon(&in_flight, &tx, header.kind, id);
            let work = async {
                let mut context = context;
                // What the caps taken after the wait hand back: held while the call runs.
                let mut _held = None;
                if let Some(gate) = gate {
                    // Boxed: the rare wait must not grow every call's task future.
                    let waited = Box::pin(wait_its_turn(
                        gate,
                        &shared,
                        &in_flight,
                        &context,
                        &header,
                        observed.as_deref_mut(),
                    ));
                    let mut held = Box::new(waited.await?);
                    context.extensions.extend(held.take_extensions());
                    _held = Some(held);
                }
                // Only now a place under the worker limit, and a worker: a call waiting for
                // its gate holds neither.
                let ticket = match seat {
                    Some(seat) => Some(seat.ticket().map_err(|status| {
                        let call = CallEvent {
                            service: &context.service,
                            method: &context.method,
                            stream: false,
                        };
                        let observer = shared.observer.as_ref();
                        if let Some(observed) = observed.as_deref_mut() {
                            observed.refused();
                        }
                        let (names, by) = ((call.service, call.method), RefusedBy::Workers);
                        let peer = context.peer();
                        refusal_log::log(&shared, peer, names, &status, by, Duration::ZERO);
                        admission::refused(observer, &call, RefusedBy::Workers, status)
                    })?),
                    None => None,
                };
                // Admitted: it runs (started now if it waited for its gate).
                if let Some(observed) = observed.as_deref_mut() {
                    observed.running();
                }
                let _worker = match &ticket {
                    Some(ticket) => ticket.worker().await,
                    None => None,
                };
                let body = decompress(
                    header.compression,
                    body,
                    shared.config.limits.max_decompressed,
                    None,
                )
                .map_err(|e| side_status("server", e))?;
                context.wire.body_len = body.len();
                let request = Request::new(context, header.codec, shared.codecs.clone(), body);
                // With layers, `service` is the service wrapped in them (`server::layer`).
                service.call(request).await
            };
            // Cancellation, the deadline (the connection's sweeper) and shutdown abort this
            // task outright through its abort handle in `InFlight`, and answer for it.
            let outcome = deadline::scope(
                deadline,
                stall_watch::watched(AssertUnwindSafe(work).catch_unwind()),
            )
            .await;
            abandoned.disarm();
            if !in_flight.finish(id) {
                return;
            }
            let result = outcome.unwrap_or_else(|panic| Err(panicked(id, "handler", panic)));
            let answered = Answered {
                compression,
                max_frame,
                observed: observed.map(|observed| *observed),
            };
            if let Some(frame) = answered.frame(&shared, header.kind, id, result)
                && let Some(wait) = queue(&tx, frame.into())
            {
                wait.await;
            }
        }
    }
}

/// What a call's answer is made with, besides its outcome: the response compression, the
/// transport's frame limit and the observer's report.
pub(crate) struct Answered {
    pub(crate) compression: CompressionId,
    pub(crate) max_frame: Option<usize>,
    pub(crate) observed: Option<Observed>,
}

impl Answered {
    /// The frame answering call `id` of `kind` that ended with `result` (none for a oneway
    /// call, whose failure is logged), the end told to the observer.
    pub(crate) fn frame(
        self,
        shared: &Shared,
        kind: Kind,
        id: u64,
        result: Result<Response, Status>,
    ) -> Option<Frame> {
        let Answered {
            compression,
            max_frame,
            observed,
        } = self;
        if kind == Kind::ONEWAY {
            if let Some(mut observed) = observed {
                observed.finish(result.as_ref().map_or_else(|s| s.code(), |_| Code::Ok), 0);
            }
            if let Err(status) = result {
                tracing::debug!(id, %status, "oneway call failed");
            }
            return None;
        }
        let frame = match result {
            Ok(response) => response_frame(
                id,
                response,
                compression,
                shared.config.compression_threshold,
                max_frame,
            ),
            Err(status) => status_frame(id, &status),
        };
        // Never send what a peer with the same limits would refuse (as the client does
        // for requests): the call fails here, naming the setting.
        let max_body = shared.config.limits.max_body;
        let frame = if frame.body.len() > max_body as usize {
            status_frame(
                id,
                &Status::resource_exhausted(format!(
                    "server: response body of {} bytes exceeds the limit of {max_body} bytes (limits.max_body)",
                    frame.body.len()
                )),
            )
        } else {
            frame
        };
        if let Some(mut observed) = observed {
            let code = Code::from_u8(frame.header.status);
            observed.finish(code, frame.body.len() as u64);
        }
        Some(frame)
    }
}

/// A call that had to wait for its turn (`gate`: a rate limit's line): the wait, then what
/// it skipped on arrival so as to hold nothing while waiting — the hooks that count running
/// calls and the connection's running-call cap. What the hooks hand back is the call's to
/// hold while it runs. Refusals are told to the observer, and marked on `observed` (so the
/// call is counted as refused only, not also as started and finished).
pub(crate) async fn wait_its_turn(
    gate: Gate,
    shared: &Shared,
    in_flight: &InFlight,
    context: &Context,
    header: &Header,
    mut observed: Option<&mut Observed>,
) -> Result<Admitted, Status> {
    let kind = CallKind::of(header.kind);
    let call = CallEvent {
        service: &context.service,
        method: &context.method,
        stream: kind == CallKind::Stream,
    };
    let observer = shared.observer.as_ref();
    let head = CallHead::of_context(context, kind)
        .ok_or_else(|| Status::internal("server: a call without its connection"))?;
    let arrived = Instant::now();
    // Every error of the wait and the caps after it is a refusal the observer was told of.
    let mut refused = |(status, by): (Status, RefusedBy)| {
        if let Some(observed) = observed.as_deref_mut() {
            observed.refused();
        }
        let (names, waited) = ((call.service, call.method), arrived.elapsed());
        refusal_log::log(shared, context.peer(), names, &status, by, waited);
        status
    };
    let held = admission::wait_then_admit(gate, &shared.admission, observer, &call, head)
        .await
        .map_err(&mut refused)?;
    let cap = shared.config.max_in_flight;
    if in_flight.start(header.request_id, cap).is_err() {
        let by = RefusedBy::InFlight;
        let status = admission::refused(observer, &call, by, in_flight::full(cap));
        return Err(refused((status, by)));
    }
    Ok(held)
}

/// A guard for a call's task: if the task ends without finishing the call (dropped early, see
/// `task_guard`), the call's slot is freed and the caller answered `internal` now — unless
/// whoever stopped the task (CANCEL, the deadline, shutdown) took the call out and answered.
/// Best effort from a drop: a full queue loses the answer, and the client's deadline ends it.
pub(crate) fn on_abandon<'a>(
    in_flight: &'a InFlight,
    tx: &'a frame_queue::Sender,
    kind: Kind,
    id: u64,
) -> OnAbandon<impl FnOnce() + 'a> {
    OnAbandon::new(move || {
        if in_flight.finish(id) {
            let status = Status::internal(format!(
                "the call's task {} before answering",
                abandoned_how()
            ));
            if let Some(answer) = answer_frame(kind, id, &status) {
                let _ = tx.try_send(answer.into());
            }
        }
    })
}

/// Log a panic in a call's `part` ("handler", "response stream") and turn it into the call's
/// status. The panic's text stays in the server's log: it may say more than a client should
/// see.
pub(crate) fn panicked(id: u64, part: &str, panic: Box<dyn std::any::Any + Send>) -> Status {
    let what = panic_text(panic.as_ref());
    tracing::error!(id, part, panic = %what, "a call's code panicked");
    Status::internal(format!("the {part} panicked"))
}

fn response_frame(
    id: u64,
    response: Response,
    compression: CompressionId,
    threshold: usize,
    max_frame: Option<usize>,
) -> Frame {
    let mut frame = Frame::new(Kind::RESPONSE, id);
    frame.header.codec = response.codec;
    frame.head.metadata = response.metadata;
    match compress(
        compression,
        response.body,
        threshold,
        &mut frame.header.compression,
    ) {
        Ok(body) => frame.body = body,
        Err(status) => return status_frame(id, &status),
    }
    if let Err(status) = check_answer(&frame) {
        return status_frame(id, &status);
    }
    if let Some(max) = max_frame
        && frame.encoded_len() > max
    {
        let status = Status::resource_exhausted(format!(
            "server: response of {} bytes exceeds this transport's limit of {max} bytes per frame (a datagram; use a stream transport for larger calls)",
            frame.encoded_len()
        ));
        return status_frame(id, &status);
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Frame;
    use std::time::Duration;

    /// A service whose one method never returns.
    struct Hang;
    impl crate::server::Service for Hang {
        fn name(&self) -> &str {
            "hang"
        }
        fn methods(&self) -> &[&'static str] {
            &["hang"]
        }
        fn call(
            &self,
            _: Request,
        ) -> futures_util::future::BoxFuture<'_, Result<Response, Status>> {
            Box::pin(std::future::pending())
        }
    }

    /// Request 1 to the `Hang` service on a server with the default configuration.
    fn hanging_call(tx: frame_queue::Sender, in_flight: Arc<InFlight>) -> CallTask {
        CallTask {
            shared: Arc::new(Shared {
                services: Default::default(),
                admission: vec![],
                on_connect: vec![],
                observer: None,
                config: Default::default(),
                codecs: Default::default(),
                workers: None,
                log_refused_calls: false,
            }),
            tx,
            in_flight,
            service: Arc::new(Hang),
            context: Context::new("hang", "hang", Duration::from_secs(60)),
            header: Frame::new(Kind::REQUEST, 1).header,
            body: Bytes::new(),
            compression: CompressionId::NONE,
            max_frame: None,
            observed: None,
            gate: None,
            seat: None,
        }
    }

    /// Spawning moves a call's whole future; at 1.5 KiB that cost a fifth of the server's
    /// CPU. This guards the shape of `CallTask::run` against growing back.
    #[tokio::test]
    async fn a_calls_task_future_stays_small() {
        let (tx, _rx) = frame_queue::channel(1);
        let future = hanging_call(tx, Default::default()).run();
        let size = std::mem::size_of_val(&future);
        assert!(size <= 1024, "a call's task future is {size} bytes");
    }

    #[tokio::test]
    async fn a_call_task_dropped_early_frees_its_slot_and_answers() {
        let (tx, mut rx) = frame_queue::channel(4);
        let in_flight = Arc::new(InFlight::default());
        let now = tokio::time::Instant::now();
        let deadline = now + Duration::from_secs(60);
        in_flight
            .reserve(1, Kind::REQUEST, now, deadline, 1, None, false)
            .unwrap();
        let task = hanging_call(tx, in_flight.clone());
        let handle = tokio::spawn(task.run());
        in_flight.attach(1, handle.abort_handle());
        tokio::task::yield_now().await;
        // Stopped by something other than `InFlight` (its runtime shutting down, say).
        handle.abort();
        assert!(handle.await.unwrap_err().is_cancelled());
        tokio::time::timeout(Duration::from_secs(1), in_flight.wait_empty())
            .await
            .expect("the slot was freed");
        let answer = rx.try_recv().expect("the caller was answered");
        assert_eq!(answer.frame.header.kind, Kind::RESPONSE);
        assert_eq!(
            answer.frame.header.status,
            crate::status::Code::Internal as u8
        );
        let message = answer.frame.head.message.unwrap();
        assert!(message.contains("was stopped"), "{}", message.as_str());
    }
}
