//! The UDP listener: one socket, a demultiplexer that validates addresses and hands each
//! validated peer its own connection.
//!
//! Every connection receives through the demultiplexer, so it outlives the listener handle:
//! dropping a [`UdpListener`] stops taking on new peers, while the peers already accepted are
//! served until the last of their connections is dropped; then the socket is released.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::cookie::{COOKIE_LEN, Cookies, Nonce};
use super::dedupe::{Dedupe, Seen};
use super::io::{DatagramIo, End};
use super::parse::{AtServer, at_server};
use super::receive::Receiver;
use super::{MAX_DATAGRAM, dgram, whole_frame};
use crate::frames::{FrameInfo, UDP_MAX_FRAME, kind};
use crate::link::{Link, PeerAddr};
use crate::options::Options;

/// Peers served at once per listener; datagrams from further validated addresses are
/// dropped until one leaves.
const MAX_PEERS: usize = 10_000;
/// Frames queued for one peer's engine; more are dropped, as a full socket buffer would.
const PEER_QUEUE: usize = 1024;

struct Peer {
    arrivals: mpsc::Sender<io::Result<Bytes>>,
    dedupe: Arc<Mutex<Dedupe>>,
    /// The epoch of the newest cookie this peer was given.
    cookie_epoch: u64,
    /// The connection nonce of the client served (PROTOCOL.md §12.5).
    nonce: Nonce,
    /// The nonce of the client this one replaced at the address: a late datagram of that
    /// connection is dropped, not taken for yet another client.
    retired: Option<Nonce>,
    /// Set when another client replaced this one at the address: see [`ServerEnd::replaced`].
    replaced: Arc<AtomicBool>,
    generation: u64,
}

/// The peers being served, shared by the demultiplexer and each peer's connection.
#[derive(Default)]
struct Table {
    peers: Mutex<HashMap<SocketAddr, Peer>>,
    /// Told each time a connection ends, so a draining demultiplexer sees the last go.
    left: Notify,
}

type Peers = Arc<Table>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A bound UDP listener.
#[derive(Debug)]
pub struct UdpListener {
    links: mpsc::Receiver<Link>,
    local: SocketAddr,
}

impl UdpListener {
    /// Bind `host:port`. Up to [`Options::backlog`] validated peers wait to be accepted.
    pub async fn bind(hostport: &str, options: &Options) -> io::Result<UdpListener> {
        let socket = Arc::new(UdpSocket::bind(hostport).await?);
        let local = socket.local_addr()?;
        let (tx, links) = mpsc::channel(options.backlog.max(1) as usize);
        tokio::spawn(demux(socket, tx));
        Ok(UdpListener { links, local })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// The next validated peer.
    pub async fn accept(&mut self) -> io::Result<Link> {
        self.links
            .recv()
            .await
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "listener closed"))
    }
}

fn cookie_datagram(
    cookies: &Cookies,
    addr: SocketAddr,
    epoch: u64,
    nonce: Nonce,
) -> [u8; 1 + COOKIE_LEN] {
    let mut out = [0u8; 1 + COOKIE_LEN];
    out[0] = dgram::COOKIE;
    out[1..].copy_from_slice(&cookies.make(addr, epoch, nonce));
    out
}

