//! Where a client's calls go: one address's pool, or a discovered service's instances with a
//! balancer picking one per call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use erpc_transport::Address;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::conn::ClientConn;
use crate::client::pool::Pool;
use crate::config::ClientConfig;
use crate::discovery::{Balancer, Endpoint, Endpoints};
use crate::status::Status;

/// A pool and the slot a call should use in it.
pub(crate) struct Pick {
    pub pool: Arc<Pool>,
    pub slot: usize,
}

pub(crate) enum Target {
    One(Arc<Pool>),
    Many(Balanced),
}

/// A discovered service.
pub(crate) struct Balanced {
    service: String,
    endpoints: watch::Receiver<Endpoints>,
    balancer: Arc<dyn Balancer>,
    /// One pool per address, made on first use, dropped when its endpoint leaves the list.
    pools: Mutex<HashMap<Address, Arc<Pool>>>,
    connections: usize,
}

impl Target {
    pub fn many(
        service: String,
        endpoints: watch::Receiver<Endpoints>,
        balancer: Arc<dyn Balancer>,
        connections: usize,
    ) -> Target {
        Target::Many(Balanced {
            service,
            endpoints,
            balancer,
            pools: Mutex::default(),
            connections,
        })
    }

    /// The single address, if this is one.
    pub fn addr(&self) -> Option<&Address> {
        match self {
            Target::One(pool) => Some(pool.addr()),
            Target::Many(_) => None,
        }
    }

    /// What to show in `Debug`.
    pub fn describe(&self) -> String {
        match self {
            Target::One(pool) => pool.addr().to_string(),
            Target::Many(b) => format!("service {:?}", b.service),
        }
    }

    /// The next call's pool slot, with its connection if it is up (`None`: dial it).
    pub fn ready_next(&self) -> Result<(Pick, Option<Arc<ClientConn>>), Status> {
        match self {
            Target::One(pool) => {
                let (slot, conn) = pool.ready_next()?;
                Ok((
                    Pick {
                        pool: pool.clone(),
                        slot,
                    },
                    conn,
                ))
            }
            Target::Many(b) => b.ready_next(),
        }
    }

    /// A usable connection for the next call, dialling if needed.
    pub async fn get(
        &self,
        config: &ClientConfig,
        deadline: Instant,
    ) -> Result<Arc<ClientConn>, Status> {
        match self.ready_next()? {
            (_, Some(conn)) => Ok(conn),
            (pick, None) => pick.pool.dial(pick.slot, config, deadline).await,
        }
    }

    /// Close every connection.
    pub fn close(&self) {
        match self {
            Target::One(pool) => pool.close(),
            Target::Many(b) => {
                for pool in b.lock().values() {
                    pool.close();
                }
            }
        }
    }
}

impl Balanced {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Address, Arc<Pool>>> {
        self.pools.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Pick an endpoint with the balancer among those not backing off after a failed
    /// connection; try the others if the pick is down.
    fn ready_next(&self) -> Result<(Pick, Option<Arc<ClientConn>>), Status> {
        let endpoints = self.endpoints.borrow().clone();
        if endpoints.is_empty() {
            return Err(Status::unavailable(format!(
                "no instance of {:?} is known",
                self.service
            )));
        }
        let mut pools = self.lock();
        // Forget pools of endpoints that left.
        pools.retain(|addr, pool| {
            let keep = endpoints.iter().any(|e| e.addr == *addr);
            if !keep {
                pool.close();
            }
            keep
        });
        let mut candidates: Vec<Endpoint> = endpoints.to_vec();
        let mut last_error = None;
        while !candidates.is_empty() {
            let i = self.balancer.pick(&candidates).min(candidates.len() - 1);
            let endpoint = candidates.swap_remove(i);
            let pool = pools
                .entry(endpoint.addr.clone())
                .or_insert_with(|| Arc::new(Pool::new(endpoint.addr.clone(), self.connections)))
                .clone();
            match pool.ready_next() {
                Ok((slot, conn)) => return Ok((Pick { pool, slot }, conn)),
                // Down (its last connection attempt failed): skip it until it recovers.
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| Status::unavailable("no instance is reachable")))
    }
}
