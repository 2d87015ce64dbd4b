//! The engine's byte stream over QUIC, one QUIC stream per call.
//!
//! The engine writes whole frames; [`QuicIo`] cuts them apart and routes each by request id:
//! - The client opens a bidirectional stream with a call's first frame (REQUEST, ONEWAY or
//!   STREAM_OPEN); every later frame of that call, in both directions, travels on it.
//! - A side finishes its half once it has sent its last frame of the call: the server after
//!   RESPONSE or its STREAM_END (or at once for ONEWAY, or when it reads CANCEL), the client
//!   after ONEWAY or CANCEL, or when it reads the server's last frame.
//! - Connection frames (request id 0: PING, PONG, GOAWAY, ERROR) and any frame whose call has
//!   no open stream any more go on each side's one unidirectional *control* stream. Frames
//!   mean the same wherever they arrive, because they carry their request id.
//!
//! Reading, every stream's frames are read whole and handed to the engine one frame at a
//! time, so frames of different calls interleave only at frame boundaries. Memory is
//! bounded both ways by byte budgets: whole frames waiting for the engine, and frames the
//! engine wrote that a stream has not sent yet. A full budget pushes back (QUIC flow control
//! then stops the peer), as a full socket buffer does on TCP.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use quinn::{Connection, RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::PollSemaphore;
use tokio_util::task::TaskTracker;

use crate::frames::{FrameInfo, HEADER_LEN, Splitter, kind};

/// Which end of the connection this is: the client opens call streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

/// QUIC application error code for a connection closed normally.
const CLOSED: u32 = 0;
/// QUIC application error code for a peer that broke erpc's framing.
const PROTOCOL_ERROR: u32 = 1;

/// How long closing waits for streams to deliver what was written.
const LINGER: Duration = Duration::from_secs(2);

/// Something for a stream's writer task.
enum Out {
    Frame(Bytes, OwnedSemaphorePermit),
    Finish,
}

type Route = mpsc::UnboundedSender<Out>;

/// What the engine's read side receives.
enum Arrival {
    /// A whole frame, holding its share of the read budget.
    Frame(Bytes, OwnedSemaphorePermit),
    /// The connection ended: cleanly (`Ok`) or not.
    End(io::Result<()>),
}

/// What the connection's tasks share.
struct Shared {
    conn: Connection,
    side: Side,
    /// The open call streams' writers, by request id.
    routes: Mutex<HashMap<u64, Route>>,
    /// This side's control stream writer, opened at first use.
    control: Mutex<Option<Route>>,
    /// Whole frames read, for the engine.
    frames: mpsc::Sender<Arrival>,
    /// Bytes of frames read and not yet taken by the engine.
    read_budget: Arc<Semaphore>,
    max_frame: usize,
    /// Stream writers, so closing can wait for them to deliver.
    writers: TaskTracker,
}

impl Shared {
    fn lock_routes(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Route>> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Send `frame` on its call's stream, opening one for a call's first frame (client), or
    /// on the control stream.
    fn route(self: &Arc<Self>, info: FrameInfo, frame: Bytes, permit: OwnedSemaphorePermit) {
        let id = info.request_id;
        let last = match self.side {
            Side::Server => info.ends_call_from_server(),
            Side::Client => matches!(info.kind, kind::ONEWAY | kind::CANCEL),
        };
        let mut routes = self.lock_routes();
        if id != 0 {
            if let Some(route) = routes.get(&id) {
                let _ = route.send(Out::Frame(frame, permit));
                if last && let Some(route) = routes.remove(&id) {
                    let _ = route.send(Out::Finish);
                }
                return;
            }
            if self.side == Side::Client && info.opens_call() {
                let (route, rx) = mpsc::unbounded_channel();
                let _ = route.send(Out::Frame(frame, permit));
                if last {
                    let _ = route.send(Out::Finish);
                } else {
                    routes.insert(id, route);
                }
                drop(routes);
                let shared = self.clone();
                self.writers.spawn(async move {
                    match shared.conn.open_bi().await {
                        Ok((send, recv)) => {
                            tokio::spawn(read_stream(shared.clone(), recv, None));
                            write_stream(send, rx).await;
                        }
                        Err(e) => tracing::debug!(error = %e, "cannot open a QUIC stream"),
                    }
                });
                return;
            }
        }
        drop(routes);
        self.send_control(Out::Frame(frame, permit));
    }

    fn send_control(self: &Arc<Self>, out: Out) {
        let mut control = self.control.lock().unwrap_or_else(|p| p.into_inner());
        let route = control.get_or_insert_with(|| {
            let (route, rx) = mpsc::unbounded_channel();
            let conn = self.conn.clone();
            self.writers.spawn(async move {
                match conn.open_uni().await {
                    Ok(send) => write_stream(send, rx).await,
                    Err(e) => tracing::debug!(error = %e, "cannot open the QUIC control stream"),
                }
            });
            route
        });
        let _ = route.send(out);
    }

    /// Finish this side's half of call `id`, if it is still open.
    fn finish(&self, id: u64) {
        if let Some(route) = self.lock_routes().remove(&id) {
            let _ = route.send(Out::Finish);
        }
    }

    /// Finish every stream: the engine wrote its last frame.
    fn finish_all(self: &Arc<Self>) {
        for (_, route) in self.lock_routes().drain() {
            let _ = route.send(Out::Finish);
        }
        if let Some(control) = self
            .control
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = control.send(Out::Finish);
        }
    }
}

