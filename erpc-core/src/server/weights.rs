//! The weight a running server's registrations carry, changed without a restart: weighted
//! balancers ([`crate::discovery::Weighted`]) of every client following the registry shift
//! their share of calls to it as the registry tells them.

use std::sync::{Arc, Mutex};

use super::health::registry::{self, Slot};
use super::health::{Health, ServingStatus};
use crate::status::Status;

/// The weights of a server's registrations ([`ServerHandle::weights`](crate::ServerHandle::weights)):
/// cloneable, for a live configuration to hold.
#[derive(Clone)]
pub struct Weights {
    pub(crate) slots: Arc<Mutex<Vec<Slot>>>,
    pub(crate) health: Health,
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Weights").finish_non_exhaustive()
    }
}

impl Weights {
    /// Register every service of the server with `weight` (0 takes no calls from weighted
    /// balancers) from now on, each keeping its health mark. A server registered with
    /// nothing has nothing to change.
    ///
    /// # Errors
    /// The first registry refusal (`unimplemented` from a registry that cannot update a
    /// registration in place); the others are still tried, and the new weight is used for
    /// every later registration either way.
    pub async fn set(&self, weight: u32) -> Result<(), Status> {
        // Registrations are whole: a poisoned list is still consistent.
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut first = Ok(());
        for slot in &slots {
            let service = slot.lock().await.service().to_owned();
            let serving = self.health.status(&service) == ServingStatus::Serving;
            let done = registry::set_weight(slot, weight, serving).await;
            if first.is_ok() {
                first = done;
            }
        }
        first
    }
}
