//! What a client connection's reader does with each frame: completes calls by request id,
//! routes stream frames, answers PINGs, and takes GOAWAY and ERROR. Mirrors the server's
//! endpoint.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use crate::engine::frame_queue;

use crate::client::conn::Shared;
use crate::engine::reader::{Endpoint, Verdict};
use crate::engine::stream::{LastStream, route_stream_frame};
use crate::engine::{control, queue_or_spawn};
use crate::protocol::{Frame, HeadError, Header, Kind};
use crate::status::{Code, Status};

pub(super) struct ClientEndpoint {
    pub(super) shared: Arc<Shared>,
    pub(super) tx: frame_queue::Sender,
    /// The instance's load, to record PING round trips in (a discovered service's).
    pub(super) load: Option<Arc<crate::discovery::Load>>,
    /// The stream this read's previous stream frame went to.
    pub(super) last_stream: LastStream,
    /// Whether the server has sent anything yet: a connection that dies before it has
    /// never carried a word from a server (a TLS 1.3 server refusing this side's
    /// certificate, or wanting one, says so only after the dial succeeded).
    pub(super) heard: bool,
    /// When the current read's first answer was handled, for a connection whose calls
    /// are timed (it has a load): one clock read per socket read, shared by the answers it
    /// carried, ends their latency samples.
    pub(super) read_at: Option<Instant>,
}

impl ClientEndpoint {
    /// When this read's answers arrived, for a connection whose calls are timed.
    fn answered_at(&mut self) -> Option<Instant> {
        self.load.as_ref()?;
        Some(*self.read_at.get_or_insert_with(Instant::now))
    }
}

impl Endpoint for ClientEndpoint {
    fn on_ping(&mut self, id: u64) -> Verdict {
        // A server sends at most one per heartbeat interval unless it floods, which the junk
        // limit stops; so waiting answers stay few.
        queue_or_spawn(&self.tx, control(Kind::PONG, id));
        Verdict::Junk
    }

    fn on_pong(&mut self) -> bool {
        self.shared.pong.notify_waiters();
        self.shared
            .probes_out
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    fn on_read_done(&mut self) {
        self.last_stream.forget();
        self.heard = true;
        self.read_at = None;
    }

    fn on_rtt(&mut self, rtt: std::time::Duration) {
        if let Some(load) = &self.load {
            load.record_rtt(rtt);
        }
    }

    fn on_frame(&mut self, frame: Frame) -> Verdict {
        match frame.header.kind {
            Kind::RESPONSE => {
                // Answers to calls we gave up on are expected, and no flood.
                let at = self.answered_at();
                self.shared.complete(frame.header.request_id, Ok(frame), at);
                Verdict::Useful
            }
            kind if kind.is_stream_traffic() => {
                let id = frame.header.request_id;
                // STREAM_END from the server finishes the call: out of the table at once.
                let ended = frame.header.kind == Kind::STREAM_END;
                if !ended {
                    let shared = &self.shared;
                    return match self.last_stream.get(id, || shared.stream(id, false)) {
                        Some(state) => route_stream_frame(state, frame),
                        // A stream we gave up on; its frames were already on their way.
                        None => Verdict::Useful,
                    };
                }
                self.last_stream.forget();
                let Some(state) = self.shared.stream(id, true) else {
                    return Verdict::Useful;
                };
                let verdict = route_stream_frame(&state, frame);
                if ended {
                    // Nothing more to send (the feeder stops) or to cancel.
                    state.stop_sending(Status::cancelled("the server ended the call"));
                }
                verdict
            }
            Kind::GOAWAY => {
                tracing::debug!(last = frame.header.request_id, "server is going away");
                self.shared.draining.store(true, Ordering::Release);
                Verdict::Useful
            }
            Kind::ERROR => {
                let message = frame
                    .head
                    .message
                    .as_ref()
                    .map_or("connection error", |m| m.as_str());
                let code = Code::from_u8(frame.header.status);
                tracing::warn!(%code, message, "server reported a connection error");
                self.shared.kill(Status::new(
                    code,
                    format!("server closed the connection: {message}"),
                ));
                Verdict::Useful
            }
            Kind::REQUEST => {
                let reply = crate::status_wire::status_frame(
                    frame.header.request_id,
                    &Status::unimplemented("this client serves no calls"),
                );
                let _ = self.tx.try_send(reply.into());
                Verdict::Junk
            }
            other => {
                tracing::debug!(kind = ?other, "ignoring frame");
                Verdict::Junk
            }
        }
    }

    fn on_oversized(&mut self, header: Header, reason: String) -> Verdict {
        self.last_stream.forget();
        if let Some(state) = self.shared.stream(header.request_id, true) {
            let _ = self.tx.try_send(control(Kind::CANCEL, header.request_id));
            state.fail(Status::resource_exhausted(format!(
                "client refused a stream message: {reason}"
            )));
        } else if header.kind == Kind::RESPONSE {
            let at = self.answered_at();
            self.shared.complete(
                header.request_id,
                Err(Status::resource_exhausted(format!(
                    "client refused the response: {reason}"
                ))),
                at,
            );
        }
        // Over this client's limits, which PROTOCOL.md §8 states.
        Verdict::Junk
    }

    fn on_bad_head(&mut self, header: Header, error: HeadError) -> Verdict {
        if header.kind == Kind::RESPONSE {
            let at = self.answered_at();
            self.shared.complete(
                header.request_id,
                Err(Status::internal(format!("malformed response: {error}"))),
                at,
            );
        }
        Verdict::Junk
    }
}
