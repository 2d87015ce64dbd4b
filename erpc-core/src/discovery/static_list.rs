//! A fixed list of endpoints: a direct address, or several.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;

use super::{Discover, Endpoint, Endpoints};
use crate::status::Status;

/// The same endpoints for every service name, forever.
#[derive(Debug, Clone)]
pub struct StaticList {
    endpoints: Endpoints,
}

impl StaticList {
    /// These endpoints.
    pub fn new(endpoints: impl IntoIterator<Item = Endpoint>) -> StaticList {
        StaticList {
            endpoints: endpoints.into_iter().collect::<Vec<_>>().into(),
        }
    }

    /// Endpoints at these addresses, weight 100 each.
    pub fn addrs<I, A>(addrs: I) -> Result<StaticList, erpc_transport::AddressError>
    where
        I: IntoIterator<Item = A>,
        A: erpc_transport::IntoAddress,
    {
        let endpoints = addrs
            .into_iter()
            .map(|a| a.into_address().map(Endpoint::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StaticList::new(endpoints))
    }
}

#[async_trait]
impl Discover for StaticList {
    async fn subscribe(&self, _service: &str) -> Result<watch::Receiver<Endpoints>, Status> {
        // The sender is dropped: the value never changes, and receivers keep it.
        let (_, rx) = watch::channel(Arc::clone(&self.endpoints));
        Ok(rx)
    }
}
