//! Binding and dialing by [`Address`].

use std::io;

use crate::address::Address;
use crate::link::Link;
use crate::options::Options;

/// A bound listener of any transport.
#[derive(Debug)]
pub struct Listener {
    inner: Inner,
    local: Address,
}

#[derive(Debug)]
enum Inner {
    #[cfg(feature = "tcp")]
    Tcp(crate::tcp::TcpListener),
    #[cfg(all(unix, feature = "unix"))]
    Unix(crate::unix::UnixListener),
    #[cfg(feature = "mem")]
    Mem(crate::mem::MemListener),
    /// TLS, WebSocket and QUIC: links arrive once their handshakes finish.
    #[cfg(any(feature = "tls", feature = "ws", feature = "quic"))]
    Handshaken(crate::handshake::Handshaken),
    #[cfg(feature = "udp")]
    Udp(crate::udp::UdpListener),
    #[cfg(feature = "kcp")]
    Kcp(crate::kcp::KcpListener),
}

impl Listener {
    /// Wait for the next peer.
    pub async fn accept(&mut self) -> io::Result<Link> {
        match &mut self.inner {
            #[cfg(feature = "tcp")]
            Inner::Tcp(l) => l.accept().await,
            #[cfg(all(unix, feature = "unix"))]
            Inner::Unix(l) => l.accept().await,
            #[cfg(feature = "mem")]
            Inner::Mem(l) => l.accept().await,
            #[cfg(any(feature = "tls", feature = "ws", feature = "quic"))]
            Inner::Handshaken(l) => l.accept().await,
            #[cfg(feature = "udp")]
            Inner::Udp(l) => l.accept().await,
            #[cfg(feature = "kcp")]
            Inner::Kcp(l) => l.accept().await,
        }
    }

    /// The address actually bound (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> &Address {
        &self.local
    }
}

impl crate::custom::Acceptor for Listener {
    fn accept(&mut self) -> futures_util::future::BoxFuture<'_, Option<io::Result<Link>>> {
        Box::pin(async move { Some(Listener::accept(self).await) })
    }

    fn local_addr(&self) -> &Address {
        &self.local
    }
}

/// The error for a transport compiled out of this build.
pub(crate) fn disabled_scheme(scheme: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("transport {scheme} is not enabled in this build (cargo feature \"{scheme}\")"),
    )
}

/// Bind a listener at `addr` with default [`Options`] (no TLS certificate).
pub async fn bind(addr: &Address) -> io::Result<Listener> {
    bind_with(addr, &Options::default()).await
}

/// Dial `addr` with default [`Options`] (no TLS roots).
pub async fn connect(addr: &Address) -> io::Result<Link> {
    connect_with(addr, &Options::default()).await
}

/// Bind a TCP listener with `backlog`, the first step of tcp, tls and ws listeners: the
/// first of `hostport`'s addresses that binds.
#[cfg(feature = "tcp")]
async fn bind_tcp(
    addr: &Address,
    hostport: &str,
    backlog: u32,
) -> io::Result<(tokio::net::TcpListener, Address)> {
    let mut failed = None;
    for at in tokio::net::lookup_host(hostport).await? {
        match listen_tcp(at, backlog) {
            Ok(l) => {
                let local = addr.with_hostport(l.local_addr()?.to_string());
                return Ok((l, local));
            }
            Err(e) => failed = Some(e),
        }
    }
    Err(failed.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{hostport} resolves to no address"),
        )
    }))
}

