//! Server middleware ([`Middleware`]): code that wraps every call a server runs, around the
//! handler, seeing the call in its untyped form before the body is decoded. See
//! [`crate::middleware`] for an example.

use std::sync::{Arc, Mutex};

use crate::server::{Request, Response, Service};
use crate::status::Status;
/// Server middleware. See the module docs for an example.
#[async_trait::async_trait]
pub trait Middleware: Send + Sync + 'static {
    /// Handle `request`, usually by passing it on with `next.run(request)`.
    async fn call(&self, request: Request, next: Next<'_>) -> Result<Response, Status>;
}

/// The rest of a server chain: further middleware, then the service.
pub struct Next<'a> {
    chain: &'a [Arc<dyn Middleware>],
    end: End<'a>,
}

/// What the end of a chain does.
#[derive(Clone, Copy)]
enum End<'a> {
    /// Call the service.
    Service(&'a dyn Service),
    /// The opening of a stream passed every middleware: hand the request back to the engine,
    /// which runs the streaming handler with it.
    Opened(&'a Mutex<Option<Request>>),
}

impl<'a> Next<'a> {
    pub(crate) fn new(chain: &'a [Arc<dyn Middleware>], service: &'a dyn Service) -> Self {
        Next {
            chain,
            end: End::Service(service),
        }
    }

    /// A chain for a stream's opening, which ends by putting the request in `opened`.
    pub(crate) fn for_stream(
        chain: &'a [Arc<dyn Middleware>],
        opened: &'a Mutex<Option<Request>>,
    ) -> Self {
        Next {
            chain,
            end: End::Opened(opened),
        }
    }

    /// Run the rest of the chain.
    pub async fn run(self, request: Request) -> Result<Response, Status> {
        match self.chain.split_first() {
            Some((first, rest)) => {
                let next = Next {
                    chain: rest,
                    end: self.end,
                };
                first.call(request, next).await
            }
            None => match self.end {
                End::Service(service) => service.call(request).await,
                End::Opened(opened) => {
                    *opened.lock().unwrap_or_else(|p| p.into_inner()) = Some(request);
                    Ok(Response::default())
                }
            },
        }
    }
}