/// Write a stream's frames until told to finish (or every sender is gone), then wait, briefly,
/// until the peer has them.
async fn write_stream(mut send: SendStream, mut rx: mpsc::UnboundedReceiver<Out>) {
    while let Some(out) = rx.recv().await {
        match out {
            Out::Frame(bytes, permit) => {
                let written = send.write_chunk(bytes).await;
                drop(permit);
                if written.is_err() {
                    return;
                }
            }
            Out::Finish => break,
        }
    }
    let _ = send.finish();
    let _ = tokio::time::timeout(LINGER, send.stopped()).await;
}

/// Read whole frames from one stream for the engine. On the server, `send` is the accepted
/// stream's other half, registered as the call's route once its first frame is known.
async fn read_stream(shared: Arc<Shared>, mut recv: RecvStream, mut send: Option<SendStream>) {
    loop {
        let mut header = [0u8; HEADER_LEN];
        if recv.read_exact(&mut header).await.is_err() {
            // Finished (normally between frames) or reset: nothing more comes.
            return;
        }
        let Some(info) = FrameInfo::parse(&header) else {
            // Not a frame: hand the engine the bytes so that it answers the peer with a
            // protocol error and closes, as on any other transport.
            if let Ok(permit) = shared
                .read_budget
                .clone()
                .acquire_many_owned(HEADER_LEN as u32)
                .await
            {
                let _ = shared
                    .frames
                    .send(Arrival::Frame(Bytes::copy_from_slice(&header), permit))
                    .await;
            }
            return;
        };
        if info.len > shared.max_frame as u64 {
            let reason = format!(
                "frame of {} bytes exceeds this QUIC link's limit of {} bytes",
                info.len, shared.max_frame
            );
            tracing::debug!(%reason, "closing QUIC connection");
            shared
                .conn
                .close(quinn::VarInt::from_u32(PROTOCOL_ERROR), reason.as_bytes());
            return;
        }
        let len = info.len as usize;
        let Ok(permit) = shared
            .read_budget
            .clone()
            .acquire_many_owned(len as u32)
            .await
        else {
            return;
        };
        let mut frame = BytesMut::with_capacity(len);
        frame.extend_from_slice(&header);
        frame.resize(len, 0);
        if recv.read_exact(&mut frame[HEADER_LEN..]).await.is_err() {
            return;
        }
        if let Some(send) = send.take() {
            if info.kind == kind::ONEWAY {
                let mut send = send;
                let _ = send.finish();
            } else {
                let (route, rx) = mpsc::unbounded_channel();
                shared.lock_routes().insert(info.request_id, route);
                shared.writers.spawn(write_stream(send, rx));
            }
        }
        match (shared.side, info.kind) {
            (Side::Client, _) if info.ends_call_from_server() => shared.finish(info.request_id),
            (Side::Server, kind::CANCEL) => shared.finish(info.request_id),
            _ => {}
        }
        if shared
            .frames
            .send(Arrival::Frame(frame.freeze(), permit))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Accept the peer's streams for as long as the connection lives, then tell the engine how
/// it ended (its frames already read come first).
async fn accept_streams(shared: Arc<Shared>) {
    let conn = shared.conn.clone();
    let ended = loop {
        tokio::select! {
            bi = conn.accept_bi(), if shared.side == Side::Server => match bi {
                Ok((send, recv)) => { tokio::spawn(read_stream(shared.clone(), recv, Some(send))); }
                Err(e) => break e,
            },
            uni = conn.accept_uni() => match uni {
                Ok(recv) => { tokio::spawn(read_stream(shared.clone(), recv, None)); }
                Err(e) => break e,
            },
        }
    };
    let _ = shared.frames.send(Arrival::End(end_result(&ended))).await;
}

/// How the engine sees a connection's end: a normal close is the end of the stream, anything
/// else (the peer vanished, refused our certificate, broke the protocol) an error.
fn end_result(e: &quinn::ConnectionError) -> io::Result<()> {
    match e {
        quinn::ConnectionError::ApplicationClosed(c)
            if c.error_code == quinn::VarInt::from_u32(CLOSED) =>
        {
            Ok(())
        }
        quinn::ConnectionError::LocallyClosed => Ok(()),
        e => Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!("QUIC connection lost: {e}"),
        )),
    }
}

