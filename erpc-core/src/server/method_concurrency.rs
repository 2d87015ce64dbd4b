//! Concurrency caps per method as a header-level hook — bulkheads, so that one slow method
//! filling up with waiting calls cannot take every slot of the server from the others.

use std::sync::Arc;

use super::admission::{Admission, Admitted, CallHead};
use super::concurrency_limit::ConcurrencyLimit;
use crate::per_method::PerMethod;
use crate::status::{Status, zero_cap};

/// A cap on running calls per method: a method's own cap is its own bulkhead; a service's
/// cap is one bulkhead shared by that service's methods without their own; the default
/// (`None`: no cap) one shared by every other call. Over its cap a call is refused
/// `resource_exhausted` before anything is decoded or
/// spawned. The server-wide cap is [`ConcurrencyLimit`].
///
/// ```
/// # use erpc_core as erpc;
/// use erpc::per_method::PerMethod;
/// use erpc::server::MethodConcurrencyLimit;
///
/// // `Reports.Build` is slow: at most 8 at once, so it never holds the slots others need.
/// let caps = MethodConcurrencyLimit::new(PerMethod::new(None).method("Reports", "build", Some(8)))?;
/// let server = erpc::Server::builder().admission(caps);
/// # let _ = server;
/// # Ok::<(), erpc::Status>(())
/// ```
#[derive(Debug, Clone)]
pub struct MethodConcurrencyLimit {
    caps: Arc<PerMethod<Option<ConcurrencyLimit>>>,
}

impl MethodConcurrencyLimit {
    /// Caps per method, as `caps` says. Errors: `invalid_argument` for a cap of 0 (it
    /// would refuse every call it covers).
    pub fn new(caps: PerMethod<Option<usize>>) -> Result<MethodConcurrencyLimit, Status> {
        if caps.values().any(|cap| *cap == Some(0)) {
            return Err(zero_cap("MethodConcurrencyLimit::new with a cap of 0"));
        }
        let caps = caps.map(|cap| cap.and_then(|cap| ConcurrencyLimit::new(cap).ok()));
        Ok(MethodConcurrencyLimit {
            caps: Arc::new(caps),
        })
    }

    /// Calls running now under the cap that covers `service.method` (`None`: no cap).
    pub fn running(&self, service: &str, method: &str) -> Option<usize> {
        self.caps.get(service, method).as_ref().map(|c| c.running())
    }
}

impl Admission for MethodConcurrencyLimit {
    fn refused_by(&self) -> crate::observe::RefusedBy {
        crate::observe::RefusedBy::MethodConcurrency
    }

    /// A cap on running calls: a call waiting for a rate limit's turn takes no slot.
    fn counts_running(&self) -> bool {
        true
    }

    fn names(&self) -> Vec<crate::per_method::Named> {
        self.caps.named("MethodConcurrencyLimit")
    }

    fn admit(&self, call: &CallHead<'_>) -> Result<Admitted, Status> {
        match self.caps.get(call.service, call.method) {
            None => Ok(Admitted::now()),
            Some(cap) => cap.admit(call).map_err(|refused| {
                Status::resource_exhausted(format!(
                    "{} for {}.{} (MethodConcurrencyLimit)",
                    refused.message().trim_end_matches(" (ConcurrencyLimit)"),
                    call.service,
                    call.method
                ))
            }),
        }
    }
}
