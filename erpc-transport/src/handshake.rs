//! Listeners whose connections need a handshake (TLS, WebSocket upgrade, QUIC): handshakes
//! run concurrently, each under the deadline, off the accept path, so a peer that connects
//! and stays silent holds one bounded slot for at most the deadline and delays nobody.

use std::io;
use std::time::Duration;

#[cfg(any(feature = "tls", feature = "ws", feature = "quic"))]
pub(crate) use listener::Handshaken;

#[cfg(any(feature = "tls", feature = "ws", feature = "quic"))]
mod listener {
    use std::io;
    use std::sync::Arc;
    use std::time::Duration;

    use futures_util::future::BoxFuture;
    use tokio::sync::{Semaphore, mpsc};
    use tokio::task::JoinHandle;

    use super::within;
    use crate::link::Link;

    /// Handshakes in progress at once per listener; further connections wait in the kernel's
    /// backlog (TCP) or quinn's queue (QUIC).
    pub(crate) const MAX_HANDSHAKES: usize = 256;

    /// The links whose handshakes succeeded, in the order they finished.
    #[derive(Debug)]
    pub(crate) struct Handshaken {
        links: mpsc::Receiver<Link>,
        acceptor: JoinHandle<()>,
    }

    impl Drop for Handshaken {
        fn drop(&mut self) {
            self.acceptor.abort();
        }
    }

    impl Handshaken {
        /// Run `accept` in a loop; hand each accepted connection to `handshake` in its own task
        /// under `timeout`. Failed handshakes are logged and forgotten.
        pub(crate) fn spawn<C, A, H>(mut accept: A, handshake: H, timeout: Duration) -> Handshaken
        where
            C: Send + 'static,
            A: FnMut() -> BoxFuture<'static, io::Result<Option<(C, String)>>> + Send + 'static,
            H: Fn(C) -> BoxFuture<'static, io::Result<Link>> + Send + Sync + 'static,
        {
            let (tx, links) = mpsc::channel(MAX_HANDSHAKES);
            let handshake = Arc::new(handshake);
            let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
            let acceptor = tokio::spawn(async move {
                let mut backoff = Duration::from_millis(5);
                loop {
                    let Ok(slot) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    let (conn, peer) = match accept().await {
                        Ok(Some(accepted)) => accepted,
                        Ok(None) => return,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(1));
                            continue;
                        }
                    };
                    backoff = Duration::from_millis(5);
                    let (tx, handshake) = (tx.clone(), handshake.clone());
                    tokio::spawn(async move {
                        match within(timeout, "handshake", handshake(conn)).await {
                            Ok(link) => {
                                let _ = tx.send(link).await;
                            }
                            Err(e) => tracing::debug!(%peer, error = %e, "handshake failed"),
                        }
                        drop(slot);
                    });
                }
            });
            Handshaken { links, acceptor }
        }

        /// [`Handshaken::spawn`] over a TCP listener (tls, ws, wss): each accepted socket, with
        /// `TCP_NODELAY` set, goes to `handshake`.
        pub(crate) fn spawn_tcp<H>(
            tcp: tokio::net::TcpListener,
            handshake: H,
            timeout: Duration,
        ) -> Handshaken
        where
            H: Fn(
                    (tokio::net::TcpStream, std::net::SocketAddr),
                ) -> BoxFuture<'static, io::Result<Link>>
                + Send
                + Sync
                + 'static,
        {
            use futures_util::FutureExt;
            let tcp = Arc::new(tcp);
            let next = move || {
                let tcp = tcp.clone();
                async move {
                    let (stream, peer) = tcp.accept().await?;
                    // A socket that refuses NODELAY still works, only slower.
                    let _ = stream.set_nodelay(true);
                    Ok(Some(((stream, peer), peer.to_string())))
                }
                .boxed()
            };
            Handshaken::spawn(next, handshake, timeout)
        }

        /// The next link that finished its handshake.
        pub(crate) async fn accept(&mut self) -> io::Result<Link> {
            self.links
                .recv()
                .await
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "listener closed"))
        }
    }
}

/// Run `handshake` under the deadline; a peer that stays silent gets `TimedOut`.
#[cfg_attr(
    not(any(feature = "tls", feature = "ws", feature = "quic", feature = "udp")),
    allow(dead_code)
)]
pub(crate) async fn within<T>(
    timeout: Duration,
    what: &str,
    handshake: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    tokio::time::timeout(timeout, handshake)
        .await
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{what} did not finish within {timeout:?}"),
            ))
        })
}
