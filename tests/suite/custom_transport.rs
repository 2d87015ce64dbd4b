//! A transport from outside erpc-transport, written here against the public traits only:
//! `mytcp://` (TCP under a scheme of its own) carries unary and streaming calls; an acceptor
//! that runs dry stops accepting while its connections go on; a connector can take over a
//! built-in scheme; and a custom scheme with no connector or acceptor fails clearly.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use erpc::transport::{Acceptor, Connector, Link};
use erpc::{Address, Code, PeerAddr};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use support::feed::{FeedClient, FeedImpl, FeedServer};
use support::*;
use tokio::sync::mpsc;

/// Dials `mytcp://host:port` over plain TCP, counting its dials.
#[derive(Clone, Default)]
struct MyTcp {
    dials: Arc<AtomicU64>,
}

impl Connector for MyTcp {
    fn connect<'a>(&'a self, addr: &'a Address) -> BoxFuture<'a, std::io::Result<Link>> {
        Box::pin(async move {
            self.dials.fetch_add(1, Ordering::Relaxed);
            // Built-in schemes this connector took over carry their host:port too.
            let hostport = match addr {
                Address::Other { rest, .. } => rest.as_str(),
                other => other.hostport().unwrap_or_default(),
            };
            let stream = tokio::net::TcpStream::connect(hostport).await?;
            let peer = PeerAddr::Other {
                scheme: addr.scheme().to_owned(),
                addr: stream.peer_addr()?.to_string(),
            };
            Ok(Link::new(Box::new(stream), peer))
        })
    }
}

/// The server side of `mytcp://`.
struct MyTcpListener {
    socket: tokio::net::TcpListener,
    local: Address,
}

impl MyTcpListener {
    async fn bind() -> MyTcpListener {
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = socket.local_addr().unwrap().to_string();
        MyTcpListener {
            socket,
            local: Address::custom("mytcp", &at).unwrap(),
        }
    }
}

impl Acceptor for MyTcpListener {
    fn accept(&mut self) -> BoxFuture<'_, Option<std::io::Result<Link>>> {
        Box::pin(async move {
            Some(self.socket.accept().await.map(|(stream, from)| {
                let peer = PeerAddr::Other {
                    scheme: "mytcp".into(),
                    addr: from.to_string(),
                };
                Link::new(Box::new(stream), peer)
            }))
        })
    }

    fn local_addr(&self) -> &Address {
        &self.local
    }
}

#[tokio::test]
async fn a_transport_from_outside_carries_unary_and_streaming_calls() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let server = erpc::Server::builder()
        .add_service(EchoServer::new(EchoImpl::default()))
        .add_service(FeedServer::new(FeedImpl::default()))
        .on_connect({
            let seen = seen.clone();
            move |conn| {
                let at = (conn.peer.scheme().to_owned(), conn.local.to_string());
                seen.lock().unwrap().push(at);
                Ok(())
            }
        })
        .serve_with([MyTcpListener::bind().await]);
    let addr = server.local_addr().to_string();
    assert!(addr.starts_with("mytcp://127.0.0.1:"), "{addr}");

    let connector = MyTcp::default();
    let client = erpc::Client::builder()
        .connector("mytcp", connector.clone())
        .build(addr.as_str())
        .expect("a registered scheme parses");
    let echo = EchoClient::new(client.clone());
    assert_eq!(echo.len("four".into()).await.unwrap(), 4);
    let peer = echo.peer().await.unwrap();
    assert!(peer.starts_with("mytcp://127.0.0.1:"), "{peer}");

    let feed = FeedClient::new(client);
    let counted: Vec<u64> = feed
        .count(100)
        .await
        .unwrap()
        .map(|n| n.unwrap())
        .collect()
        .await;
    assert_eq!(counted, (0..100).collect::<Vec<_>>());
    let sum = feed
        .sum(futures_util::stream::iter(1..=100u64))
        .await
        .unwrap();
    assert_eq!(sum, 5050);

    // One connection, made by our connector, accepted by our acceptor, carried it all.
    assert_eq!(connector.dials.load(Ordering::Relaxed), 1);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![("mytcp".to_owned(), addr.clone())]
    );
    server.shutdown().await;
}

/// Hands out the server ends of in-process pipes; runs dry when its sender is dropped.
struct PipeAcceptor {
    links: mpsc::Receiver<Link>,
    local: Address,
}

impl Acceptor for PipeAcceptor {
    fn accept(&mut self) -> BoxFuture<'_, Option<std::io::Result<Link>>> {
        Box::pin(async move { self.links.recv().await.map(Ok) })
    }

    fn local_addr(&self) -> &Address {
        &self.local
    }
}

/// Hands out the client end of one pipe, once.
struct OnePipe(std::sync::Mutex<Option<Link>>);