/// `tokio::net::TcpListener::bind` with our backlog instead of its fixed 128.
#[cfg(feature = "tcp")]
fn listen_tcp(at: std::net::SocketAddr, backlog: u32) -> io::Result<tokio::net::TcpListener> {
    let socket = match at {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As tokio does: a restarted server gets its port back while its predecessor's
    // connections linger in TIME_WAIT (on Windows the option means something else).
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(at)?;
    socket.listen(backlog)
}

/// Bind a listener at `addr`.
pub async fn bind_with(addr: &Address, options: &Options) -> io::Result<Listener> {
    // Only some transports' listeners use these; a build without them leaves them unused.
    let _ = options;
    let backlog = options.backlog;
    let _ = backlog;
    let (inner, local) = match addr {
        #[cfg(feature = "tcp")]
        Address::Tcp(hostport) => {
            let (l, local) = bind_tcp(addr, hostport, backlog).await?;
            (Inner::Tcp(crate::tcp::TcpListener::from(l)), local)
        }
        #[cfg(all(unix, feature = "unix"))]
        Address::Unix(path) => (
            Inner::Unix(crate::unix::UnixListener::bind(path, backlog).await?),
            addr.clone(),
        ),
        #[cfg(feature = "mem")]
        Address::Mem(name) => (
            Inner::Mem(crate::mem::MemListener::bind(name)?),
            addr.clone(),
        ),
        #[cfg(feature = "tls")]
        Address::Tls(hostport) => {
            let tls = crate::tls::server_tls(options, "tls")?.clone();
            let (l, local) = bind_tcp(addr, hostport, backlog).await?;
            (
                Inner::Handshaken(crate::tls::listen(l, tls, options)),
                local,
            )
        }
        #[cfg(feature = "ws")]
        Address::Ws { hostport, path } => {
            let (l, local) = bind_tcp(addr, hostport, backlog).await?;
            (
                Inner::Handshaken(crate::ws::listen(l, path.clone(), false, options)?),
                local,
            )
        }
        #[cfg(feature = "ws")]
        Address::Wss { hostport, path } => {
            let (l, local) = bind_tcp(addr, hostport, backlog).await?;
            (
                Inner::Handshaken(crate::ws::listen(l, path.clone(), true, options)?),
                local,
            )
        }
        #[cfg(feature = "quic")]
        Address::Quic(hostport) => {
            let (l, bound) = crate::quic::listen(hostport, options).await?;
            (Inner::Handshaken(l), addr.with_hostport(bound.to_string()))
        }
        #[cfg(feature = "udp")]
        Address::Udp(hostport) => {
            let l = crate::udp::UdpListener::bind(hostport, options).await?;
            let local = addr.with_hostport(l.local_addr()?.to_string());
            (Inner::Udp(l), local)
        }
        #[cfg(feature = "kcp")]
        Address::Kcp(hostport) => {
            let l = crate::kcp::KcpListener::bind(hostport, backlog).await?;
            let local = addr.with_hostport(l.local_addr()?.to_string());
            (Inner::Kcp(l), local)
        }
        Address::Other { scheme, .. } => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "transport {scheme:?} ({addr}) is not one of this crate's: bind it yourself and give the server its Acceptor (ServerBuilder::serve_with)"
                ),
            ));
        }
        #[allow(unreachable_patterns)]
        other => return Err(disabled_scheme(other.scheme())),
    };
    Ok(Listener { inner, local })
}

/// Dial `addr`: with the connector registered for its scheme in `options.connectors` if
/// there is one, else with this crate's transport of that scheme. Fails with `Unsupported`
/// for a scheme no connector is registered for and this build does not have.
pub async fn connect_with(addr: &Address, options: &Options) -> io::Result<Link> {
    if let Some(connector) = options.connectors.get(addr.scheme()) {
        return connector.connect(addr).await;
    }
    match addr {
        #[cfg(feature = "tcp")]
        Address::Tcp(hostport) => crate::tcp::connect(hostport).await,
        #[cfg(all(unix, feature = "unix"))]
        Address::Unix(path) => crate::unix::connect(path).await,
        #[cfg(feature = "mem")]
        Address::Mem(name) => crate::mem::connect(name).await,
        #[cfg(feature = "tls")]
        Address::Tls(hostport) => {
            crate::tls::connect(hostport, addr.host().unwrap_or_default(), options).await
        }
        #[cfg(feature = "ws")]
        Address::Ws { hostport, path } => crate::ws::connect(hostport, path, false, options).await,
        #[cfg(feature = "ws")]
        Address::Wss { hostport, path } => crate::ws::connect(hostport, path, true, options).await,
        #[cfg(feature = "quic")]
        Address::Quic(hostport) => {
            crate::quic::connect(hostport, addr.host().unwrap_or_default(), options).await
        }
        #[cfg(feature = "udp")]
        Address::Udp(hostport) => crate::udp::connect(hostport, options).await,
        #[cfg(feature = "kcp")]
        Address::Kcp(hostport) => crate::kcp::connect(hostport).await,
        Address::Other { scheme, .. } => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "no connector is registered for transport {scheme:?} ({addr}): register one with ClientBuilder::connector"
            ),
        )),
        #[allow(unreachable_patterns)]
        other => Err(disabled_scheme(other.scheme())),
    }
}
