//! QUIC (`quic://host:port`) with quinn: every call on its own QUIC stream.
//!
//! A slow or large call holds up only its own stream; QUIC retransmits and flow-controls each
//! stream separately, so there is no head-of-line blocking between calls (on TCP, one lost
//! segment stalls every call behind it). TLS 1.3 is part of QUIC: a listener needs a
//! certificate ([`crate::tls::ServerTls`], or `ServerTls::self_signed` for development) and a
//! client the roots to check it. How frames map onto streams: [`calls`] and PROTOCOL.md
//! §12.4.

pub(crate) mod calls;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};

use crate::handshake::Handshaken;
use crate::link::{Link, PeerAddr};
use crate::options::Options;
use crate::tls::ALPN;

/// Streams a peer may have open at once: above erpc's default 1,024 calls in flight per
/// connection, so erpc's own limit (with its clear `resource_exhausted`) is the one callers
/// meet, with room for streams still closing.
const MAX_STREAMS: u32 = 4096;

fn transport(options: &Options, accept_bidi: bool) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    let max = options.max_frame as u64;
    // One stream may hold a whole frame unread; the connection four.
    let stream_window = quinn::VarInt::from_u64(max.max(1 << 20)).unwrap_or(quinn::VarInt::MAX);
    let conn_window = quinn::VarInt::from_u64(4 * max).unwrap_or(quinn::VarInt::MAX);
    t.stream_receive_window(stream_window)
        .receive_window(conn_window)
        .send_window(4 * max)
        .max_concurrent_bidi_streams(if accept_bidi {
            quinn::VarInt::from_u32(MAX_STREAMS)
        } else {
            quinn::VarInt::from_u32(0)
        })
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(4))
        // erpc's heartbeats judge liveness; QUIC's keep-alive only stops idle NAT mappings
        // and QUIC's own idle timer from ending a quiet connection.
        .keep_alive_interval(Some(Duration::from_secs(10)))
        // BBR, not quinn's default Cubic: 1 MiB calls on loopback ran at 44 calls/s with
        // Cubic and 257–343 with BBR, unary calls unchanged (BENCHMARKS.md).
        .congestion_controller_factory(Arc::new(quinn::congestion::BbrConfig::default()));
    if let Ok(idle) = quinn::IdleTimeout::try_from(Duration::from_secs(120)) {
        t.max_idle_timeout(Some(idle));
    }
    Arc::new(t)
}

fn crypto_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("QUIC TLS setup: {e}"))
}

/// Bind a QUIC endpoint; connections are handed over once their handshakes finish.
pub(crate) async fn listen(
    hostport: &str,
    options: &Options,
) -> io::Result<(Handshaken, SocketAddr)> {
    let tls = crate::tls::server_tls(options, "quic")?;
    let crypto = QuicServerConfig::try_from((*tls.config(ALPN)).clone()).map_err(crypto_error)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport(options, true));
    let addr = crate::address::resolve(hostport).await?;
    let endpoint = quinn::Endpoint::server(config, addr)?;
    let bound = endpoint.local_addr()?;
    let max_frame = options.max_frame;
    let next = move || {
        let endpoint = endpoint.clone();
        async move {
            Ok(endpoint.accept().await.map(|incoming| {
                let peer = incoming.remote_address().to_string();
                (incoming, peer)
            }))
        }
        .boxed()
    };
    let handshake = move |incoming: quinn::Incoming| {
        async move {
            let conn = incoming.await.map_err(|e| {
                io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    format!("QUIC handshake: {e}"),
                )
            })?;
            Ok(link(conn, None, calls::Side::Server, max_frame))
        }
        .boxed()
    };
    Ok((
        Handshaken::spawn(next, handshake, options.handshake_timeout),
        bound,
    ))
}

fn link(
    conn: quinn::Connection,
    endpoint: Option<quinn::Endpoint>,
    side: calls::Side,
    max_frame: usize,
) -> Link {
    let peer = PeerAddr::Quic(conn.remote_address());
    // quinn's rustls session hands the chain over as a `Vec<CertificateDer>`.
    let chain = conn.peer_identity().and_then(|identity| {
        identity
            .downcast::<Vec<quinn::rustls::pki_types::CertificateDer<'static>>>()
            .ok()
    });
    let mut link = Link::new(
        Box::new(calls::QuicIo::new(conn, endpoint, side, max_frame)),
        peer,
    );
    link.peer_certificates = crate::tls::certificates(chain.as_deref().map(Vec::as_slice));
    link
}

/// Dial a QUIC server, checking its certificate against `host`.
pub(crate) async fn connect(hostport: &str, host: &str, options: &Options) -> io::Result<Link> {
    let tls = crate::tls::client_tls(options, "quic")?;
    let crypto = QuicClientConfig::try_from((*tls.config(ALPN)).clone()).map_err(crypto_error)?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport(options, false));
    let addr = crate::address::resolve(hostport).await?;
    let mut endpoint = quinn::Endpoint::client(crate::address::wildcard_for(addr))?;
    endpoint.set_default_client_config(config);
    let name = tls.name_for(host)?;
    let connecting = endpoint
        .connect(addr, &name.to_str())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("QUIC connect: {e}")))?;
    let conn = crate::handshake::within(options.handshake_timeout, "QUIC handshake", async {
        connecting.await.map_err(|e| {
            let refused = matches!(e, quinn::ConnectionError::TransportError(_));
            let text = e.to_string();
            let hint = crate::tls::hint(&text);
            let sep = if hint.is_empty() { "" } else { " — " };
            io::Error::new(
                if refused {
                    io::ErrorKind::InvalidData
                } else {
                    io::ErrorKind::ConnectionRefused
                },
                format!("QUIC handshake with {hostport} failed: {text}{sep}{hint}"),
            )
        })
    })
    .await?;
    Ok(link(
        conn,
        Some(endpoint),
        calls::Side::Client,
        options.max_frame,
    ))
}