impl Connector for OnePipe {
    fn connect<'a>(&'a self, _addr: &'a Address) -> BoxFuture<'a, std::io::Result<Link>> {
        let link = self.0.lock().unwrap().take();
        Box::pin(async move { link.ok_or_else(|| std::io::Error::other("the one pipe is used")) })
    }
}

#[tokio::test]
async fn an_acceptor_that_runs_dry_stops_accepting_and_its_connections_go_on() {
    let pipe = |end, name: &str| {
        let peer = PeerAddr::Other {
            scheme: "pipe".into(),
            addr: name.into(),
        };
        Link::new(Box::new(end), peer)
    };
    let (client_end, server_end) = tokio::io::duplex(64 << 10);
    let (tx, links) = mpsc::channel(1);
    tx.send(pipe(server_end, "client")).await.unwrap();
    // Only one connection ever comes: the acceptor says so once it is handed over.
    drop(tx);
    let local = Address::custom("pipe", "one").unwrap();
    let server = erpc::Server::builder()
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve_with([Box::new(PipeAcceptor {
            links,
            local: local.clone(),
        }) as Box<dyn Acceptor>]);
    assert_eq!(server.local_addrs(), &[local]);
    let echo = EchoClient::new(
        erpc::Client::builder()
            .connector("pipe", OnePipe(Some(pipe(client_end, "server")).into()))
            .build("pipe://one")
            .unwrap(),
    );
    for text in ["ab", "abc", "abcd"] {
        assert_eq!(echo.len(text.into()).await.unwrap(), text.len() as u64);
    }
    assert!(
        server
            .shutdown_timeout(std::time::Duration::from_secs(10))
            .await,
        "shutdown finished"
    );
}

/// An acceptor whose every accept fails, as at the descriptor limit (EMFILE), counting
/// the attempts.
struct AlwaysFailing {
    attempts: tokio::sync::watch::Sender<u32>,
    local: Address,
}

impl Acceptor for AlwaysFailing {
    fn accept(&mut self) -> BoxFuture<'_, Option<std::io::Result<Link>>> {
        self.attempts.send_modify(|n| *n += 1);
        Box::pin(async { Some(Err(std::io::Error::other("too many open files"))) })
    }

    fn local_addr(&self) -> &Address {
        &self.local
    }
}

/// A server shut down while its accept loop waits out a failed accept (the backoff, 5 ms
/// doubling to 1 s) stops at once instead of finishing the wait.
#[tokio::test]
async fn a_server_shut_down_while_accepting_backs_off_stops_at_once() {
    let (attempts, mut seen) = tokio::sync::watch::channel(0u32);
    let server = erpc::Server::builder()
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve_with([Box::new(AlwaysFailing {
            attempts,
            local: Address::custom("failing", "x").unwrap(),
        }) as Box<dyn Acceptor>]);
    // The ninth failure starts a wait of the full second (5 ms · 2⁸ capped at 1 s).
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        seen.wait_for(|n| *n >= 9),
    )
    .await
    .expect("the acceptor is retried")
    .unwrap();
    let started = tokio::time::Instant::now();
    assert!(
        server
            .shutdown_timeout(std::time::Duration::from_secs(5))
            .await
    );
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_millis(400),
        "the shutdown waited {took:?} for the accept backoff"
    );
    assert_eq!(*seen.borrow(), 9, "no accept after the shutdown");
}

#[tokio::test]
async fn a_connector_can_take_over_a_built_in_scheme() {
    let server = start("tcp", erpc::ServerConfig::default()).await;
    let connector = MyTcp::default();
    let echo = EchoClient::new(
        erpc::Client::builder()
            .connector("tcp", connector.clone())
            .build(server.addr.as_str())
            .unwrap(),
    );
    assert_eq!(echo.len("xyz".into()).await.unwrap(), 3);
    assert_eq!(connector.dials.load(Ordering::Relaxed), 1);
    server.handle.shutdown().await;
}

#[tokio::test]
async fn a_custom_scheme_without_its_connector_or_acceptor_fails_clearly() {
    let err = erpc::Client::new("mytcp://127.0.0.1:9")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown transport \"mytcp\"") && err.contains("ClientBuilder::connector"),
        "{err}"
    );
    // Another scheme's connector does not make this one parse.
    let err = erpc::Client::builder()
        .connector("other", MyTcp::default())
        .build("mytcp://127.0.0.1:9")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown transport \"mytcp\""), "{err}");

    let err = erpc::Server::builder()
        .add_service(EchoServer::new(EchoImpl::default()))
        .serve(["mytcp://127.0.0.1:0"])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(
        err.to_string().contains("ServerBuilder::serve_with"),
        "{err}"
    );

    // An Address::Other made by hand but dialled with no connector: unavailable, naming it.
    let addr = Address::custom("mytcp", "127.0.0.1:9").unwrap();
    let err = erpc::Client::connect(addr).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(
        err.message()
            .contains("no connector is registered for transport \"mytcp\""),
        "{err}"
    );
}
