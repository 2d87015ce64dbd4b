//! KCP (`kcp://host:port`): reliable, ordered delivery over UDP, with tokio_kcp.
//!
//! KCP trades bandwidth for latency (it retransmits early, without TCP's backoff), which
//! helps on lossy links. erpc runs over it exactly as over TCP: KCP is used in stream mode,
//! so it is a byte stream and carries every call kind, streams included (PROTOCOL.md
//! §12.6).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_kcp::{KcpConfig, KcpNoDelayConfig, KcpStream};

use crate::frames;
use crate::link::{Link, PeerAddr};

/// The KCP settings erpc uses: stream mode, KCP's "fastest" mode (no delay, 10 ms ticks,
/// fast resend, no congestion window), a window of `window` segments each way (see
/// [`udp_socket`]), sessions that expire after erpc's heartbeat would have declared them dead
/// anyway.
fn config(window: u16) -> KcpConfig {
    KcpConfig {
        nodelay: KcpNoDelayConfig::fastest(),
        wnd_size: (window, window),
        session_expire: Duration::from_secs(90),
        flush_write: true,
        flush_acks_input: true,
        stream: true,
        ..KcpConfig::default()
    }
}

/// The largest KCP window erpc uses, in segments (about 1.4 MB in flight at KCP's default
/// 1,400-byte MTU).
const MAX_WINDOW: u16 = 1024;

/// The smallest: below it a bulk transfer crawls even on a clean link.
const MIN_WINDOW: u16 = 32;

/// The receive (and send) buffer asked for on each KCP socket, in bytes. The kernel caps it
/// at `net.core.rmem_max` / `wmem_max` (208 KiB on many Linux systems, often raised).
const SOCKET_BUFFER: usize = 4 << 20;

/// The kernel's accounting for one received datagram of a full KCP segment: its 1,400 bytes
/// and the socket buffer's overhead (Linux charges a datagram's whole allocation, about
/// 2.3 KB for one of 1,400 bytes), rounded up.
const SEGMENT_COST: usize = 2_800;

/// A UDP socket for KCP bound to `local`, with the largest receive buffer the system allows
/// (up to [`SOCKET_BUFFER`]), and the KCP window that buffer holds.
///
/// With no congestion window ("fastest" mode) a KCP sender puts the peer's whole advertised
/// window on the wire at once. A window larger than the receiver's socket buffer overflows it
/// and the kernel drops the rest (`UdpRcvbufErrors`): on loopback with the default 208 KiB
/// buffer and a 1,024-segment window, a 4 MiB body lost ~25,000 datagrams to this and took
/// over a minute. So the window advertised is what the buffer holds, between [`MIN_WINDOW`]
/// and [`MAX_WINDOW`].
fn udp_socket(local: SocketAddr) -> io::Result<(tokio::net::UdpSocket, u16)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a system that refuses the size keeps its default, and the window follows
    // whatever the buffer is.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&local.into())?;
    let window = window_for(socket.recv_buffer_size()?);
    Ok((tokio::net::UdpSocket::from_std(socket.into())?, window))
}

/// The KCP window (segments) a receive buffer of `bytes` holds.
fn window_for(bytes: usize) -> u16 {
    let segments = bytes / SEGMENT_COST;
    segments.clamp(MIN_WINDOW as usize, MAX_WINDOW as usize) as u16
}

fn to_io(e: impl Into<io::Error>) -> io::Error {
    e.into()
}

/// The most bytes handed to KCP in one send: KCP refuses a send of 128 segments or more
/// ("user's send buffer is too big"), about 170 KiB at the default MTU.
const MAX_SEND: usize = 64 * 1024;

/// A KCP stream that never asks KCP to send more than it accepts at once. A server-side
/// stream also keeps its listener's keeper (see [`KcpListener`]) feeding it.
struct KcpIo {
    stream: KcpStream,
    /// Held by every accepted stream: the keeper drains until the last one is dropped.
    /// Declared after `stream`, so the session is closed before the keeper may stop.
    _accepted: Option<mpsc::Sender<()>>,
}

impl AsyncRead for KcpIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for KcpIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = buf.len().min(MAX_SEND);
        Pin::new(&mut self.stream).poll_write(cx, &buf[..n])
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// How long a draining keeper goes on receiving after the last accepted stream is dropped:
/// the acknowledgements of that stream's last bytes come back through the listener, and a
/// session with unacknowledged bytes does not close (it goes on retransmitting, holding the
/// port). KCP's "fastest" mode retransmits within tens of milliseconds.
const LINGER: Duration = Duration::from_millis(500);

type Accepted = io::Result<(KcpStream, SocketAddr)>;

