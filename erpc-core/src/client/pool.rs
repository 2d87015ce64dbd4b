//! The connections a client keeps to one peer: lazily dialled, replaced when they die or the
//! server drains them, with exponential backoff after failed attempts.
//!
//! Backoff with decorrelated jitter: after a failed dial a slot waits a random time between
//! `backoff_initial` and three times its previous wait, at most `backoff_max` — "Decorrelated
//! Jitter" of AWS's "Exponential Backoff and Jitter" (Marc Brooker, 2015,
//! <https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/>). Clients that
//! lost a server together (a restart) failed their first redials together; without jitter
//! they would all redial again in the same instant at every step. Decorrelated rather than
//! full jitter because dials here happen on demand: with full jitter the ceiling doubled at
//! every failure however short the wait before it, so a busy client's ceiling reached
//! seconds within a short outage and it stayed away that long after the server was back
//! (a provider's lease expired during a 1.5 s center restart). Here each wait grows from the
//! previous wait, so the backoff tracks the outage's length. The random draw is made only on
//! a failed dial, never on the call path.
//!
//! No delay precedes the first redial after a connection is lost: connections are dialled
//! only when a call needs one (nothing redials in the background), so that redial has a
//! call waiting on it and is as spread out as the calls are.
//!
//! Health: a connection that died because the server stopped answering heartbeats (a stalled
//! process, a black-holed link) is not simply redialled — a stopped process's kernel still
//! accepts connections, and each would swallow calls until their deadlines. Like a slot whose
//! backoff has passed, it must first be re-checked: a new connection must answer a PING
//! before it takes calls. So must every new connection over a transport whose dial sends
//! nothing (KCP): otherwise a stopped server would swallow calls until their deadlines.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use erpc_transport::Address;
use tokio::time::Instant;

use crate::client::conn::{ClientConn, Closing};
use crate::client::redial_note::redial_note;
use crate::client::watchers::Watchers;
use crate::config::ClientConfig;
use crate::status::Status;

enum State {
    Idle,
    Up(Arc<ClientConn>),
    Down {
        /// When the slot may be dialled again: a random point within `backoff`; while a
        /// background re-check runs, when that check gives up.
        retry_at: Instant,
        /// The ceiling of the wait; doubles with each failure.
        backoff: Duration,
        /// Why the last attempt failed (refused, timed out, the TLS handshake, no answer
        /// to the PING), which calls refused while the slot waits are told.
        why: Status,
    },
}

struct Slot {
    state: std::sync::Mutex<State>,
    /// Serialises dialling, so a burst of calls on a fresh client makes one connection.
    /// Shared so that a background re-check can hold it from before it is spawned.
    dialing: Arc<tokio::sync::Mutex<()>>,
}

impl State {
    /// Whether the next connection must prove the server answers: the last attempt failed,
    /// or the last connection died of silence.
    fn suspect(&self) -> bool {
        match self {
            State::Down { .. } => true,
            State::Up(conn) => conn.failed_health(),
            State::Idle => false,
        }
    }
}

pub(crate) struct Pool {
    addr: Address,
    slots: Vec<Slot>,
    next: AtomicUsize,
    /// The instance's load and the client's observer, handed to each connection.
    watchers: Watchers,
}

impl Pool {
    pub fn new(addr: Address, connections: usize, watchers: Watchers) -> Pool {
        let slots = (0..connections.max(1))
            .map(|_| Slot {
                state: std::sync::Mutex::new(State::Idle),
                dialing: Arc::new(tokio::sync::Mutex::new(())),
            })
            .collect();
        Pool {
            addr,
            slots,
            next: AtomicUsize::new(0),
            watchers,
        }
    }

    pub fn addr(&self) -> &Address {
        &self.addr
    }

