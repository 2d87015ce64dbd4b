//! The read loop of a connection, shared by client and server.

use std::fmt;
use std::future::pending;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use crate::engine::frame_queue;
use bytes::BytesMut;
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::{Instant, MissedTickBehavior};

use crate::config::HeartbeatConfig;
use crate::engine::control;
use crate::engine::foreign_peer::ForeignPeer;
use crate::engine::heartbeat::{Beat, Heartbeat};
use crate::engine::signal::{Role, Signal};
use crate::engine::task_guard::panic_text;
use crate::observe::CloseReason;
use crate::protocol::{
    Decoded, Frame, FrameDecoder, HEADER_LEN, HeadError, Header, Kind, Limits, MAGIC, ProtocolError,
};

/// What a frame was worth, for flood protection. Only frames the protocol does not allow
/// count against the peer (PROTOCOL.md §8 lists them): whatever a well-behaved peer may send
/// — a call the server refuses, a frame crossing its call's end on the wire — is `Useful`,
/// however little work it turns out to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A frame the protocol allows here.
    Useful,
    /// A frame the peer had no business sending (a PING beyond heartbeats, an unknown kind, a
    /// frame for an id it never used, a malformed one): counts towards the junk limit.
    Junk,
    /// The peer is abusing the connection; close it with this reason.
    Abuse(String),
    /// The peer broke a rule of the protocol that leaves nothing to answer (a call with
    /// request id 0); close it with this reason.
    Violation(String),
}

/// The side-specific half of a connection: what to do with each decoded frame.
pub(crate) trait Endpoint {
    /// A well-formed frame other than PING and PONG.
    fn on_frame(&mut self, frame: Frame) -> Verdict;
    /// A PING with request id `id`: queue its PONG (every PING MUST be answered, PROTOCOL.md
    /// §10), never waiting. A PING counts towards the junk limit, so `Junk` unless
    /// answering shows abuse.
    fn on_ping(&mut self, id: u64) -> Verdict;
    /// A frame over the limits, being skipped.
    fn on_oversized(&mut self, header: Header, reason: String) -> Verdict;
    /// A frame with a malformed header block.
    fn on_bad_head(&mut self, header: Header, error: HeadError) -> Verdict;
    /// The peer answered a PING; true if this side sent one outside the heartbeat (a
    /// probe) that the PONG answers.
    fn on_pong(&mut self) -> bool {
        false
    }
    /// This side's heartbeat PING was answered after `rtt` (a client records it in the
    /// instance's load for network-quality balancing).
    fn on_rtt(&mut self, _rtt: std::time::Duration) {}
    /// Every whole frame of the last read was handled: what was remembered for the frames
    /// of one read (the stream they went to) is to be forgotten.
    fn on_read_done(&mut self) {}
}

/// Why a read loop ended.
#[derive(Debug)]
pub(crate) enum Closed {
    /// The peer closed the stream.
    Eof,
    /// Reading failed.
    Io(std::io::Error),
    /// The peer broke the protocol; the stream cannot be trusted any more.
    Protocol(ProtocolError),
    /// The connection's first bytes are not the erpc magic: the peer speaks another
    /// protocol (a wrong magic later is [`Closed::Protocol`]: an erpc peer out of step).
    NotErpc(ForeignPeer),
    /// Nothing arrived for too many heartbeat intervals.
    HeartbeatTimeout,
    /// A new connection sent no whole frame in time.
    FirstFrameTimeout,
    /// This side asked the loop to stop.
    Stopped,
    /// The writer failed, so the connection is dead.
    WriterFailed,
    /// The peer flooded the connection (junk frames, rapid cancels).
    Abuse(String),
    /// The read loop panicked (a bug): the connection's state cannot be trusted.
    Panicked(String),
    /// The peer broke a rule of the protocol (see [`Verdict::Violation`]).
    Violation(String),
}

