//! Where a client's calls go: one address's pool, or a discovered service's instances with a
//! balancer picking one per call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use erpc_transport::Address;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::conn::{ClientConn, Closing};
use crate::client::pool::{Pool, Unready};
use crate::client::reachability::Reachability;
use crate::client::watchers::Watchers;
use crate::config::ClientConfig;
use crate::discovery::route_follow::Routing;
use crate::discovery::{
    Balancer, Candidates, Endpoint, Endpoints, Load, Pick as Call, Subset, Want,
};
use crate::observe::Observer;
use crate::status::Status;

/// A pool and the slot a call should dial in it.
pub(crate) struct Pick {
    pub pool: Arc<Pool>,
    pub slot: usize,
}

/// Where the next call goes: a connection that is up, or a slot to dial first.
pub(crate) enum Ready {
    Conn(Arc<ClientConn>),
    Dial(Pick),
}

pub(crate) enum Target {
    One(Arc<Pool>),
    Many(Box<Balanced>),
}

/// A discovered service.
pub(crate) struct Balanced {
    service: String,
    endpoints: watch::Receiver<Endpoints>,
    balancer: Arc<dyn Balancer>,
    pools: Mutex<Pools>,
    connections: usize,
    observer: Option<Arc<dyn Observer>>,
    /// Which of the discovered instances calls may go to.
    subset: Subset,
    /// Where the next look for a suspect instance due for a re-check starts (see
    /// [`Balanced::recheck_next`]).
    recheck_cursor: AtomicUsize,
    /// For those re-checks (dial settings, connect timeout).
    config: ClientConfig,
}

/// One pool per endpoint, in the list's order, so a call finds its pool by position (no
/// hashing or copying an address per call). Rebuilt only when the list changes, keeping the
/// pools (and their connections) of the addresses still listed.
#[derive(Default)]
struct Pools {
    /// The discovered list last followed.
    seen: Option<Endpoints>,
    /// The endpoints of it in the client's subset: what `aligned` follows.
    current: Vec<Endpoint>,
    aligned: Vec<Arc<Pool>>,
    /// Each pool's instance load, in the same order, for the balancer.
    loads: Vec<Arc<Load>>,
    /// Changes with `current`, so that balancers can cache what they derive from it.
    generation: u64,
    /// The routing rules followed, if the client was given some
    /// ([`crate::ClientBuilder::routes`]): they narrow `current` per call.
    routing: Option<Routing>,
}

impl Pools {
    /// Follow `endpoints` if they are not the list already followed.
    fn follow(
        &mut self,
        endpoints: &Endpoints,
        connections: usize,
        observer: &Option<Arc<dyn Observer>>,
        subset: &Subset,
    ) {
        if self
            .seen
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, endpoints))
        {
            return;
        }
        let current: Vec<Endpoint> = endpoints
            .iter()
            .filter(|e| subset.matches(&e.instance))
            .cloned()
            .collect();
        let mut old: HashMap<&Address, (Arc<Pool>, Arc<Load>)> = HashMap::new();
        let kept = self.aligned.drain(..).zip(self.loads.drain(..));
        for (endpoint, pool) in self.current.iter().zip(kept) {
            old.insert(&endpoint.addr, pool);
        }
        let (aligned, loads) = current
            .iter()
            .map(|e| {
                old.remove(&e.addr).unwrap_or_else(|| {
                    let load = Arc::new(Load::default());
                    let watchers = Watchers {
                        load: Some(load.clone()),
                        observer: observer.clone(),
                    };
                    let pool = Pool::new(e.addr.clone(), connections, watchers);
                    (Arc::new(pool), load)
                })
            })
            .unzip();
        // What is left is no longer listed.
        for (pool, _) in old.into_values() {
            pool.close(Closing::Unlisted);
        }
        self.aligned = aligned;
        self.loads = loads;
        self.current = current;
        self.generation = crate::discovery::balance::next_generation();
        self.seen = Some(endpoints.clone());
    }
}

impl Target {
    pub fn many(
        service: String,
        endpoints: watch::Receiver<Endpoints>,
        balancer: Arc<dyn Balancer>,
        connections: usize,
        observer: Option<Arc<dyn Observer>>,
        subset: Subset,
        config: ClientConfig,
    ) -> Target {
        Target::Many(Box::new(Balanced {
            service,
            endpoints,
            balancer,
            pools: Mutex::default(),
            connections,
            observer,
            subset,
            recheck_cursor: AtomicUsize::new(0),
            config,
        }))
    }