    /// The next slot's connection if it is up; `Ok(None)` if it must be dialled (with
    /// [`Pool::dial`]); [`Unready`] at once while the slot backs off after a failed attempt.
    pub fn ready_next(&self) -> Result<(usize, Option<Arc<ClientConn>>), Unready> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        Ok((index, self.ready(&self.slots[index])?))
    }

    /// Dial slot `index`, unless someone else connected it meanwhile.
    pub async fn dial(
        &self,
        index: usize,
        config: &ClientConfig,
        deadline: Instant,
    ) -> Result<Arc<ClientConn>, Status> {
        let slot = &self.slots[index];
        let _dialing = tokio::time::timeout_at(deadline, slot.dialing.lock())
            .await
            .map_err(|_| Status::deadline_exceeded("deadline passed while connecting"))?;
        // Someone else may have connected while we waited.
        if let Some(conn) = self.ready(slot).map_err(|unready| unready.status())? {
            return Ok(conn);
        }
        self.connect(slot, config, deadline).await
    }

    /// Connect `slot` (its dialling lock held) and record the outcome: up, or down with a
    /// doubled backoff. A [suspect](State::suspect) slot, and a connection whose dial proves
    /// nothing (KCP), must also answer a PING within the connect timeout: one round trip.
    async fn connect(
        &self,
        slot: &Slot,
        config: &ClientConfig,
        deadline: Instant,
    ) -> Result<Arc<ClientConn>, Status> {
        let recovering = lock(slot).suspect();
        let connect_by = deadline.min(Instant::now() + config.connect_timeout);
        let attempt = match tokio::time::timeout_at(
            connect_by,
            ClientConn::connect(&self.addr, config, self.watchers.clone()),
        )
        .await
        {
            Ok(Ok(conn)) if recovering || !conn.connect_proves_peer() => {
                match conn.probe(connect_by).await {
                    Ok(()) => Ok(conn),
                    Err(e) => {
                        conn.close(Closing::Unproven);
                        // A new connection the server never answered on: not connected.
                        Err(e.from_connect_failure())
                    }
                }
            }
            Ok(result) => result,
            Err(_) => Err(
                Status::unavailable(format!("timed out connecting to {}", self.addr))
                    .from_connect_failure(),
            ),
        };
        if let Some(load) = &self.watchers.load {
            load.set_suspect(attempt.is_err());
        }
        if let (Err(_), Some(observer)) = (&attempt, &self.watchers.observer) {
            observer.instance_connect_failed(&self.addr);
        }
        let mut state = lock(slot);
        match attempt {
            Ok(conn) => {
                *state = State::Up(conn.clone());
                Ok(conn)
            }
            Err(status) => {
                let previous = match &*state {
                    State::Down { backoff, .. } => *backoff,
                    _ => config.backoff_initial,
                };
                let backoff =
                    decorrelated_jitter(config.backoff_initial, previous, config.backoff_max);
                *state = State::Down {
                    retry_at: Instant::now() + backoff,
                    backoff,
                    why: status.clone(),
                };
                Err(status)
            }
        }
    }

    /// If slot `index` is to be dialled and is [suspect](State::suspect) (its backoff has
    /// passed, or its connection died of silence), re-check it in the background — dial, and
    /// a PING answered — and return `true`; meanwhile it counts as backing off, so a
    /// balanced client sends its calls elsewhere instead of making one of them wait for the
    /// check.
    pub fn recheck_in_background(self: &Arc<Self>, index: usize, config: &ClientConfig) -> bool {
        let slot = &self.slots[index];
        // Someone dialling it already will settle it.
        let Ok(dialing) = slot.dialing.clone().try_lock_owned() else {
            return false;
        };
        let by = Instant::now() + config.connect_timeout;
        {
            let mut state = lock(slot);
            let (backoff, why) = match &*state {
                State::Down {
                    retry_at,
                    backoff,
                    why,
                } if Instant::now() >= *retry_at => (*backoff, why.clone()),
                State::Up(conn) if !conn.is_usable() && conn.failed_health() => {
                    if let Some(load) = &self.watchers.load {
                        load.set_suspect(true);
                    }
                    (config.backoff_initial, conn.dead_status())
                }
                _ => return false,
            };
            // Held off while the check runs; the check sets the outcome.
            *state = State::Down {
                retry_at: by,
                backoff,
                why,
            };
        }
        let (pool, config) = (self.clone(), config.clone());
        tokio::spawn(async move {
            let _dialing = dialing;
            if let Err(e) = pool.connect(&pool.slots[index], &config, by).await {
                tracing::debug!(peer = %pool.addr, error = %e, "instance still unhealthy");
            }
        });
        true
    }

    /// Why this instance is known unreachable, if it is: no slot has a usable connection
    /// or is untried, and every slot's last attempt failed — backing off, or (its backoff
    /// passed) re-checked now in the background, counting as backing off until the check
    /// succeeds. `None` if a slot is connected, was never tried, or is being dialled by a
    /// call (its outcome is not known yet).
    pub fn unreachable(self: &Arc<Self>, config: &ClientConfig) -> Option<Unready> {
        let mut why = None;
        for (index, slot) in self.slots.iter().enumerate() {
            let unready = match self.ready(slot) {
                Ok(Some(_)) => return None,
                Err(unready) => unready,
                // Due a redial: only a suspect slot (a failed attempt, a connection that
                // died of silence) is known against; re-checking it holds it off meanwhile.
                Ok(None) => {
                    if !lock(slot).suspect() || !self.recheck_in_background(index, config) {
                        return None;
                    }
                    match self.ready(slot) {
                        Err(unready) => unready,
                        Ok(_) => return None,
                    }
                }
            };
            why.get_or_insert(unready);
        }
        why
    }

    /// The slot's connection if it is usable; `Ok(None)` if it should be (re)dialled.
    fn ready(&self, slot: &Slot) -> Result<Option<Arc<ClientConn>>, Unready> {
        let state = lock(slot);
        match &*state {
            State::Up(conn) if conn.is_usable() => Ok(Some(conn.clone())),
            State::Down {
                retry_at,
                backoff,
                why,
            } if Instant::now() < *retry_at => Err(Unready {
                why: self.why_down(why),
                // At most the backoff: while a re-check runs, `retry_at` is when the check
                // gives up (the connect timeout), but its outcome is known as soon as the
                // dial ends — a refused one at once — and the wait named to callers is the
                // client's backoff, not its connect timeout.
                left: retry_at
                    .saturating_duration_since(Instant::now())
                    .min(*backoff),
            }),
            _ => Ok(None),
        }
    }

    /// Why this instance is down, naming it once: `why`'s message (the last attempt's
    /// failure) if it names the address already ("cannot connect to ADDR: …"), else
    /// "ADDR is unreachable: …".
    fn why_down(&self, why: &Status) -> String {
        let addr = self.addr.to_string();
        if why.message().contains(&addr) {
            why.message().to_owned()
        } else {
            format!("{addr} is unreachable: {}", why.message())
        }
    }

    /// Close every connection for `why`; the connections closed, to wait for if one likes.
    pub fn close(&self, why: Closing) -> Vec<Arc<ClientConn>> {
        let mut closed = Vec::new();
        for slot in &self.slots {
            if let State::Up(conn) = std::mem::replace(&mut *lock(slot), State::Idle) {
                conn.close(why);
                closed.push(conn);
            }
        }
        closed
    }
}