/// Route datagrams to their peers' connections, and take on new peers while the listener
/// handle exists; once it is gone, serve the peers already taken on until none is left.
async fn demux(socket: Arc<UdpSocket>, links: mpsc::Sender<Link>) {
    let cookies = Cookies::new();
    let peers: Peers = Arc::default();
    static GENERATION: AtomicU64 = AtomicU64::new(0);
    let mut receiver = Receiver::new(MAX_DATAGRAM);
    let mut accepting = true;
    loop {
        let (datagram, from) = tokio::select! {
            received = receiver.next(&*socket) => received,
            () = links.closed(), if accepting => {
                accepting = false;
                if lock(&peers.peers).is_empty() {
                    return;
                }
                continue;
            }
            () = peers.left.notified(), if !accepting => {
                if lock(&peers.peers).is_empty() {
                    return;
                }
                continue;
            }
        };
        // A draining listener answers only the peers it serves.
        if !accepting && !lock(&peers.peers).contains_key(&from) {
            continue;
        }
        match at_server(datagram, from, &cookies) {
            AtServer::SendCookie { nonce } => {
                let reply = cookie_datagram(&cookies, from, Cookies::epoch(), nonce);
                let _ = socket.try_send_to(&reply, from);
            }
            AtServer::Frame {
                epoch,
                nonce,
                frame,
            } => {
                let mut table = lock(&peers.peers);
                let mut retired = None;
                match table.get(&from) {
                    Some(peer) if peer.nonce == nonce => {}
                    // A late datagram of the client replaced at this address.
                    Some(peer) if peer.retired == Some(nonce) => continue,
                    // A draining listener takes on no new client.
                    Some(_) if !accepting => continue,
                    // Another client at a served address: the served one closed its socket
                    // (one socket holds a port), and the system gave its port to this one;
                    // the cookie proves it receives there. Taken for the old client, its
                    // calls were run against the old one's duplicate window (answered with
                    // the old one's cached responses, its oneways dropped). The old
                    // connection ends as a closed one does (its oneways still finish: it
                    // reads the end of its frames), and this client gets its own.
                    Some(_) => {
                        retired = table.remove(&from).map(|old| {
                            old.replaced.store(true, Ordering::Release);
                            old.nonce
                        });
                    }
                    None => {}
                }
                if !table.contains_key(&from) {
                    if table.len() >= MAX_PEERS {
                        continue;
                    }
                    let (arrivals, rx) = mpsc::channel(PEER_QUEUE);
                    let dedupe = Arc::new(Mutex::new(Dedupe::default()));
                    let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
                    let replaced = Arc::new(AtomicBool::new(false));
                    let end = ServerEnd {
                        socket: socket.clone(),
                        to: from,
                        dedupe: dedupe.clone(),
                        peers: peers.clone(),
                        replaced: replaced.clone(),
                        generation,
                    };
                    let mut link =
                        Link::new(Box::new(DatagramIo::new(end, rx)), PeerAddr::Udp(from));
                    link.max_frame = Some(UDP_MAX_FRAME);
                    link.streaming = false;
                    if links.try_send(link).is_err() {
                        continue;
                    }
                    table.insert(
                        from,
                        Peer {
                            arrivals,
                            dedupe,
                            cookie_epoch: epoch,
                            nonce,
                            retired,
                            replaced,
                            generation,
                        },
                    );
                }
                let Some(peer) = table.get_mut(&from) else {
                    continue;
                };
                let now = Cookies::epoch();
                if epoch < now && peer.cookie_epoch < now {
                    // The cookie expires after this epoch: hand out the next one in time.
                    peer.cookie_epoch = now;
                    let fresh = cookie_datagram(&cookies, from, now, peer.nonce);
                    let _ = socket.try_send_to(&fresh, from);
                }
                let arrival = match whole_frame(frame) {
                    Ok(info) => match dedupe(&peer.dedupe, info) {
                        Seen::New => Ok(Bytes::copy_from_slice(frame)),
                        Seen::Replay(answer) => {
                            let _ = socket.try_send_to(&answer, from);
                            continue;
                        }
                        Seen::Drop => continue,
                    },
                    Err(e) => Err(e),
                };
                // A full queue drops the frame: the client retransmits requests.
                let _ = peer.arrivals.try_send(arrival);
            }
            AtServer::Ignore => {}
        }
    }
}

fn dedupe(dedupe: &Mutex<Dedupe>, info: FrameInfo) -> Seen {
    match info.kind {
        kind::REQUEST | kind::ONEWAY => lock(dedupe).on_call(info.request_id, Instant::now()),
        _ => Seen::New,
    }
}

/// The server's end of one peer.
struct ServerEnd {
    socket: Arc<UdpSocket>,
    to: SocketAddr,
    dedupe: Arc<Mutex<Dedupe>>,
    peers: Peers,
    /// Another client took this address over: what this connection still has to send (a
    /// response queued before its end, a GOAWAY) would reach the new client, whose calls
    /// use the same ids from 1 (server FRAMEs carry no nonce), so it is dropped unsent.
    replaced: Arc<AtomicBool>,
    generation: u64,
}

impl End for ServerEnd {
    fn datagram(&mut self, info: FrameInfo, frame: Bytes) -> Bytes {
        let mut d = BytesMut::with_capacity(1 + frame.len());
        d.put_u8(dgram::SERVER_FRAME);
        d.put_slice(&frame);
        let d = d.freeze();
        if info.kind == kind::RESPONSE {
            lock(&self.dedupe).on_response(info.request_id, d.clone(), Instant::now());
        }
        d
    }

    fn poll_send(&self, cx: &mut Context<'_>, datagram: &[u8]) -> Poll<io::Result<usize>> {
        if self.replaced.load(Ordering::Acquire) {
            return Poll::Ready(Ok(datagram.len()));
        }
        self.socket.poll_send_to(cx, datagram, self.to)
    }
}

impl Drop for ServerEnd {
    fn drop(&mut self) {
        // The connection ended: forget the peer (unless it already came back as a new one).
        let mut table = lock(&self.peers.peers);
        if table
            .get(&self.to)
            .is_some_and(|p| p.generation == self.generation)
        {
            table.remove(&self.to);
        }
        drop(table);
        self.peers.left.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A server end whose address another client took over sends nothing more there: its
    /// responses would reach the new client, whose ids start at 1 as the old one's did.
    #[tokio::test]
    async fn a_replaced_connection_sends_nothing_to_its_old_address() {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let end = ServerEnd {
            socket,
            to: client.local_addr().unwrap(),
            dedupe: Arc::default(),
            peers: Arc::default(),
            replaced: Arc::new(AtomicBool::new(false)),
            generation: 0,
        };
        let send = |datagram: &'static [u8]| std::future::poll_fn(|cx| end.poll_send(cx, datagram));
        let mut buf = [0u8; 16];
        assert_eq!(send(b"before").await.unwrap(), 6);
        let n = client.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"before");

        end.replaced.store(true, Ordering::Release);
        assert_eq!(send(b"after").await.unwrap(), 5, "taken as sent");
        let late = tokio::time::timeout(Duration::from_millis(200), client.recv(&mut buf)).await;
        assert!(late.is_err(), "nothing reached the address: {late:?}");
    }
}