/// A bound KCP listener.
///
/// tokio_kcp's listener owns its sessions: its task is the only reader of the shared UDP
/// socket, and dropping it closes every session it accepted. So it lives in a keeper task
/// that outlives this handle. Dropping a `KcpListener` stops accepting (a session that
/// arrives afterwards is closed at once), while the streams already accepted go on
/// receiving until the last of them is dropped, plus `LINGER` (500 ms); then the socket is
/// released. A server that stops listening therefore drains its KCP connections like its
/// TCP ones (issue 11).
pub struct KcpListener {
    accepted: mpsc::Receiver<Accepted>,
    /// Cloned into each accepted stream; the keeper waits for every clone to go.
    alive: mpsc::Sender<()>,
    local: SocketAddr,
}

impl std::fmt::Debug for KcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("KcpListener").field(&self.local).finish()
    }
}

impl KcpListener {
    /// Bind `host:port`. Up to `backlog` sessions wait for [`KcpListener::accept`], beyond
    /// the 1,024 tokio_kcp queues itself; a session arriving while both are full is closed
    /// and made again by the client's next retransmission.
    pub async fn bind(hostport: &str, backlog: u32) -> io::Result<Self> {
        let local = crate::address::resolve(hostport).await?;
        let (udp, window) = udp_socket(local)?;
        let inner = tokio_kcp::KcpListener::from_socket(config(window), udp)
            .await
            .map_err(to_io)?;
        let local = inner.local_addr()?;
        let (tx, accepted) = mpsc::channel(backlog.max(1) as usize);
        let (alive, streams) = mpsc::channel(1);
        tokio::spawn(keep(inner, tx, streams));
        Ok(KcpListener {
            accepted,
            alive,
            local,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// Accept one peer.
    pub async fn accept(&mut self) -> io::Result<Link> {
        let (stream, peer) = self
            .accepted
            .recv()
            .await
            .ok_or_else(|| io::Error::other("the KCP listener's task ended"))??;
        Ok(Link::new(
            Box::new(KcpIo {
                stream,
                _accepted: Some(self.alive.clone()),
            }),
            PeerAddr::Kcp(peer),
        ))
    }
}

/// The keeper of a tokio_kcp listener: hands sessions to the [`KcpListener`] while it
/// exists, then feeds the accepted ones until `streams` reports that every holder (the
/// handle and each accepted stream) is gone, plus [`LINGER`]. A session that arrives once
/// the handle is gone is [refused](refuse).
async fn keep(
    mut inner: tokio_kcp::KcpListener,
    accepted: mpsc::Sender<Accepted>,
    mut streams: mpsc::Receiver<()>,
) {
    loop {
        tokio::select! {
            got = inner.accept() => {
                let failed = got.is_err();
                match accepted.send(got.map_err(to_io)).await {
                    Ok(()) if !failed => {}
                    // The handle went away meanwhile.
                    Err(mpsc::error::SendError(Ok((stream, _)))) => {
                        tokio::spawn(refuse(stream));
                        break;
                    }
                    _ => break,
                }
            }
            () = accepted.closed() => break,
        }
    }
    drop(accepted);
    loop {
        tokio::select! {
            // Never a message: `None` once the last holder is dropped.
            _ = streams.recv() => break,
            got = inner.accept() => match got {
                Ok((stream, _)) => { tokio::spawn(refuse(stream)); }
                Err(_) => return,
            },
        }
    }
    let linger = tokio::time::sleep(LINGER);
    tokio::pin!(linger);
    loop {
        tokio::select! {
            () = &mut linger => return,
            got = inner.accept() => match got {
                Ok((stream, _)) => { tokio::spawn(refuse(stream)); }
                Err(_) => return,
            },
        }
    }
}

/// What a session that arrives after the listener handle is gone is told before it is
/// closed. KCP has no close a peer would notice, so without it the client's calls would wait
/// for their deadlines (PROTOCOL.md §12.6).
const REFUSAL: &str = "server is shutting down; the call was not run";

/// Tell a session the server no longer accepts (an erpc ERROR frame, `unavailable`), then
/// drop it. A dropped session goes on retransmitting until its bytes are acknowledged, for as
/// long as the keeper feeds it (at least [`LINGER`]).
async fn refuse(mut stream: KcpStream) {
    use tokio::io::AsyncWriteExt;
    let frame = frames::error_frame(frames::status::UNAVAILABLE, REFUSAL);
    // A failed write leaves the client to its connect probe or heartbeats: nothing to add.
    if stream.write_all(&frame).await.is_ok() {
        let _ = stream.flush().await;
    }
}

/// Connect to `host:port`.
pub async fn connect(hostport: &str) -> io::Result<Link> {
    let addr = crate::address::resolve(hostport).await?;
    let any: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let (udp, window) = udp_socket(any)?;
    let stream = KcpStream::connect_with_socket(&config(window), udp, addr)
        .await
        .map_err(to_io)?;
    let mut link = Link::new(
        Box::new(KcpIo {
            stream,
            _accepted: None,
        }),
        PeerAddr::Kcp(addr),
    );
    // KCP sends nothing until there is data: a session is "connected" even when nothing
    // listens (and tokio_kcp's unconnected socket never reports ICMP port-unreachable).
    link.connect_proves_peer = false;
    Ok(link)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::{Address, bind, connect};

    /// Dropping the listener stops accepting, not the streams it accepted: tokio_kcp's
    /// listener feeds them, so it must outlive the handle (issue 11).
    #[tokio::test]
    async fn an_accepted_stream_outlives_its_listener() {
        use std::time::Duration;
        let addr: Address = "kcp://127.0.0.1:0".parse().unwrap();
        let mut listener = bind(&addr).await.unwrap();
        let mut client = connect(listener.local_addr()).await.unwrap();
        client.io.write_all(b"open").await.unwrap();
        client.io.flush().await.unwrap();
        let mut server = listener.accept().await.unwrap();
        let mut buf = [0u8; 4];
        server.io.read_exact(&mut buf).await.unwrap();
        drop(listener);
        let within = Duration::from_secs(5);
        client.io.write_all(b"more").await.unwrap();
        client.io.flush().await.unwrap();
        tokio::time::timeout(within, server.io.read_exact(&mut buf))
            .await
            .expect("the server still receives")
            .unwrap();
        assert_eq!(&buf, b"more");
        server.io.write_all(b"back").await.unwrap();
        server.io.flush().await.unwrap();
        tokio::time::timeout(within, client.io.read_exact(&mut buf))
            .await
            .expect("the client still receives")
            .unwrap();
        assert_eq!(&buf, b"back");
    }

    #[tokio::test]
    async fn a_write_larger_than_kcp_accepts_at_once_goes_through() {
        let addr: Address = "kcp://127.0.0.1:0".parse().unwrap();
        let mut listener = bind(&addr).await.unwrap();
        let mut client = connect(listener.local_addr()).await.unwrap();
        let sent: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let expected = sent.clone();
        let writer = tokio::spawn(async move {
            client.io.write_all(&sent).await.unwrap();
            client.io.flush().await.unwrap();
            client
        });
        let mut server = listener.accept().await.unwrap();
        let mut got = vec![0u8; expected.len()];
        server.io.read_exact(&mut got).await.unwrap();
        assert!(got == expected);
        writer.await.unwrap();
    }

    /// The window advertised fits the socket's receive buffer, so a bulk transfer is not
    /// lost to buffer overflows and retransmitted. 4 MiB each way at once over loopback, 2
    /// cores under a load average of 15: with a 1,024-segment window over the default 208 KiB
    /// buffer, over 20 s and 16,000-21,000 datagrams dropped (`UdpRcvbufErrors`); with the
    /// buffer sized and the window fitted to it, 0.5-0.8 s and none dropped.
    #[tokio::test]
    async fn a_bulk_transfer_is_not_lost_to_socket_buffer_overflows() {
        use std::time::Duration;
        let (socket, window) = super::udp_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let buffer = socket2::SockRef::from(&socket).recv_buffer_size().unwrap();
        assert!(
            window as usize * super::SEGMENT_COST <= buffer || window == super::MIN_WINDOW,
            "window {window} over a {buffer}-byte buffer"
        );

        // 4 MiB each way at once, as a large call and its large answer overlap.
        let addr: Address = "kcp://127.0.0.1:0".parse().unwrap();
        let mut listener = bind(&addr).await.unwrap();
        let mut client = connect(listener.local_addr()).await.unwrap();
        // KCP sends nothing until there is data: a first byte makes the session.
        client.io.write_all(b"!").await.unwrap();
        client.io.flush().await.unwrap();
        let mut server = listener.accept().await.unwrap();
        server.io.read_exact(&mut [0u8; 1]).await.unwrap();
        let data: Vec<u8> = (0..4 << 20).map(|i| (i % 253) as u8).collect();
        let both = async {
            tokio::join!(
                send_and_receive(client.io, data.clone()),
                send_and_receive(server.io, data.clone())
            )
        };
        let (a, b) = tokio::time::timeout(Duration::from_secs(20), both)
            .await
            .expect("4 MiB each way over loopback KCP within 20 s");
        assert!(a == data && b == data);
    }

    /// Writes `data` and reads as many bytes back at the same time; what was read.
    async fn send_and_receive(io: crate::link::BoxIo, data: Vec<u8>) -> Vec<u8> {
        let (mut rx, mut tx) = tokio::io::split(io);
        let mut got = vec![0u8; data.len()];
        let write = async {
            tx.write_all(&data).await.unwrap();
            tx.flush().await.unwrap();
        };
        let read = async { rx.read_exact(&mut got).await.unwrap() };
        tokio::join!(write, read);
        got
    }

    #[test]
    fn the_window_follows_the_buffer_within_its_bounds() {
        assert_eq!(super::window_for(0), super::MIN_WINDOW);
        assert_eq!(super::window_for(425_984), 152); // Linux's default 208 KiB, doubled
        assert_eq!(super::window_for(8 << 20), super::MAX_WINDOW);
    }
}
