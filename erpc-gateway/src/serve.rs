//! A gateway listening on its own: [`Gateway::serve`].

use std::net::SocketAddr;

use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::oneshot;

use crate::gateway::Gateway;

/// A running gateway; stops when dropped (or with [`GatewayServer::shutdown`]).
#[derive(Debug)]
pub struct GatewayServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
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
        })
    }
}

impl GatewayServer {
    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, let the requests being answered finish, and return the server's
    /// error if it stopped on one.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// Run until the server stops (on an I/O error; it never stops on its own otherwise).
    pub async fn wait(mut self) -> std::io::Result<()> {
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

impl Drop for GatewayServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
