//! Calling erpc from synchronous code.
//!
//! [`Blocking`] owns a small runtime and runs each call to completion on it, so a program
//! without async can use any typed or untyped client:
//!
//! ```no_run
//! # #[erpc::service] trait Greeter { async fn hello(&self, name: String) -> Result<String, erpc::Status>; }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = erpc::blocking::Blocking::new(GreeterClient::new(erpc::Client::new("tcp://127.0.0.1:7000")?))?;
//! let reply = client.call(|c| c.hello("ada".into()))?;
//! # Ok(()) }
//! ```

use std::future::IntoFuture;
use std::io;
use std::sync::Arc;

use tokio::runtime::Runtime;

/// A client made blocking. Cheap to clone; clones share the runtime and connections.
#[derive(Clone, Debug)]
pub struct Blocking<C> {
    client: C,
    runtime: Arc<Runtime>,
}

impl<C> Blocking<C> {
    /// Wrap `client`, with a one-worker runtime that keeps its connections alive (answering
    /// heartbeats) between calls.
    pub fn new(client: C) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("erpc-blocking")
            .enable_all()
            .build()?;
        Ok(Blocking {
            client,
            runtime: Arc::new(runtime),
        })
    }

    /// Run one call to completion: `blocking.call(|c| c.hello(name))`.
    ///
    /// # Panics
    /// If called from inside an async runtime (blocking there would stall it).
    pub fn call<F, T>(&self, make: impl FnOnce(&C) -> F) -> T
    where
        F: IntoFuture<Output = T>,
    {
        self.runtime.block_on(make(&self.client).into_future())
    }

    /// The wrapped client.
    pub fn get_ref(&self) -> &C {
        &self.client
    }
}
