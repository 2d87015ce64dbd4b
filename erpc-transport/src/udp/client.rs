//! The UDP client: the cookie handshake, then frames with the cookie, retransmitting requests
//! until they are answered.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::cookie::Cookie;
use super::io::{DatagramIo, End};
use super::parse::{AtClient, at_client};
use super::retransmit::Unanswered;
use super::{MAX_DATAGRAM, dgram, whole_frame};
use crate::frames::{FrameInfo, UDP_MAX_FRAME, kind};
use crate::link::{Link, PeerAddr};
use crate::options::Options;

/// How often a HELLO is repeated while no COOKIE has come back.
const HELLO_EVERY: Duration = Duration::from_millis(250);
/// How often unanswered requests are checked.
const TICK: Duration = Duration::from_millis(50);

struct State {
    cookie: Cookie,
    unanswered: Unanswered,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn client_datagram(cookie: &Cookie, frame: &[u8]) -> Bytes {
    let mut d = BytesMut::with_capacity(dgram::CLIENT_PREFIX + frame.len());
    d.put_u8(dgram::CLIENT_FRAME);
    d.put_slice(cookie);
    d.put_slice(frame);
    d.freeze()
}

/// Run the cookie handshake on a connected socket.
async fn handshake(socket: &UdpSocket) -> io::Result<Cookie> {
    let mut hello = [0u8; dgram::MIN_HELLO];
    hello[0] = dgram::HELLO;
    let mut buf = [0u8; 64];
    loop {
        socket.send(&hello).await?;
        match tokio::time::timeout(HELLO_EVERY, socket.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                if let AtClient::Cookie(cookie) = at_client(&buf[..n]) {
                    return Ok(cookie);
                }
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {}
        }
    }
}

/// Dial `host:port`: validate the address, then start the connection's tasks.
pub(crate) async fn connect(hostport: &str, options: &Options) -> io::Result<Link> {
    let server: SocketAddr = crate::address::resolve(hostport).await?;
    let socket = UdpSocket::bind(crate::address::wildcard_for(server)).await?;
    socket.connect(server).await?;
    let cookie = crate::handshake::within(
        options.handshake_timeout,
        "UDP cookie handshake",
        handshake(&socket),
    )
    .await?;
    let socket = Arc::new(socket);
    let state = Arc::new(Mutex::new(State {
        cookie,
        unanswered: Unanswered::default(),
    }));
    let (arrivals, rx) = mpsc::channel(1024);
    let reader = tokio::spawn(receive(socket.clone(), state.clone(), arrivals));
    let resender = tokio::spawn(resend(socket.clone(), state.clone()));
    let end = ClientEnd {
        socket,
        state,
        tasks: [reader, resender],
    };
    let mut link = Link::new(Box::new(DatagramIo::new(end, rx)), PeerAddr::Udp(server));
    link.max_frame = Some(UDP_MAX_FRAME);
    link.streaming = false;
    Ok(link)
}

/// Receive the server's datagrams: frames for the engine, fresh cookies for the state.
async fn receive(
    socket: Arc<UdpSocket>,
    state: Arc<Mutex<State>>,
    arrivals: mpsc::Sender<io::Result<Bytes>>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let n = match socket.recv(&mut buf).await {
            Ok(n) => n,
            // The server's port is closed (an ICMP error for a datagram we sent): the
            // server is gone, and the engine should fail its calls now.
            Err(e) => {
                let _ = arrivals.send(Err(e)).await;
                return;
            }
        };
        match at_client(&buf[..n]) {
            AtClient::Cookie(cookie) => {
                let resend = {
                    let mut s = lock(&state);
                    s.cookie = cookie;
                    // Requests sent with a stale cookie were dropped: send them again.
                    s.unanswered.due(Instant::now(), true)
                };
                send_all(&socket, &state, resend).await;
            }
            AtClient::Frame(frame) => match whole_frame(frame) {
                Ok(info) => {
                    if info.ends_call_from_server() {
                        lock(&state).unanswered.done(info.request_id);
                    }
                    if arrivals
                        .send(Ok(Bytes::copy_from_slice(frame)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "malformed datagram from the server dropped")
                }
            },
            AtClient::Ignore => {
                tracing::debug!(len = n, "unknown datagram from the server dropped")
            }
        }
    }
}

async fn send_all(socket: &UdpSocket, state: &Mutex<State>, frames: Vec<Bytes>) {
    let cookie = lock(state).cookie;
    for frame in frames {
        let _ = socket.send(&client_datagram(&cookie, &frame)).await;
    }
}

/// Send unanswered requests again when they are due.
async fn resend(socket: Arc<UdpSocket>, state: Arc<Mutex<State>>) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tick.tick().await;
        let due = lock(&state).unanswered.due(Instant::now(), false);
        if !due.is_empty() {
            send_all(&socket, &state, due).await;
        }
    }
}

/// The client's end.
struct ClientEnd {
    socket: Arc<UdpSocket>,
    state: Arc<Mutex<State>>,
    tasks: [JoinHandle<()>; 2],
}

impl End for ClientEnd {
    fn datagram(&mut self, info: FrameInfo, frame: Bytes) -> Bytes {
        let mut state = lock(&self.state);
        let datagram = client_datagram(&state.cookie, &frame);
        match info.kind {
            // Kept for retransmission: the frame's own bytes, shared, not copied.
            kind::REQUEST => state
                .unanswered
                .sent(info.request_id, frame, Instant::now()),
            kind::CANCEL => state.unanswered.done(info.request_id),
            _ => {}
        }
        datagram
    }

    fn poll_send(&self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<usize>> {
        self.socket.poll_send(cx, datagram)
    }
}

impl Drop for ClientEnd {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