impl Closed {
    /// What an observer is told: `draining` says the connection was draining after GOAWAY.
    pub(crate) fn reason(&self, draining: bool) -> CloseReason {
        match self {
            Closed::Eof if draining => CloseReason::GoAway,
            Closed::Eof => CloseReason::PeerClosed,
            Closed::Stopped if draining => CloseReason::GoAway,
            Closed::Stopped => CloseReason::Local,
            Closed::HeartbeatTimeout => CloseReason::Heartbeat,
            Closed::FirstFrameTimeout => CloseReason::FirstFrameTimeout,
            Closed::Protocol(e) => CloseReason::Protocol(e.to_string()),
            Closed::NotErpc(foreign) => CloseReason::Protocol(foreign.to_string()),
            Closed::Violation(why) => CloseReason::Protocol(why.clone()),
            Closed::Abuse(why) => CloseReason::Abuse(why.clone()),
            Closed::Io(e) => CloseReason::Io(e.to_string()),
            Closed::WriterFailed | Closed::Panicked(_) => CloseReason::Io(self.to_string()),
        }
    }
}

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Closed::Eof => write!(f, "connection closed by peer"),
            Closed::Io(e) => write!(f, "connection failed: {e}"),
            Closed::Protocol(e) => write!(f, "protocol error: {e}"),
            Closed::NotErpc(foreign) => write!(f, "{foreign}"),
            Closed::HeartbeatTimeout => write!(f, "peer stopped answering heartbeats"),
            Closed::FirstFrameTimeout => write!(f, "no frame within the first-frame deadline"),
            Closed::Stopped => write!(f, "connection closed locally"),
            Closed::WriterFailed => write!(f, "connection failed while writing"),
            Closed::Abuse(why) => write!(f, "connection closed for abuse: {why}"),
            Closed::Panicked(what) => write!(f, "the connection's reader panicked: {what}"),
            Closed::Violation(why) => write!(f, "protocol violation: {why}"),
        }
    }
}

/// Settings of one read loop.
pub(crate) struct ReadConfig {
    pub limits: Limits,
    pub heartbeat: HeartbeatConfig,
    pub first_frame_timeout: Option<Duration>,
    /// Frames the protocol does not allow ([`Verdict::Junk`]) accepted per heartbeat interval.
    pub max_junk_frames: u32,
}

/// Read and dispatch frames until the connection ends. A panic in here (a bug) ends the
/// connection like any other reason, so its calls are failed or aborted at once instead of
/// the connection staying half open with nobody reading it.
pub(crate) async fn read_loop<R: AsyncRead + Unpin, E: Endpoint>(
    io: R,
    config: ReadConfig,
    tx: &frame_queue::Sender,
    stop: &Signal,
    dead: &Signal,
    endpoint: &mut E,
) -> Closed {
    AssertUnwindSafe(read_frames(io, config, tx, stop, dead, endpoint))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let what = panic_text(panic.as_ref()).to_owned();
            tracing::error!(panic = %what, "a connection's read loop panicked");
            Closed::Panicked(what)
        })
}

