//! Where a client's calls go: one address's pool, or a discovered service's instances with a
//! balancer picking one per call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use erpc_transport::Address;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::conn::ClientConn;
use crate::client::pool::{Pool, PoolConfig};
use crate::config::ClientConfig;
use crate::discovery::{Balancer, Endpoints};
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
    pools: Mutex<Pools>,
    pool_config: PoolConfig,
}

/// One pool per endpoint, in the list's order, so a call finds its pool by position (no
/// hashing or copying an address per call). Rebuilt only when the list changes, keeping the
/// pools (and their connections) of the addresses still listed.
#[derive(Default)]
struct Pools {
    /// The list `aligned` follows.
    seen: Option<Endpoints>,
    aligned: Vec<Arc<Pool>>,
}

impl Pools {
    /// Follow `endpoints` if they are not the list already followed.
    fn follow(&mut self, endpoints: &Endpoints, config: PoolConfig) {
        if self
            .seen
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, endpoints))
        {
            return;
        }
        let mut old: HashMap<&Address, Arc<Pool>> = HashMap::new();
        if let Some(seen) = &self.seen {
            for (endpoint, pool) in seen.iter().zip(self.aligned.drain(..)) {
                old.insert(&endpoint.addr, pool);
            }
        }
        let aligned = endpoints
            .iter()
            .map(|e| {
                old.remove(&e.addr)
                    .unwrap_or_else(|| Arc::new(Pool::new(e.addr.clone(), config)))
            })
            .collect();
        // What is left is no longer listed.
        for pool in old.into_values() {
            pool.close();
        }
        self.aligned = aligned;
        self.seen = Some(endpoints.clone());
    }
}

impl Target {
    pub fn many(
        service: String,
        endpoints: watch::Receiver<Endpoints>,
        balancer: Arc<dyn Balancer>,
        pool_config: PoolConfig,
    ) -> Target {
        Target::Many(Balanced {
            service,
            endpoints,
            balancer,
            pools: Mutex::default(),
            pool_config,
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
            (pick, None) => self.dial(pick, config, deadline).await,
        }
    }

    /// Dial the picked slot. For a discovered service, an instance coming out of backoff is
    /// re-checked in the background while the call goes to another one, and an instance
    /// that cannot be reached now backs off and another is tried once: nothing has been sent
    /// yet.
    pub async fn dial(
        &self,
        mut pick: Pick,
        config: &ClientConfig,
        deadline: Instant,
    ) -> Result<Arc<ClientConn>, Status> {
        if let Target::Many(b) = self {
            // Each re-check started holds its slot off, so this ends within the list's length.
            while pick.pool.recheck_in_background(pick.slot, config) {
                match b.ready_next() {
                    Ok((_, Some(conn))) => return Ok(conn),
                    Ok((next, None)) => pick = next,
                    // Nothing else is up: this call waits for the check's outcome.
                    Err(_) => return pick.pool.dial(pick.slot, config, deadline).await,
                }
            }
        }
        match (pick.pool.dial(pick.slot, config, deadline).await, self) {
            (Err(e), Target::Many(b)) => {
                tracing::debug!(service = %b.service, error = %e, "instance unreachable; trying another");
                match b.ready_next()? {
                    (_, Some(conn)) => Ok(conn),
                    (pick, None) => pick.pool.dial(pick.slot, config, deadline).await,
                }
            }
            (result, _) => result,
        }
    }

    /// Close every connection.
    pub fn close(&self) {
        match self {
            Target::One(pool) => pool.close(),
            Target::Many(b) => {
                for pool in &b.lock().aligned {
                    pool.close();
                }
            }
        }
    }
}

impl Balanced {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pools> {
        self.pools.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Let the balancer pick; if that instance is backing off after a failed connection,
    /// take the next one that is not. Per call this costs the list's `Arc` clone, one lock
    /// and the pool's `Arc` clone.
    fn ready_next(&self) -> Result<(Pick, Option<Arc<ClientConn>>), Status> {
        let endpoints = self.endpoints.borrow().clone();
        if endpoints.is_empty() {
            return Err(Status::unavailable(format!(
                "no instance of {:?} is known",
                self.service
            )));
        }
        let mut pools = self.lock();
        pools.follow(&endpoints, self.pool_config);
        let first = self.balancer.pick(&endpoints).min(endpoints.len() - 1);
        let mut last_error = None;
        for k in 0..endpoints.len() {
            let pool = pools.aligned[(first + k) % endpoints.len()].clone();
            match pool.ready_next() {
                Ok((slot, conn)) => return Ok((Pick { pool, slot }, conn)),
                // Down (its last connection attempt failed): skip it until it recovers.
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| Status::unavailable("no instance is reachable")))
    }
}