    /// Narrow each call's instances by `routing`'s rules (a discovered service only).
    pub fn routed(self, routing: Option<Routing>) -> Target {
        if let Target::Many(b) = &self {
            b.lock().routing = routing;
        }
        self
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

    /// Where the next call goes.
    pub fn ready_next(&self, call: &Call<'_>) -> Result<Ready, Status> {
        match self {
            // The one instance is backing off: no instance can take the call now.
            Target::One(pool) => {
                ready_in(pool).map_err(|unready| unready.status().no_instance_now())
            }
            Target::Many(b) => b.ready_next(call),
        }
    }

    /// A usable connection for the next call, dialling if needed.
    pub async fn get(
        &self,
        config: &ClientConfig,
        deadline: Instant,
        call: &Call<'_>,
    ) -> Result<Arc<ClientConn>, Status> {
        match self.ready_next(call)? {
            Ready::Conn(conn) => Ok(conn),
            Ready::Dial(pick) => self.dial(pick, config, deadline, call).await,
        }
    }

    /// Dial the picked slot. For a discovered service, a suspect instance (backoff passed,
    /// or its connection died of silence) is re-checked in the background while the call
    /// goes to another one, and an instance that cannot be reached now backs off and the
    /// others are tried in turn (nothing has been sent yet) until one answers, each has
    /// failed or is backing off, or the deadline passes. A call no instance could take fails
    /// saying why for each ([`Down::status`]), not with the last attempt's failure alone.
    pub async fn dial(
        &self,
        mut pick: Pick,
        config: &ClientConfig,
        deadline: Instant,
        call: &Call<'_>,
    ) -> Result<Arc<ClientConn>, Status> {
        let Target::Many(b) = self else {
            return pick.pool.dial(pick.slot, config, deadline).await;
        };
        // The picks below are again for the same attempt: they must not take the next
        // call's turn (see `Pick::retry`).
        let again = Call {
            retry: true,
            ..*call
        };
        let call = &again;
        // Each re-check started holds its slot off, so this ends within the list's length.
        while pick.pool.recheck_in_background(pick.slot, config) {
            match b.ready_next(call) {
                Ok(Ready::Conn(conn)) => return Ok(conn),
                Ok(Ready::Dial(next)) => pick = next,
                // Nothing else is up: this call waits for the check's outcome.
                Err(_) => break,
            }
        }
        let mut failed = match pick.pool.dial(pick.slot, config, deadline).await {
            Ok(conn) => return Ok(conn),
            Err(e) => e,
        };
        // A failed dial puts its instance in backoff, so `ready_next` offers each instance
        // at most once more: the list's length bounds the dials (a re-check that does not
        // settle an instance must not make this spin).
        let mut dials_left = b.instances().len().saturating_sub(1);
        loop {
            tracing::debug!(service = %b.service, error = %failed, "instance unreachable; trying another");
            match b.ready_next(call) {
                Ok(Ready::Conn(conn)) => return Ok(conn),
                // Every instance failed or is backing off: each one's reason.
                Err(all) => return Err(all),
                Ok(Ready::Dial(next)) => {
                    if dials_left == 0 || Instant::now() >= deadline {
                        return Err(failed);
                    }
                    dials_left -= 1;
                    match next.pool.dial(next.slot, config, deadline).await {
                        Ok(conn) => return Ok(conn),
                        Err(e) => failed = e,
                    }
                }
            }
        }
    }

    /// The addresses of the instances calls may go to now (the one address of a client of
    /// one address), for a broadcast or a fork.
    pub fn instances(&self) -> Vec<Address> {
        match self {
            Target::One(pool) => vec![pool.addr().clone()],
            Target::Many(b) => b.instances(),
        }
    }

    /// Each instance calls may go to now, and whether it is known unreachable
    /// ([`crate::Client::reachability`]); `config` is for the re-checks of a client of one
    /// address (a discovered service's client keeps its own).
    pub fn reachability(&self, config: &ClientConfig) -> Vec<Reachability> {
        let pools: Vec<Arc<Pool>> = match self {
            Target::One(pool) => vec![pool.clone()],
            Target::Many(b) => {
                let endpoints = b.endpoints.borrow();
                let mut pools = b.lock();
                pools.follow(&endpoints, b.connections, &b.observer, &b.subset);
                pools.aligned.clone()
            }
        };
        let config = match self {
            Target::One(_) => config,
            Target::Many(b) => &b.config,
        };
        pools
            .iter()
            .map(|pool| Reachability {
                addr: pool.addr().clone(),
                unreachable: pool.unreachable(config).map(|unready| unready.status()),
            })
            .collect()
    }

    /// Close every connection, as [`crate::Client::close`] does; the connections closed.
    pub fn close(&self) -> Vec<Arc<ClientConn>> {
        match self {
            Target::One(pool) => pool.close(Closing::ByClient),
            Target::Many(b) => b
                .lock()
                .aligned
                .iter()
                .flat_map(|p| p.close(Closing::ByClient))
                .collect(),
        }
    }
}

impl Balanced {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pools> {
        self.pools.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Look at one instance per call, in turn: if it is suspect and its backoff has passed,
    /// re-check it in the background. A suspect instance is otherwise re-checked only when
    /// a pick lands on it, and policies that avoid unusable instances (least-outstanding,
    /// P2C, consistent hashing, ...) never pick it: it would stay out for good. Costs one
    /// atomic increment and one load per call while no instance is suspect.
    fn recheck_next(&self, pools: &Pools) {
        let n = pools.loads.len();
        let i = self.recheck_cursor.fetch_add(1, Ordering::Relaxed) % n;
        if !pools.loads[i].is_suspect() {
            return;
        }
        let pool = &pools.aligned[i];
        if let Ok((slot, None)) = pool.ready_next() {
            pool.recheck_in_background(slot, &self.config);
        }
    }

