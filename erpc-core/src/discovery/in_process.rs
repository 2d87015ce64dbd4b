//! A registry inside this process: servers register, clients discover, no network. For
//! tests, and for applications wiring services together in one binary.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::watch;

use super::{Discover, Endpoints, Instance, Register, Registration};
use crate::status::Status;

type Services = HashMap<String, (Vec<Instance>, watch::Sender<Endpoints>)>;

/// An in-process registry. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct InProcess {
    services: Arc<Mutex<Services>>,
}

impl InProcess {
    fn update(&self, service: &str, change: impl FnOnce(&mut Vec<Instance>)) {
        let mut services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        let (instances, tx) = services
            .entry(service.to_owned())
            .or_insert_with(|| (Vec::new(), watch::channel(Endpoints::from(Vec::new())).0));
        change(instances);
        let endpoints: Endpoints = instances.iter().filter_map(Instance::endpoint).collect();
        tx.send_replace(endpoints);
    }

    /// The instances registered for `service`.
    pub fn instances(&self, service: &str) -> Vec<Instance> {
        let services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        services
            .get(service)
            .map(|(i, _)| i.clone())
            .unwrap_or_default()
    }
}

#[async_trait]
impl Discover for InProcess {
    async fn subscribe(&self, service: &str) -> Result<watch::Receiver<Endpoints>, Status> {
        self.update(service, |_| {});
        let services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        services
            .get(service)
            .map(|(_, tx)| tx.subscribe())
            .ok_or_else(|| Status::internal("service vanished"))
    }
}

#[async_trait]
impl Register for InProcess {
    async fn register(&self, instance: Instance) -> Result<Box<dyn Registration>, Status> {
        let (service, id) = (instance.service.clone(), instance.id.clone());
        self.update(&service, |list| {
            list.retain(|i| i.id != instance.id);
            list.push(instance);
        });
        Ok(Box::new(InProcessRegistration {
            registry: self.clone(),
            service,
            id,
            live: true,
        }))
    }
}

struct InProcessRegistration {
    registry: InProcess,
    service: String,
    id: String,
    live: bool,
}

impl InProcessRegistration {
    fn remove(&mut self) {
        if std::mem::take(&mut self.live) {
            let id = self.id.clone();
            self.registry
                .update(&self.service, |list| list.retain(|i| i.id != id));
        }
    }
}

#[async_trait]
impl Registration for InProcessRegistration {
    async fn deregister(mut self: Box<Self>) -> Result<(), Status> {
        self.remove();
        Ok(())
    }

    async fn update(&self, instance: Instance) -> Result<(), Status> {
        if (instance.service.as_str(), instance.id.as_str()) != (&self.service, &self.id) {
            return Err(Status::invalid_argument(format!(
                "an update must keep the instance's service and id ({:?}, {:?}), not change them to ({:?}, {:?})",
                self.service, self.id, instance.service, instance.id
            )));
        }
        self.registry.update(&self.service, |list| {
            list.retain(|i| i.id != instance.id);
            list.push(instance);
        });
        Ok(())
    }
}

impl Drop for InProcessRegistration {
    fn drop(&mut self) {
        // A dropped registration is a vanished process: gone at once (there is no lease).
        self.remove();
    }
}
