//! Health fed to the registry: while a registered service is not `SERVING`, its registration
//! says so (or it is deregistered, by choice), so balanced clients stop calling this server
//! for it; once `SERVING` again, it is marked serving (or registered) again.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Health, ServingStatus};
use crate::discovery::{Instance, Register, Registration};
use crate::status::{Code, Status};

/// What a server tells its registry of its health ([`crate::ServerBuilder::health_in_registry`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealthInRegistry {
    /// Keep the instance registered and mark it: metadata
    /// [`HEALTH_KEY`](crate::discovery::HEALTH_KEY) = `"NOT_SERVING"` while not serving.
    /// Balanced clients skip it but keep their connections to it. The default. A registry
    /// that cannot update a registration in place ([`Registration::update`] answers
    /// `unimplemented`) gets [`HealthInRegistry::Deregister`] instead.
    #[default]
    Mark,
    /// Deregister the instance while it is not serving, register it again once it is.
    /// Clients drop their connections to it meanwhile.
    Deregister,
    /// Tell the registry nothing: the instance stays listed as serving whatever its health.
    Off,
}

/// How long after a registry refused a health change it is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// One service's registration, shared by the shutdown (which takes it to deregister) and the
/// health follower (which marks it).
pub(crate) struct Registered {
    registry: Arc<dyn Register>,
    /// The instance as registered when serving (unmarked).
    instance: Instance,
    registration: Option<Box<dyn Registration>>,
    mode: HealthInRegistry,
    /// Taken for a shutdown's deregistration: nothing may register it again.
    closed: bool,
}

/// A registration slot: locked across registry calls, so a mark and the shutdown's
/// deregistration never interleave.
pub(crate) type Slot = Arc<tokio::sync::Mutex<Registered>>;

/// Register `instance` with `registry`, in a slot.
pub(crate) async fn register(
    registry: Arc<dyn Register>,
    instance: Instance,
    mode: HealthInRegistry,
) -> Result<Slot, Status> {
    let registration = registry.register(instance.clone()).await?;
    Ok(Arc::new(tokio::sync::Mutex::new(Registered {
        registry,
        instance,
        registration: Some(registration),
        mode,
        closed: false,
    })))
}

impl Registered {
    /// The service registered.
    pub(crate) fn service(&self) -> &str {
        &self.instance.service
    }
}

/// Take the registration out for good (a shutdown): nothing registers it again after this.
pub(crate) async fn close(slot: &Slot) -> Option<Box<dyn Registration>> {
    let mut registered = slot.lock().await;
    registered.closed = true;
    registered.registration.take()
}

/// Follow the health of `slot`'s service and tell the registry of every change, until
/// `stop` or until the slot is dropped. A registry that refuses is asked again every
/// [`RETRY`]. Holds the slot weakly: a server handle dropped without a shutdown drops its
/// registrations, which stop renewing (as a killed process's would), and this ends.
pub(crate) async fn follow(
    slot: Weak<tokio::sync::Mutex<Registered>>,
    health: Health,
    stop: CancellationToken,
) {
    let Some((service, mode)) = (match slot.upgrade() {
        Some(slot) => {
            let registered = slot.lock().await;
            Some((registered.instance.service.clone(), registered.mode))
        }
        None => None,
    }) else {
        return;
    };
    if mode == HealthInRegistry::Off {
        return;
    }
    let mut changes = health.changes();
    let mut told = true;
    loop {
        let serving = health.status(&service) == ServingStatus::Serving;
        let mut retry = None;
        if serving != told {
            let Some(slot) = slot.upgrade() else {
                return;
            };
            match apply(&slot, serving).await {
                Ok(()) => told = serving,
                Err(status) => {
                    tracing::warn!(%service, serving, %status, "the registry refused a health change; trying again");
                    retry = Some(RETRY);
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(retry.unwrap_or(RETRY)), if retry.is_some() => {}
        }
    }
}

/// Tell the registry that `slot`'s service is serving or not, as its mode says.
async fn apply(slot: &Slot, serving: bool) -> Result<(), Status> {
    let mut registered = slot.lock().await;
    if registered.closed {
        return Ok(());
    }
    if registered.mode == HealthInRegistry::Mark {
        let marked = registered.instance.clone().marked_serving(serving);
        let Some(registration) = &registered.registration else {
            return Ok(());
        };
        match registration.update(marked).await {
            Err(status) if status.code() == Code::Unimplemented => {
                tracing::info!(service = %registered.instance.service, %status, "the registry cannot mark health; deregistering while not serving instead");
                registered.mode = HealthInRegistry::Deregister;
            }
            other => return other,
        }
    }
    if serving {
        if registered.registration.is_none() {
            let registration = registered
                .registry
                .register(registered.instance.clone())
                .await?;
            registered.registration = Some(registration);
        }
    } else if let Some(registration) = registered.registration.take() {
        // Once taken it is gone whatever the answer: a registration the registry could not
        // remove expires with its lease (no longer renewed).
        registration.deregister().await?;
    }
    Ok(())
}

/// Register `slot`'s instance with `weight` from now on, keeping its health mark (`serving`
/// says which): the registration is updated in place; a service deregistered while not
/// serving is registered with the new weight when it serves again.
pub(crate) async fn set_weight(slot: &Slot, weight: u32, serving: bool) -> Result<(), Status> {
    let mut registered = slot.lock().await;
    if registered.closed {
        return Ok(());
    }
    registered.instance.weight = weight;
    let current = match registered.mode {
        HealthInRegistry::Mark => registered.instance.clone().marked_serving(serving),
        _ => registered.instance.clone(),
    };
    match &registered.registration {
        Some(registration) => registration.update(current).await,
        None => Ok(()),
    }
}