    /// Let the balancer pick; if that instance is backing off after a failed connection, its
    /// circuit breaker is open, or its registration says it is not serving, take the next
    /// one that is not. Per call this costs one
    /// read of the list and one lock; a pool's `Arc` is cloned only when a slot must be
    /// dialled.
    fn ready_next(&self, call: &Call<'_>) -> Result<Ready, Status> {
        let endpoints = self.endpoints.borrow();
        if endpoints.is_empty() {
            return Err(Status::unavailable(format!(
                "no instance of {:?} is known",
                self.service
            )));
        }
        let mut pools = self.lock();
        pools.follow(&endpoints, self.connections, &self.observer, &self.subset);
        drop(endpoints);
        let n = pools.current.len();
        if n == 0 {
            return Err(Status::unavailable(format!(
                "no instance of {:?} is in the client's subset ({})",
                self.service, self.subset
            )));
        }
        self.recheck_next(&pools);
        let steer = call.steer;
        if let Some(addr) = steer.prefer() {
            if let Some(ready) = self.preferred(&pools, addr, steer.want())? {
                return Ok(ready);
            }
        }
        let pools = &mut *pools;
        // The routing rules' subset for this call, if any: the balancer picks among its
        // members (positions in `current`), and so does the fallback below.
        let view = match pools.routing.as_mut() {
            Some(routing) => match routing.plan(&pools.current, &pools.loads, pools.generation) {
                Some(plan) => plan.choose(call)?,
                None => None,
            },
            None => None,
        };
        let (candidates, members) = match view {
            Some(view) => (
                Candidates::with_generation(&view.endpoints, &view.loads, view.generation),
                Some(view.members.as_slice()),
            ),
            None => (
                Candidates::with_generation(&pools.current, &pools.loads, pools.generation),
                None,
            ),
        };
        let n = candidates.len();
        let first = self.balancer.pick(call, &candidates) % n;
        let avoid = steer.avoid();
        let mut down = Down::default();
        let mut open_breakers = 0;
        let mut not_serving = 0;
        // A first pass without the instances to avoid; a second with them, when nothing
        // else could take the call (a retry to a tried instance beats no retry).
        let passes = if avoid.is_empty() { 1 } else { 2 };
        for pass in 0..passes {
            for k in 0..n {
                let i = (first + k) % n;
                let i = members.map_or(i, |m| m[i]);
                // Its server's health says NOT_SERVING (a failing health check): its
                // registration is marked, and it stays listed so its connections stay warm
                // for its return.
                if !pools.current[i].instance.is_serving() {
                    not_serving += usize::from(pass == 0);
                    continue;
                }
                if pools.loads[i].is_breaker_open() {
                    open_breakers += usize::from(pass == 0);
                    continue;
                }
                if pass == 0 && avoid.contains(&pools.current[i].addr) {
                    continue;
                }
                match ready_in(&pools.aligned[i]) {
                    Ok(ready) => return Ok(ready),
                    // Down (its last connection attempt failed): skip it until it recovers.
                    // Counted once: on the second pass, only the avoided ones are new.
                    Err(unready) => {
                        if pass == 0 || avoid.contains(&pools.current[i].addr) {
                            down.add(unready);
                        }
                    }
                }
            }
        }
        // No instance can take the call now, and a retry would meet the same breakers or
        // health: final for now (`Status::no_instance_now`: no fail mode retries it).
        let none_can = if not_serving == n {
            Some(("", "reports NOT_SERVING (its health)"))
        } else if open_breakers == n {
            let why = "has its instance circuit breaker open, or half-open with its trial calls \
                       in flight (an open one half-opens after its open timeout)";
            Some(("circuit breaker open: ", why))
        } else if open_breakers + not_serving == n {
            Some(("", "reports NOT_SERVING or has its circuit breaker open"))
        } else {
            None
        };
        if let Some((prefix, why)) = none_can {
            return Err(Status::unavailable(format!(
                "{prefix}every instance of {:?} {why}",
                self.service
            ))
            .no_instance_now());
        }
        Err(down.status(&self.service, open_breakers, not_serving))
    }

