//! Binding and dialing by [`Address`].

use std::io;

use crate::address::Address;
use crate::link::Link;

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
        }
    }

    /// The address actually bound (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> &Address {
        &self.local
    }
}

fn disabled(addr: &Address) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "transport {} is not enabled in this build (cargo feature \"{}\")",
            addr.scheme(),
            addr.scheme()
        ),
    )
}

/// Bind a listener at `addr`.
pub async fn bind(addr: &Address) -> io::Result<Listener> {
    match addr {
        #[cfg(feature = "tcp")]
        Address::Tcp(hostport) => {
            let l = crate::tcp::TcpListener::bind(hostport).await?;
            let local = Address::Tcp(l.local_addr()?.to_string());
            Ok(Listener {
                inner: Inner::Tcp(l),
                local,
            })
        }
        #[cfg(all(unix, feature = "unix"))]
        Address::Unix(path) => Ok(Listener {
            inner: Inner::Unix(crate::unix::UnixListener::bind(path).await?),
            local: addr.clone(),
        }),
        #[cfg(feature = "mem")]
        Address::Mem(name) => Ok(Listener {
            inner: Inner::Mem(crate::mem::MemListener::bind(name)?),
            local: addr.clone(),
        }),
        #[allow(unreachable_patterns)]
        other => Err(disabled(other)),
    }
}

/// Dial `addr`.
pub async fn connect(addr: &Address) -> io::Result<Link> {
    match addr {
        #[cfg(feature = "tcp")]
        Address::Tcp(hostport) => crate::tcp::connect(hostport).await,
        #[cfg(all(unix, feature = "unix"))]
        Address::Unix(path) => crate::unix::connect(path).await,
        #[cfg(feature = "mem")]
        Address::Mem(name) => crate::mem::connect(name).await,
        #[allow(unreachable_patterns)]
        other => Err(disabled(other)),
    }
}