/// The next wait after `previous`: uniformly random in `[initial, 3 × previous)`, at most
/// `max` — AWS's "Decorrelated Jitter" (see the module docs).
fn decorrelated_jitter(initial: Duration, previous: Duration, max: Duration) -> Duration {
    let high = (previous * 3).max(initial);
    (initial + (high - initial).mul_f64(fastrand::f64())).min(max)
}

/// A slot backing off after a failed attempt: why that attempt failed, and how long until
/// the slot is dialled again.
#[derive(Debug, Clone)]
pub(crate) struct Unready {
    /// The last attempt's failure, naming the instance's address once ("cannot connect to
    /// tcp://10.0.0.7:7000: Connection refused (os error 111)").
    pub why: String,
    /// Until the next dial.
    pub left: Duration,
}

impl Unready {
    /// The status of a call refused for it: `unavailable`, the failure and the wait —
    /// "cannot connect to tcp://10.0.0.7:7000: Connection refused (os error 111); retrying
    /// in 236 ms" (the [redial note](crate::client::redial_note)) — with the wait as its
    /// retry hint (a retry before it fails fast the same way; a gateway's `Retry-After`),
    /// marked a [connect failure](Status::is_connect_failure). Where it means that no
    /// instance can take the call (the client's only one), the target marks it so too
    /// ([`Status::no_instance_now`]): a fail mode does not retry it.
    pub fn status(&self) -> Status {
        Status::unavailable(format!("{}{}", self.why, redial_note(1, self.left)))
            .with_retry_after(self.left)
            .from_connect_failure()
    }
}

