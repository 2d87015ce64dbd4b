//! A gateway listening on its own: [`Gateway::serve`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::oneshot;

use crate::gateway::{Gateway, Shared};
use crate::lifecycle::Phase;

/// How long, once requests still open at the end of a drain are cut, the server is given to
/// send their last bytes before it is stopped.
const AFTER_CUT: Duration = Duration::from_secs(2);

/// How a [`GatewayServer::drain`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every request finished within the drain time.
    Finished,
    /// Requests were still open at the end of it: each was ended then (a stream with its
    /// final error, `unavailable`; a call with a 503).
    Cut,
}

/// A running gateway; stops when dropped (or with [`GatewayServer::shutdown`]).
pub struct GatewayServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    shared: Arc<Shared>,
}

impl Gateway {
    /// Listen on `addr` (`"0.0.0.0:8080"`; port 0 for any free one) over HTTP/1.1. Must be
    /// called inside a Tokio runtime.
    ///
    /// # Errors
    /// The bind's error (address in use, permission denied).
    pub async fn serve(&self, addr: impl ToSocketAddrs) -> std::io::Result<GatewayServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = self.router();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(GatewayServer {
            addr,
            stop: Some(stop),
            task,
            shared: self.shared.clone(),
        })
    }
}

impl std::fmt::Debug for GatewayServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl GatewayServer {
    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, let the requests being answered finish, and return the server's
    /// error if it stopped on one. `/readyz` answers 503 from now on. Waits as long as
    /// requests take: see [`GatewayServer::drain`] for a bound.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        self.begin_drain();
        joined((&mut self.task).await)
    }

    /// Like [`GatewayServer::shutdown`], for at most `within`: requests still open then are
    /// ended — a stream with its final error (`{"error": {"code": "unavailable", …}}` or
    /// `event: error`), a call with a 503 — so no caller is left with a body that just stops.
    /// Then the server has a moment (2 s) to send those last bytes before it is stopped.
    ///
    /// # Errors
    /// The server's error, if it stopped on one.
    pub async fn drain(mut self, within: Duration) -> std::io::Result<Drained> {
        self.begin_drain();
        let drained = match tokio::time::timeout(within, &mut self.task).await {
            Ok(stopped) => return joined(stopped).map(|()| Drained::Finished),
            Err(_) => Drained::Cut,
        };
        self.shared.lifecycle.enter(Phase::Cut);
        match tokio::time::timeout(AFTER_CUT, &mut self.task).await {
            Ok(stopped) => joined(stopped).map(|()| drained),
            Err(_) => {
                // Something other than a request of ours holds a connection open.
                self.task.abort();
                Ok(drained)
            }
        }
    }

    fn begin_drain(&mut self) {
        self.shared.lifecycle.enter(Phase::Draining);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Run until the server stops (on an I/O error; it never stops on its own otherwise).
    pub async fn wait(mut self) -> std::io::Result<()> {
        joined((&mut self.task).await)
    }
}

/// The server task's end as its result.
fn joined(stopped: Result<std::io::Result<()>, tokio::task::JoinError>) -> std::io::Result<()> {
    match stopped {
        Ok(result) => result,
        Err(e) => Err(std::io::Error::other(e)),
    }
}

impl Drop for GatewayServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
