//! WebSocket (`ws://host:port/path`) and WebSocket over TLS (`wss://`), with
//! tokio-tungstenite.
//!
//! erpc's byte stream travels in binary messages: each write of the engine (a batch of whole
//! frames) becomes one message of at most [`crate::Options::max_frame`] bytes, and the
//! receiver reads the messages back to back (PROTOCOL.md §12.3). Message and frame limits
//! are that same size, not tungstenite's 64 MiB default, so a peer cannot make the server
//! buffer more than one erpc frame's worth for a single message.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{
    self, Message,
    handshake::server::{ErrorResponse, Request, Response},
    protocol::WebSocketConfig,
};

use crate::handshake::Handshaken;
use crate::link::{Link, PeerAddr};
use crate::options::Options;

/// The tungstenite limits matching erpc's: one message, and one WebSocket frame, hold at most
/// `max` bytes; writes are not buffered beyond one message.
fn config(max: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        .max_write_buffer_size(max.saturating_mul(2))
}

/// A WebSocket carrying erpc's byte stream in binary messages.
struct WsIo<S> {
    ws: WebSocketStream<S>,
    /// The unread rest of the last message.
    read: Bytes,
    max_message: usize,
}

fn to_io(e: tungstenite::Error) -> io::Error {
    match e {
        tungstenite::Error::Io(e) => e,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, "WebSocket closed")
        }
        tungstenite::Error::Capacity(e) => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("WebSocket message over the limit: {e}"),
        ),
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.read.is_empty() {
                crate::link::read_pending(&mut self.read, buf);
                return Poll::Ready(Ok(()));
            }
            match ready!(self.ws.poll_next_unpin(cx)) {
                None | Some(Ok(Message::Close(_))) => return Poll::Ready(Ok(())),
                Some(Ok(Message::Binary(bytes))) => self.read = bytes,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "WebSocket text message: erpc travels in binary messages",
                    )));
                }
                // Pings are answered by tungstenite itself.
                Some(Ok(_)) => {}
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.ws.poll_ready_unpin(cx)).map_err(to_io)?;
        let n = buf.len().min(self.max_message);
        let message = Message::Binary(Bytes::copy_from_slice(&buf[..n]));
        self.ws.start_send_unpin(message).map_err(to_io)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.ws.poll_flush_unpin(cx).map_err(to_io)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(self.ws.poll_close_unpin(cx)) {
            Ok(()) | Err(tungstenite::Error::ConnectionClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(to_io(e))),
        }
    }
}

fn link<S>(ws: WebSocketStream<S>, max_message: usize, peer: SocketAddr, secure: bool) -> Link
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    Link::new(
        Box::new(WsIo {
            ws,
            read: Bytes::new(),
            max_message,
        }),
        PeerAddr::Ws { addr: peer, secure },
    )
}

/// Run the server side of the upgrade, refusing any path but `path` with 404.
async fn upgrade<S>(stream: S, path: String, max: usize) -> io::Result<WebSocketStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // tungstenite's callback signature fixes the error type; its size is not ours to choose.
    #[allow(clippy::result_large_err)]
    let check = move |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        if request.uri().path() == path {
            return Ok(response);
        }
        let mut refusal = ErrorResponse::new(Some(format!(
            "no erpc endpoint at {}; this server serves {path}",
            request.uri().path()
        )));
        *refusal.status_mut() = tungstenite::http::StatusCode::NOT_FOUND;
        Err(refusal)
    };
    tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config(max)))
        .await
        .map_err(to_io)
}

/// A bound WebSocket listener: TCP accepts, then TLS (for `wss://`) and the HTTP upgrade
/// under the handshake deadline.
pub(crate) fn listen(
    tcp: tokio::net::TcpListener,
    path: String,
    secure: bool,
    options: &Options,
) -> io::Result<Handshaken> {
    let max = options.max_frame;
    #[cfg(feature = "wss")]
    let tls = match secure {
        true => Some(crate::tls::server_tls(options, "wss")?.clone()),
        false => None,
    };
    #[cfg(not(feature = "wss"))]
    if secure {
        return Err(crate::listener::disabled_scheme("wss"));
    }
    let handshake = move |(stream, peer): (TcpStream, SocketAddr)| {
        let path = path.clone();
        #[cfg(feature = "wss")]
        let tls = tls.clone();
        async move {
            #[cfg(feature = "wss")]
            if let Some(tls) = tls {
                let stream = crate::tls::accept(&tls, b"http/1.1", stream, peer).await?;
                let certificates = crate::tls::certificates(stream.get_ref().1.peer_certificates());
                let mut link = link(upgrade(stream, path, max).await?, max, peer, true);
                link.peer_certificates = certificates;
                return Ok(link);
            }
            Ok(link(upgrade(stream, path, max).await?, max, peer, false))
        }
        .boxed()
    };
    Ok(Handshaken::spawn_tcp(
        tcp,
        handshake,
        options.handshake_timeout,
    ))
}

/// Dial a WebSocket endpoint.
pub(crate) async fn connect(
    hostport: &str,
    path: &str,
    secure: bool,
    options: &Options,
) -> io::Result<Link> {
    let scheme = if secure { "wss" } else { "ws" };
    let url = format!("{scheme}://{hostport}{path}");
    if secure {
        #[cfg(feature = "wss")]
        {
            let tls = crate::tls::client_tls(options, "wss")?;
            let host = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let (stream, peer) =
                crate::tls::dial(tls, b"http/1.1", hostport, host, options.handshake_timeout)
                    .await?;
            let certificates = crate::tls::certificates(stream.get_ref().1.peer_certificates());
            let mut link = upgrade_client(url, stream, peer, true, options).await?;
            link.peer_certificates = certificates;
            return Ok(link);
        }
        #[cfg(not(feature = "wss"))]
        return Err(crate::listener::disabled_scheme("wss"));
    }
    let (stream, peer) = crate::tcp::dial(hostport).await?;
    upgrade_client(url, stream, peer, false, options).await
}

/// The client side of the upgrade, under the handshake deadline.
async fn upgrade_client<S>(
    url: String,
    stream: S,
    peer: SocketAddr,
    secure: bool,
    options: &Options,
) -> io::Result<Link>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let max = options.max_frame;
    let (ws, _) = crate::handshake::within(
        options.handshake_timeout,
        "WebSocket upgrade",
        tokio_tungstenite::client_async_with_config(url, stream, Some(config(max)))
            .map(|r| r.map_err(to_io)),
    )
    .await?;
    Ok(link(ws, max, peer, secure))
}