/// A QUIC connection as the engine's byte stream.
pub(crate) struct QuicIo {
    shared: Arc<Shared>,
    frames: mpsc::Receiver<Arrival>,
    /// The frame being read out, with its share of the read budget.
    reading: Option<(Bytes, OwnedSemaphorePermit)>,
    /// How the connection ended, once it has.
    ended: Option<io::Result<()>>,
    splitter: Splitter,
    /// Budget for bytes written and not yet sent by a stream.
    write_budget: PollSemaphore,
    /// The budget held by a partly written frame.
    held: Option<OwnedSemaphorePermit>,
    shut: bool,
    _endpoint: Option<quinn::Endpoint>,
}

impl QuicIo {
    pub(crate) fn new(
        conn: Connection,
        endpoint: Option<quinn::Endpoint>,
        side: Side,
        max_frame: usize,
    ) -> QuicIo {
        let budget = (4 * max_frame).clamp(16 << 20, u32::MAX as usize >> 1);
        let (tx, frames) = mpsc::channel(1024);
        let shared = Arc::new(Shared {
            conn,
            side,
            routes: Mutex::default(),
            control: Mutex::default(),
            frames: tx,
            read_budget: Arc::new(Semaphore::new(budget)),
            max_frame,
            writers: TaskTracker::new(),
        });
        tokio::spawn(accept_streams(shared.clone()));
        QuicIo {
            shared,
            frames,
            reading: None,
            ended: None,
            splitter: Splitter::default(),
            write_budget: PollSemaphore::new(Arc::new(Semaphore::new(budget))),
            held: None,
            shut: false,
            _endpoint: endpoint,
        }
    }
}

impl AsyncRead for QuicIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if let Some((bytes, _)) = &mut self.reading {
                crate::link::read_pending(bytes, buf);
                if bytes.is_empty() {
                    self.reading = None;
                }
                return Poll::Ready(Ok(()));
            }
            if let Some(ended) = &self.ended {
                return Poll::Ready(match ended {
                    Ok(()) => Ok(()),
                    Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
                });
            }
            match ready!(self.frames.poll_recv(cx)) {
                Some(Arrival::Frame(bytes, permit)) => self.reading = Some((bytes, permit)),
                Some(Arrival::End(how)) => self.ended = Some(how),
                None => self.ended = Some(Ok(())),
            }
        }
    }
}

impl AsyncWrite for QuicIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.shared.conn.close_reason() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                e.to_string(),
            )));
        }
        // Accept at most 1 MiB per call, so one write never needs the whole budget.
        let n = buf.len().min(1 << 20);
        let Some(permit) = ready!(self.write_budget.poll_acquire_many(cx, n as u32)) else {
            return Poll::Ready(Err(io::Error::other("QUIC write budget closed")));
        };
        let mut held = match self.held.take() {
            Some(mut held) => {
                held.merge(permit);
                held
            }
            None => permit,
        };
        self.splitter.push(&buf[..n]);
        while let Some((info, frame)) = self.splitter.next_frame()? {
            let Some(share) = held.split(frame.len()) else {
                return Poll::Ready(Err(io::Error::other("QUIC write budget miscounted")));
            };
            self.shared.route(info, frame, share);
        }
        if held.num_permits() > 0 {
            self.held = Some(held);
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Frames go to their streams' writers as soon as they are whole.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.shut {
            self.shut = true;
            let shared = self.shared.clone();
            shared.finish_all();
            tokio::spawn(async move {
                shared.writers.close();
                let _ = tokio::time::timeout(LINGER, shared.writers.wait()).await;
                shared
                    .conn
                    .close(quinn::VarInt::from_u32(CLOSED), b"closed");
            });
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for QuicIo {
    fn drop(&mut self) {
        if !self.shut {
            self.shared
                .conn
                .close(quinn::VarInt::from_u32(CLOSED), b"dropped");
        }
    }
}
