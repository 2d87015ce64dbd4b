//! [`pair`]: a service served on a fresh `mem://` address and a typed client connected to it.

use std::sync::atomic::{AtomicU64, Ordering};

use erpc_core::client::TypedClient;
use erpc_core::{Client, ClientBuilder, Server, ServerBuilder, ServerHandle, Service};

/// Serve `service` on a fresh `mem://` address (unique in the process) with default settings
/// and return a typed client connected to it — any `XClient` of `#[erpc::service]`, or
/// [`Client`] — with the server's handle.
///
/// ```
/// # use erpc::{Status, testing};
/// # #[erpc::service] pub trait Greeter { async fn hello(&self, name: String) -> Result<String, Status>; }
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mock = MockGreeter::new().hello(|name| Ok(name));
/// let (client, _server) = testing::pair::<GreeterClient>(mock).await;
/// assert_eq!(client.hello("echo".into()).await.unwrap(), "echo");
/// # }
/// ```
///
/// # Panics
/// If the server cannot listen or the client cannot connect (neither happens on `mem://`
/// short of running out of memory): this is for tests.
pub async fn pair<C: TypedClient>(service: impl Service) -> (C, TestServer) {
    pair_with(Server::builder().add_service(service), Client::builder()).await
}

/// [`pair`] with the server and client built from builders of your own: several services,
/// layers (fault injection), limits, codecs.
///
/// ```
/// # use erpc::{Status, testing};
/// # #[erpc::service] pub trait Greeter { async fn hello(&self, name: String) -> Result<String, Status>; }
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let faults = testing::Faults::new();
/// let server = erpc::Server::builder().add_service(MockGreeter::new().hello(|n| Ok(n)));
/// let client = erpc::Client::builder().layer(faults.layer());
/// let (client, _server) = testing::pair_with::<GreeterClient>(server, client).await;
/// faults.set_all(testing::Fault::new().error(1.0, Status::unavailable("chaos")));
/// assert_eq!(client.hello("x".into()).await.unwrap_err().message(), "chaos");
/// # }
/// ```
///
/// # Panics
/// As [`pair`].
pub async fn pair_with<C: TypedClient>(
    server: ServerBuilder,
    client: ClientBuilder,
) -> (C, TestServer) {
    let addr = fresh_addr();
    let handle = server
        .serve([addr.as_str()])
        .await
        .unwrap_or_else(|e| panic!("erpc::testing: serving on {addr} failed: {e}"));
    let client = client
        .connect(addr.as_str())
        .await
        .unwrap_or_else(|status| panic!("erpc::testing: connecting to {addr} failed: {status}"));
    let server = TestServer {
        addr,
        handle: Some(handle),
    };
    (C::from_client(client), server)
}

/// A fresh in-memory address: the process id and a counter, so parallel tests never meet.
fn fresh_addr() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "mem://erpc-testing-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The server of a [`pair`]: shut down by [`TestServer::shutdown`], or when dropped (in the
/// background, on the current tokio runtime if there is one — ending the runtime ends it
/// too).
#[derive(Debug)]
pub struct TestServer {
    addr: String,
    handle: Option<ServerHandle>,
}

impl TestServer {
    /// The `mem://` address it serves on, for more clients (`XClient::connect(addr)`).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Another typed client of it, with default settings.
    ///
    /// # Panics
    /// If it cannot connect (the server was shut down).
    pub async fn client<C: TypedClient>(&self) -> C {
        let client = Client::connect(self.addr.as_str())
            .await
            .unwrap_or_else(|status| {
                panic!(
                    "erpc::testing: connecting to {} failed: {status}",
                    self.addr
                )
            });
        C::from_client(client)
    }

    /// Graceful shutdown (as [`ServerHandle::shutdown`]), waited for.
    pub async fn shutdown(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let Some(handle) = self.handle.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(handle.shutdown());
        }
    }
}
