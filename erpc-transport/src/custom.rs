//! Transports from outside this crate: a [`Connector`] dials, an [`Acceptor`] accepts, and
//! both hand over [`Link`]s, so the engine runs over them as over any built-in transport.
//!
//! A client registers a connector per URL scheme (`ClientBuilder::connector("myscheme", c)`,
//! or [`Options::connector`](crate::Options::connector)); its addresses then parse with that
//! scheme as [`Address::Other`] and are dialled by the connector. A connector registered for
//! a built-in scheme replaces the built-in dialer (dialing `tcp://` through a proxy, say). A
//! server takes acceptors alongside or instead of its bound addresses
//! (`ServerBuilder::serve_with`); a [`Listener`](crate::Listener) is an acceptor too.
//!
//! ```
//! use erpc_transport::custom::{Acceptor, Connector};
//! use erpc_transport::{Address, Link, PeerAddr};
//! use futures_util::future::BoxFuture;
//!
//! /// `mytcp://host:port`: plain TCP under a scheme of its own.
//! struct MyTcp;
//!
//! impl Connector for MyTcp {
//!     fn connect<'a>(&'a self, addr: &'a Address) -> BoxFuture<'a, std::io::Result<Link>> {
//!         Box::pin(async move {
//!             let Address::Other { rest, .. } = addr else {
//!                 return Err(std::io::Error::other(format!("not a mytcp address: {addr}")));
//!             };
//!             let stream = tokio::net::TcpStream::connect(rest.as_str()).await?;
//!             let peer = PeerAddr::Other { scheme: "mytcp".into(), addr: rest.clone() };
//!             Ok(Link::new(Box::new(stream), peer))
//!         })
//!     }
//! }
//!
//! /// The server side: a bound socket handing out links.
//! struct MyTcpListener {
//!     socket: tokio::net::TcpListener,
//!     local: Address,
//! }
//!
//! impl Acceptor for MyTcpListener {
//!     fn accept(&mut self) -> BoxFuture<'_, Option<std::io::Result<Link>>> {
//!         Box::pin(async move {
//!             Some(self.socket.accept().await.map(|(stream, from)| {
//!                 let peer = PeerAddr::Other { scheme: "mytcp".into(), addr: from.to_string() };
//!                 Link::new(Box::new(stream), peer)
//!             }))
//!         })
//!     }
//!
//!     fn local_addr(&self) -> &Address {
//!         &self.local
//!     }
//! }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::address::Address;
use crate::link::Link;

/// Dials addresses of one scheme: the client side of a transport of your own.
///
/// Called from the client's connection pool for every dial (the first call, redials after a
/// lost connection); the client's `connect_timeout` bounds it. An error fails the calls
/// waiting for the connection with `unavailable`, naming the address and the error, and the
/// pool backs off before dialing again.
pub trait Connector: Send + Sync + 'static {
    /// Dial `addr` (whose scheme is the one this connector was registered for) and hand over
    /// the connection as a [`Link`].
    fn connect<'a>(&'a self, addr: &'a Address) -> BoxFuture<'a, io::Result<Link>>;
}

/// Hands out the connections of one listening place: the server side of a transport of your
/// own, as tonic's `serve_with_incoming` takes a stream of connections.
///
/// The server calls [`Acceptor::accept`] in a loop on a task of its own until shutdown. Keep
/// per-connection handshakes out of it (run them on tasks of their own and hand over the
/// links that finished), or one slow peer delays every other.
pub trait Acceptor: Send + 'static {
    /// The next connection. `Some(Err(_))` is taken as passing (out of file descriptors,
    /// say): logged, and accepting resumes after a wait of 5 ms doubling to 1 s (a shutdown
    /// ends the wait at once). `None`: no more connections will come; the server stops
    /// accepting from this acceptor and keeps serving the connections it has.
    fn accept(&mut self) -> BoxFuture<'_, Option<io::Result<Link>>>;

    /// Where it listens, for `ServerHandle::local_addrs` and logs (an [`Address::Other`] for
    /// a scheme of your own).
    fn local_addr(&self) -> &Address;
}

impl Acceptor for Box<dyn Acceptor> {
    fn accept(&mut self) -> BoxFuture<'_, Option<io::Result<Link>>> {
        (**self).accept()
    }

    fn local_addr(&self) -> &Address {
        (**self).local_addr()
    }
}

/// The connectors a client dials with, by URL scheme. Empty by default: every address is
/// dialled by this crate's own transports.
#[derive(Clone, Default)]
pub struct Connectors(HashMap<String, Arc<dyn Connector>>);

impl Connectors {
    /// Dial `scheme://…` addresses with `connector` (replacing any connector registered for
    /// it before, and the built-in transport of that scheme).
    pub fn insert(&mut self, scheme: impl Into<String>, connector: Arc<dyn Connector>) {
        self.0.insert(scheme.into(), connector);
    }

    /// The connector registered for `scheme`, if any.
    pub fn get(&self, scheme: &str) -> Option<&Arc<dyn Connector>> {
        self.0.get(scheme)
    }

    /// Whether a connector is registered for `scheme`.
    pub fn has(&self, scheme: &str) -> bool {
        self.0.contains_key(scheme)
    }
}

impl fmt::Debug for Connectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut schemes: Vec<&str> = self.0.keys().map(String::as_str).collect();
        schemes.sort_unstable();
        f.debug_tuple("Connectors").field(&schemes).finish()
    }
}