fn lock(slot: &Slot) -> std::sync::MutexGuard<'_, State> {
    slot.state.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call meeting an instance that is backing off is told when it is redialled: as a
    /// retry hint (an HTTP gateway's `Retry-After`), and in the message in whole
    /// milliseconds, not as `Duration`'s Debug ("235.761349ms").
    #[tokio::test]
    async fn a_backing_off_instance_says_when_it_is_redialled() {
        let config = ClientConfig::default();
        let addr: Address = "mem://nobody-listens-for-hints".parse().expect("address");
        let pool = Pool::new(addr, 1, Watchers::default());
        let far = Instant::now() + Duration::from_secs(5);
        assert!(pool.dial(0, &config, far).await.is_err(), "nothing listens");
        let Err(refused) = pool.ready(&pool.slots[0]) else {
            panic!("a backing-off slot is not ready");
        };
        let refused = refused.status();
        assert_eq!(refused.code(), crate::Code::Unavailable);
        let hint = refused.retry_after().expect("a retry hint");
        assert!(hint <= config.backoff_initial * 3, "{hint:?}");
        let message = refused.message();
        let wait = message
            .split("retrying in ")
            .nth(1)
            .unwrap_or_else(|| panic!("{message}"));
        let ms = wait
            .strip_suffix(" ms")
            .unwrap_or_else(|| panic!("{message}"));
        assert!(ms.parse::<u64>().is_ok(), "{message}");
    }

    /// Readiness (`Client::reachability`): an instance never tried is not known against; a
    /// failed attempt makes it unreachable while it backs off; once the backoff passes, asking
    /// re-checks it in the background (no call needed), and it is reachable again as soon as
    /// that check succeeds.
    #[tokio::test]
    async fn an_instance_is_unreachable_from_a_failed_attempt_until_a_recheck_succeeds() {
        let config = ClientConfig {
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_millis(40),
            ..ClientConfig::default()
        };
        let name = "mem://reachability-of-a-late-server";
        let pool = Arc::new(Pool::new(
            name.parse().expect("address"),
            1,
            Watchers::default(),
        ));
        assert!(pool.unreachable(&config).is_none(), "never tried");
        let far = Instant::now() + Duration::from_secs(5);
        assert!(pool.dial(0, &config, far).await.is_err(), "nothing listens");
        let why = pool
            .unreachable(&config)
            .expect("a failed attempt is known");
        assert!(why.why.contains(name), "{}", why.why);
        // Still nothing there after the backoff: the re-check asking starts fails too.
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(pool.unreachable(&config).is_some(), "re-checked, held off");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(pool.unreachable(&config).is_some(), "still nothing there");
        // The server comes up; with no call made, asking again finds it back.
        let server = crate::Server::builder()
            .serve([name])
            .await
            .expect("serves");
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.unreachable(&config).is_some() {
            assert!(Instant::now() < deadline, "not found back within 5 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.shutdown().await;
    }

    /// Clients that fail to dial at the same instant must not all retry at the same
    /// instant: their retry times spread over the backoff window.
    #[tokio::test]
    async fn clients_failing_together_retry_at_spread_out_times() {
        let config = ClientConfig::default();
        let addr: Address = "mem://nobody-listens-for-jitter".parse().expect("address");
        let mut waits = Vec::new();
        for _ in 0..100 {
            let pool = Pool::new(addr.clone(), 1, Watchers::default());
            let failed_at = Instant::now();
            let far = failed_at + Duration::from_secs(5);
            assert!(pool.dial(0, &config, far).await.is_err(), "nothing listens");
            let State::Down {
                retry_at, backoff, ..
            } = &*lock(&pool.slots[0])
            else {
                panic!("a failed dial leaves the slot down");
            };
            // The first wait: between backoff_initial and three times it.
            assert!(*backoff >= config.backoff_initial);
            assert!(*backoff < config.backoff_initial * 3);
            assert!(*retry_at <= Instant::now() + *backoff);
            waits.push(retry_at.saturating_duration_since(failed_at));
        }
        let (min, max) = (waits.iter().min(), waits.iter().max());
        let (Some(min), Some(max)) = (min, max) else {
            unreachable!("100 waits")
        };
        // Uniform over 200 ms: 100 draws all within 50 ms of each other has odds of about
        // 100 × 4^-99.
        assert!(
            *max - *min > config.backoff_initial / 2,
            "retries bunched between {min:?} and {max:?}"
        );
    }

    #[test]
    fn waits_grow_from_the_previous_wait_and_stay_within_bounds() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_secs(5));
        let mut wait = initial;
        for _ in 0..50 {
            let next = decorrelated_jitter(initial, wait, max);
            assert!(
                next >= initial && next <= max && next < wait * 3 + initial,
                "{next:?}"
            );
            wait = next;
        }
        // A short outage keeps short waits: after a 100 ms wait, the next is under 300 ms.
        assert!(decorrelated_jitter(initial, initial, max) < Duration::from_millis(300));
    }
}
