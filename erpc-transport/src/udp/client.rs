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

use super::cookie::{Cookie, NONCE_LEN, Nonce, nonce_of};
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
    /// This connection's nonce, once the server showed it knows nonces by echoing it: from
    /// then on only COOKIEs for this connection are used. One answering a HELLO someone
    /// sent from this address in our name (spoofed) would move the client to a connection
    /// of its own at the server, which drops this one's state.
    pinned: Option<Nonce>,
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

/// A fresh connection nonce: it need not be secret (the cookie's tag is what cannot be
/// forged), only differ from the previous client's at this address, so std's randomly keyed
/// hasher (a new key each call) over the time will do.
fn new_nonce() -> Nonce {
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&random_u64().to_be_bytes()[..NONCE_LEN]);
    nonce
}

/// 64 random bits, unpredictable enough for nonces and first ids (not secrets): std's
/// randomly keyed hasher (a new key each call) over the time.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// Run the cookie handshake on a connected socket: the cookie, and the nonce if the server
/// echoed it. A COOKIE without our nonce (from a server that predates nonces, or answering
/// a HELLO spoofed in our name) is used only if none with it comes within a HELLO round.
async fn handshake(socket: &UdpSocket, nonce: Nonce) -> io::Result<(Cookie, Option<Nonce>)> {
    let mut hello = [0u8; dgram::MIN_HELLO];
    hello[0] = dgram::HELLO;
    hello[1..1 + NONCE_LEN].copy_from_slice(&nonce);
    let mut buf = [0u8; 64];
    let mut without_nonce = None;
    loop {
        socket.send(&hello).await?;
        let round = Instant::now() + HELLO_EVERY;
        loop {
            match tokio::time::timeout_at(round, socket.recv(&mut buf)).await {
                Ok(Ok(n)) => match at_client(&buf[..n]) {
                    AtClient::Cookie(cookie) if nonce_of(&cookie) == nonce => {
                        return Ok((cookie, Some(nonce)));
                    }
                    AtClient::Cookie(cookie) => without_nonce = Some(cookie),
                    _ => {}
                },
                Ok(Err(e)) => return Err(e),
                Err(_) => break,
            }
        }
        if let Some(cookie) = without_nonce {
            return Ok((cookie, None));
        }
    }
}

/// Dial `host:port`: validate the address, then start the connection's tasks.
pub(crate) async fn connect(hostport: &str, options: &Options) -> io::Result<Link> {
    let server: SocketAddr = crate::address::resolve(hostport).await?;
    let socket = UdpSocket::bind(crate::address::wildcard_for(server)).await?;
    socket.connect(server).await?;
    let (cookie, pinned) = crate::handshake::within(
        options.handshake_timeout,
        "UDP cookie handshake",
        handshake(&socket, new_nonce()),
    )
    .await?;
    let socket = Arc::new(socket);
    let state = Arc::new(Mutex::new(State {
        cookie,
        pinned,
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
    // A response sent to the closed client whose port this one may have (server FRAMEs
    // carry no nonce) must not match one of our calls: ids start anywhere below 2^32.
    link.first_request_id = (random_u64() >> 32).max(1);
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
                    if s.pinned.is_some_and(|nonce| nonce != nonce_of(&cookie)) {
                        tracing::debug!("COOKIE for another connection from this address dropped");
                        continue;
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::{error_frame, status};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server's COOKIE datagram carrying `nonce` (the tag is the server's business).
    fn cookie_datagram(nonce: Nonce, fill: u8) -> Vec<u8> {
        let mut d = vec![dgram::COOKIE];
        d.extend_from_slice(&nonce);
        d.extend_from_slice(&[fill; 12]);
        d
    }

    /// A COOKIE answering a HELLO spoofed in the client's name carries another nonce; used,
    /// it would move the client to a connection of its own at the server (whose state for
    /// this one, its duplicate window, would be dropped). The client keeps its cookie.
    #[tokio::test]
    async fn a_cookie_for_another_connection_is_not_used() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap().to_string();
        let dial = tokio::spawn(async move { connect(&addr, &Options::default()).await });
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let (n, client) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!((buf[0], n >= dgram::MIN_HELLO), (dgram::HELLO, true));
        let nonce = nonce_of(&buf[1..n]);
        let ours = cookie_datagram(nonce, 7);
        server.send_to(&ours, client).await.unwrap();
        let mut link = dial.await.unwrap().unwrap();

        let mut other = nonce;
        other[0] ^= 0xFF;
        server
            .send_to(&cookie_datagram(other, 9), client)
            .await
            .unwrap();
        // Datagrams are taken in order: once this frame is read, the COOKIE was handled.
        let mut frame = vec![dgram::SERVER_FRAME];
        frame.extend_from_slice(&error_frame(status::UNAVAILABLE, "marker"));
        server.send_to(&frame, client).await.unwrap();
        let mut read = vec![0u8; frame.len() - 1];
        link.io.read_exact(&mut read).await.unwrap();
        assert_eq!(read, frame[1..]);

        link.io
            .write_all(&error_frame(status::UNAVAILABLE, "sent"))
            .await
            .unwrap();
        link.io.flush().await.unwrap();
        let (n, _) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(buf[0], dgram::CLIENT_FRAME);
        assert_eq!(
            buf[1..dgram::CLIENT_PREFIX],
            ours[1..],
            "the frame went with the connection's own cookie"
        );
        assert!(n > dgram::CLIENT_PREFIX);
    }

    /// A server FRAME carries no nonce, so a response the server sent a closed client can
    /// reach a new client at its port: each connection's ids start at a random place (not
    /// at 1, as the closed client's did), so such a response matches none of its calls.
    #[tokio::test]
    async fn each_connection_starts_its_request_ids_at_random() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap().to_string();
        let mut firsts = Vec::new();
        for _ in 0..3 {
            let addr = addr.clone();
            let dial = tokio::spawn(async move { connect(&addr, &Options::default()).await });
            let mut buf = vec![0u8; MAX_DATAGRAM];
            let (n, client) = server.recv_from(&mut buf).await.unwrap();
            let cookie = cookie_datagram(nonce_of(&buf[1..n]), 7);
            server.send_to(&cookie, client).await.unwrap();
            let link = dial.await.unwrap().unwrap();
            assert!((1..1 << 32).contains(&link.first_request_id), "{link:?}");
            firsts.push(link.first_request_id);
        }
        firsts.dedup();
        assert_eq!(
            firsts.len(),
            3,
            "three connections, three starts: {firsts:?}"
        );
    }
}