    /// The preferred instance `addr`, if it can take the call: `None` to let the balancer
    /// pick instead ([`Want::Same`] when it is gone or unusable), an error when the call is
    /// pinned to it ([`Want::Only`]) and it cannot.
    fn preferred(
        &self,
        pools: &Pools,
        addr: &Address,
        want: &Want,
    ) -> Result<Option<Ready>, Status> {
        let pinned = matches!(want, Want::Only(_));
        let Some(i) = pools.current.iter().position(|e| &e.addr == addr) else {
            return match pinned {
                true => Err(Status::unavailable(format!(
                    "instance {addr} of {:?} is no longer listed",
                    self.service
                ))),
                false => Ok(None),
            };
        };
        let unusable = pools.loads[i].is_breaker_open() || !pools.current[i].instance.is_serving();
        if unusable && !pinned {
            return Ok(None);
        }
        match ready_in(&pools.aligned[i]) {
            Ok(ready) => Ok(Some(ready)),
            Err(unready) if pinned => Err(unready.status()),
            Err(_) => Ok(None),
        }
    }

    /// The addresses of the instances calls may go to now, in the discovered order.
    fn instances(&self) -> Vec<Address> {
        let endpoints = self.endpoints.borrow();
        let mut pools = self.lock();
        pools.follow(&endpoints, self.connections, &self.observer, &self.subset);
        pools.current.iter().map(|e| e.addr.clone()).collect()
    }
}

/// The instances of a service found backing off after failed attempts, for the status of a
/// call none of them could take.
#[derive(Default)]
struct Down {
    /// The first [`Down::SHOWN`] of them, in the order they were tried.
    shown: Vec<Unready>,
    /// How many there are.
    count: usize,
    /// The soonest redial among them.
    soonest: Option<std::time::Duration>,
}

impl Down {
    /// How many instances' failures a message names: enough to see whether they share a
    /// cause, few enough to read.
    const SHOWN: usize = 3;

    /// Count `unready`.
    fn add(&mut self, unready: Unready) {
        self.count += 1;
        self.soonest = Some(self.soonest.map_or(unready.left, |s| s.min(unready.left)));
        if self.shown.len() < Self::SHOWN {
            self.shown.push(unready);
        }
    }

    /// `unavailable`: "no instance of "S" is reachable: " and why each (shown) instance's
    /// last attempt failed — "…" and how many more only when there are more than shown —
    /// and the other instances that could not take the call (breaker open, NOT_SERVING);
    /// the soonest redial as the retry hint; a [connect failure](Status::is_connect_failure).
    fn status(self, service: &str, open_breakers: usize, not_serving: usize) -> Status {
        let mut message = format!("no instance of {service:?} is reachable");
        let whys: Vec<&str> = self.shown.iter().map(|u| u.why.as_str()).collect();
        if !whys.is_empty() {
            message.push_str(": ");
            message.push_str(&whys.join("; "));
        }
        if self.count > self.shown.len() {
            message.push_str(&format!("; … and {} more", self.count - self.shown.len()));
        }
        for (n, what) in [
            (open_breakers, "circuit breaker open"),
            (not_serving, "NOT_SERVING"),
        ] {
            if n > 0 {
                message.push_str(&format!("; {n} more with {what}"));
            }
        }
        let Some(soonest) = self.soonest else {
            return Status::unavailable(message);
        };
        message.push_str(&crate::client::redial_note::redial_note(
            self.count, soonest,
        ));
        Status::unavailable(message)
            .with_retry_after(soonest)
            .from_connect_failure()
            .no_instance_now()
    }
}

/// Where a call goes in `pool`: its next slot's connection, or that slot to dial.
fn ready_in(pool: &Arc<Pool>) -> Result<Ready, Unready> {
    Ok(match pool.ready_next()? {
        (_, Some(conn)) => Ready::Conn(conn),
        (slot, None) => Ready::Dial(Pick {
            pool: pool.clone(),
            slot,
        }),
    })
}