async fn read_frames<R: AsyncRead + Unpin, E: Endpoint>(
    mut io: R,
    config: ReadConfig,
    tx: &frame_queue::Sender,
    stop: &Signal,
    dead: &Signal,
    endpoint: &mut E,
) -> Closed {
    // Reads start small and double while they fill the buffer (a busy connection), up to
    // MAX_CHUNK; an idle connection gives its buffer back at a heartbeat tick. 64 KiB per
    // connection from the start cost half a megabyte per connection pair (BENCHMARKS.md).
    const MIN_CHUNK: usize = 8 * 1024;
    const MAX_CHUNK: usize = 64 * 1024;
    // What an idle connection waits with: enough for a PING or a small call, so ten thousand
    // idle connections do not each hold MIN_CHUNK. A burst after idling costs one more read.
    const IDLE_CHUNK: usize = 512;
    let mut chunk = MIN_CHUNK;
    let mut buf = BytesMut::new();
    let mut decoder = FrameDecoder::new(config.limits);
    let mut heartbeat = Heartbeat::new(config.heartbeat.misses);
    let interval = config.heartbeat.interval;
    let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut first_frame_by = config.first_frame_timeout.map(|t| Instant::now() + t);
    // Whether the connection's first bytes were the magic: until then, any other byte means
    // a peer of another protocol, told at its first byte rather than after a whole header.
    let mut magic_seen = false;
    // Junk frames since the last heartbeat tick. An idle peer sends one or two (its pings);
    // a flood sends thousands.
    let mut junk = 0u32;
    // PINGs this loop sent whose PONG has not come: a PONG answering one is no junk.
    let mut awaiting_pongs = 0u32;
    // When the last heartbeat PING went out: its PONG measures the round trip.
    let mut pinged_at: Option<Instant> = None;
    let stopped = stop.fired(Role::Reader);
    let died = dead.fired(Role::Reader);
    tokio::pin!(stopped, died);
    loop {
        if buf.capacity() - buf.len() < chunk / 8 {
            buf.reserve(decoder.wanted(&buf).clamp(chunk, 4 * MAX_CHUNK));
        }
        let spare = buf.capacity() - buf.len();
        let first_frame_timer = async {
            match first_frame_by {
                Some(at) => tokio::time::sleep_until(at).await,
                None => pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = &mut stopped => return Closed::Stopped,
            _ = &mut died => return Closed::WriterFailed,
            read = io.read_buf(&mut buf) => match read {
                Ok(0) => return Closed::Eof,
                Ok(n) => {
                    heartbeat.heard();
                    chunk = if n >= spare { (chunk * 2).min(MAX_CHUNK) } else { chunk };
                    if !magic_seen {
                        if let Some(foreign) = ForeignPeer::check(&buf) {
                            return Closed::NotErpc(foreign);
                        }
                        magic_seen = buf.len() >= MAGIC.len();
                    }
                }
                Err(e) => return Closed::Io(e),
            },
            _ = ticker.tick() => {
                junk = 0;
                if buf.is_empty() {
                    // Nothing half-read: an idle connection keeps no read buffer, and the
                    // next reads start from IDLE_CHUNK (a PONG must not re-reserve MIN_CHUNK:
                    // that undid the release on every heartbeat round trip). Nor does it keep
                    // writer-queue slots.
                    buf = BytesMut::new();
                    chunk = IDLE_CHUNK;
                    tx.release_if_empty();
                }
                match heartbeat.tick() {
                    Beat::Alive => {}
                    // A full queue means traffic is flowing; the ping can wait a tick.
                    Beat::Ping => {
                        if tx.try_send(control(Kind::PING, 0)).is_ok() {
                            awaiting_pongs = awaiting_pongs.saturating_add(1);
                            pinged_at = Some(Instant::now());
                        }
                    }
                    Beat::Dead => return Closed::HeartbeatTimeout,
                }
                continue;
            }
            _ = first_frame_timer => return Closed::FirstFrameTimeout,
        }
        loop {
            let decoded = match decoder.decode(&mut buf) {
                Ok(Some(decoded)) => decoded,
                Ok(None) => {
                    endpoint.on_read_done();
                    if buf.len() >= HEADER_LEN {
                        // A valid header is in (a bad one is an error above): the peer speaks
                        // erpc, and a large first frame may take longer than the deadline.
                        first_frame_by = None;
                    }
                    break;
                }
                Err(e) => return Closed::Protocol(e),
            };
            first_frame_by = None;
            let verdict = match decoded {
                Decoded::Frame(frame) => match frame.header.kind {
                    Kind::PING => endpoint.on_ping(frame.header.request_id),
                    Kind::PONG => {
                        if endpoint.on_pong() {
                            Verdict::Useful
                        } else if awaiting_pongs > 0 {
                            awaiting_pongs -= 1;
                            if let Some(at) = pinged_at.take() {
                                endpoint.on_rtt(at.elapsed());
                            }
                            Verdict::Useful
                        } else {
                            Verdict::Junk
                        }
                    }
                    _ => endpoint.on_frame(frame),
                },
                Decoded::Oversized { header, reason } => endpoint.on_oversized(header, reason),
                Decoded::BadHead { header, error } => endpoint.on_bad_head(header, error),
            };
            match verdict {
                Verdict::Useful => {}
                Verdict::Junk => {
                    junk += 1;
                    if junk > config.max_junk_frames {
                        return Closed::Abuse(format!(
                            "more than {} frames the protocol does not allow here (pings, unknown kinds, malformed or oversized frames, frames for ids never used) within one heartbeat interval",
                            config.max_junk_frames
                        ));
                    }
                }
                Verdict::Abuse(why) => return Closed::Abuse(why),
                Verdict::Violation(why) => return Closed::Violation(why),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An endpoint with a bug: it panics on the first frame.
    struct Buggy;

    impl Endpoint for Buggy {
        fn on_frame(&mut self, _: Frame) -> Verdict {
            panic!("a bug on purpose")
        }
        fn on_ping(&mut self, _: u64) -> Verdict {
            Verdict::Junk
        }
        fn on_oversized(&mut self, _: Header, _: String) -> Verdict {
            Verdict::Junk
        }
        fn on_bad_head(&mut self, _: Header, _: HeadError) -> Verdict {
            Verdict::Junk
        }
    }

    #[tokio::test]
    async fn a_panic_while_reading_ends_the_connection_with_the_reason() {
        let (mut peer, io) = tokio::io::duplex(1024);
        let mut bytes = BytesMut::new();
        Frame::new(Kind::CANCEL, 1).encode(&mut bytes).unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut peer, &bytes)
            .await
            .unwrap();
        let (tx, _rx) = frame_queue::channel(4);
        let config = ReadConfig {
            limits: Limits::default(),
            heartbeat: HeartbeatConfig::default(),
            first_frame_timeout: None,
            max_junk_frames: 10,
        };
        let (stop, dead) = (Signal::default(), Signal::default());
        let closed = read_loop(io, config, &tx, &stop, &dead, &mut Buggy).await;
        assert!(
            matches!(&closed, Closed::Panicked(what) if what == "a bug on purpose"),
            "{closed}"
        );
    }
}
