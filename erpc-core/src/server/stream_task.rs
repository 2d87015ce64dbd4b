//! A streaming call's task: the handler (behind the server's layers, which see the opening), then its response
//! stream sent message by message under flow control, ended by STREAM_END with the outcome.

use crate::codec_failure::Site;
use crate::observe::{Direction, Side, StreamWatch};
use crate::server::observed::Observed;
use crate::status::Code;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::{FutureExt, StreamExt};

use crate::context::Context;
use crate::deadline;
use crate::engine::stream::{Outbound, Started};
use crate::protocol::Header;
use crate::server::admission::Gate;
use crate::server::call_task::{on_abandon, panicked, wait_its_turn};
use crate::server::in_flight::InFlight;
use crate::server::stall_watch;
use crate::server::{Shared, StreamRequest};
use crate::status::Status;
use crate::stream::{Incoming, Outgoing};

pub(crate) struct StreamTask {
    pub(crate) shared: Arc<Shared>,
    pub(crate) outbound: Outbound,
    pub(crate) in_flight: Arc<InFlight>,
    pub(crate) service: Arc<dyn crate::server::Service>,
    pub(crate) context: Context,
    pub(crate) header: Header,
    /// Reports the call's end to the server's observer, if it has one.
    pub(crate) observed: Option<Box<Observed>>,
    /// What a header-level hook made the call wait for before it runs (a rate limit's line).
    pub(crate) gate: Option<Gate>,
}

impl StreamTask {
    pub(crate) async fn run(self) {
        let StreamTask {
            shared,
            mut outbound,
            in_flight,
            service,
            context,
            header,
            mut observed,
            gate,
        } = self;
        let id = header.request_id;
        let deadline = context.deadline;
        let state = outbound.state.clone();
        // STREAM_END goes on the data queue, behind the stream's messages.
        let data = outbound.data.clone();
        let abandoned = on_abandon(&in_flight, &data, header.kind, id);
        let work = async {
            let mut context = context;
            // What the caps taken after the wait hand back: held while the stream runs.
            let mut _held = None;
            if let Some(gate) = gate {
                let waited = observed.as_deref_mut();
                let mut held =
                    wait_its_turn(gate, &shared, &in_flight, &context, &header, waited).await?;
                context.extensions.extend(held.take_extensions());
                _held = Some(held);
            }
            // Admitted: it runs (started now if it waited for its gate).
            if let Some(observed) = observed.as_deref_mut() {
                observed.running();
            }
            let detach = state.clone();
            let call = (context.service.clone(), context.method.clone());
            let watch = shared.observer.as_ref().map(|observer| StreamWatch {
                observer: observer.clone(),
                side: Side::Server,
                service: call.0.clone(),
                method: call.1.clone(),
                call: None,
            });
            let incoming = Incoming::new(
                state.clone(),
                shared.codecs.clone(),
                shared.config.limits,
                None,
                Box::new(move || detach.inbox.detach()),
                Site::ServerRequest,
                call,
            )
            .watched(watch.clone());
            let request =
                StreamRequest::new(context, header.codec, shared.codecs.clone(), incoming);
            // Polled with panics caught, so a panic while producing a message is told apart
            // from one in the handler.
            let mut responses = AssertUnwindSafe(service.stream(request).await?).catch_unwind();
            while let Some(item) = outbound.next_from(&mut responses).await? {
                let item = item.map_err(|panic| panicked(id, "response stream", panic))?;
                match item? {
                    Outgoing::Message(response) => {
                        if let Some(watch) = &watch {
                            watch.message(Direction::Sent, response.body.len());
                        }
                        match outbound.start(response.codec, response.body)? {
                            Started::Batched { flush: false } => {}
                            started => outbound.finish(response.codec, started).await?,
                        }
                    }
                    Outgoing::Dropped(count) => outbound.gap(count).await?,
                }
            }
            Ok::<(), Status>(())
        };
        // Cancellation, the deadline and shutdown abort this task through `InFlight`, and
        // answer for it.
        let outcome = deadline::scope(
            deadline,
            stall_watch::watched(AssertUnwindSafe(work).catch_unwind()),
        )
        .await;
        abandoned.disarm();
        if !in_flight.finish(id) {
            return;
        }
        let status = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(status)) => Some(status),
            Err(panic) => Some(panicked(id, "handler", panic)),
        };
        if let Some(mut observed) = observed {
            observed.finish(status.as_ref().map_or(Code::Ok, |s| s.code()), 0);
        }
        let _ = outbound.end(status.as_ref()).await;
    }
}
