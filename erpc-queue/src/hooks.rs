//! [`Hook`]: the bridge's plugins, run around each forwarded request — log it, transform its
//! metadata, refuse it.

use async_trait::async_trait;
use erpc_core::{ClientRequest, ClientResponse, Status};

/// Code the bridge runs before and after forwarding each request, in the order added
/// (`before` first to last, `after` last to first).
///
/// ```
/// use erpc_core::{ClientRequest, Status};
/// use erpc_queue::Hook;
///
/// /// Refuses requests without a tenant and tags the rest.
/// struct Tenant;
///
/// #[async_trait::async_trait]
/// impl Hook for Tenant {
///     async fn before(&self, request: &mut ClientRequest) -> Result<(), Status> {
///         if request.metadata.get("tenant").is_none() {
///             return Err(Status::permission_denied("no tenant"));
///         }
///         request.metadata.set("via", "erpc-bridge");
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Hook: Send + Sync + 'static {
    /// Before forwarding: change the request, or refuse it with a status — it is then
    /// answered with that status (not retried, not dead-lettered) and the service is not
    /// called. Default: pass it on.
    async fn before(&self, request: &mut ClientRequest) -> Result<(), Status> {
        let _ = request;
        Ok(())
    }

    /// After the last attempt: see (and change) what the caller will be answered. Not called
    /// for refused requests. Default: nothing.
    async fn after(&self, request: &ClientRequest, result: &mut Result<ClientResponse, Status>) {
        let _ = (request, result);
    }
}

/// A hook logging each forwarded request and its outcome at `info` (target `erpc_queue`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogHook;

#[async_trait]
impl Hook for LogHook {
    async fn after(&self, request: &ClientRequest, result: &mut Result<ClientResponse, Status>) {
        match result {
            Ok(response) => tracing::info!(
                service = %request.service,
                method = %request.method,
                bytes = response.body.len(),
                "forwarded"
            ),
            Err(status) => tracing::info!(
                service = %request.service,
                method = %request.method,
                %status,
                "forwarded, failed"
            ),
        }
    }
}
