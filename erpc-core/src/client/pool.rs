//! The connections a client keeps to one peer: lazily dialled, replaced when they die or the
//! server drains them, with exponential backoff after failed attempts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use erpc_transport::Address;
use tokio::time::Instant;

use crate::client::conn::ClientConn;
use crate::config::ClientConfig;
use crate::status::Status;

enum State {
    Idle,
    Up(Arc<ClientConn>),
    Down {
        retry_at: Instant,
        backoff: Duration,
    },
}

struct Slot {
    state: std::sync::Mutex<State>,
    /// Serialises dialling, so a burst of calls on a fresh client makes one connection.
    dialing: tokio::sync::Mutex<()>,
}

pub(crate) struct Pool {
    addr: Address,
    slots: Vec<Slot>,
    next: AtomicUsize,
}

impl Pool {
    pub fn new(addr: Address, connections: usize) -> Pool {
        let slots = (0..connections.max(1))
            .map(|_| Slot {
                state: std::sync::Mutex::new(State::Idle),
                dialing: tokio::sync::Mutex::new(()),
            })
            .collect();
        Pool {
            addr,
            slots,
            next: AtomicUsize::new(0),
        }
    }

    pub fn addr(&self) -> &Address {
        &self.addr
    }

    /// The next slot's connection if it is up; `Ok(None)` if it must be dialled (with
    /// [`Pool::dial`]); `unavailable` at once while the slot backs off after a failed attempt.
    pub fn ready_next(&self) -> Result<(usize, Option<Arc<ClientConn>>), Status> {
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
        if let Some(conn) = self.ready(slot)? {
            return Ok(conn);
        }
        let connect_by = deadline.min(Instant::now() + config.connect_timeout);
        let attempt =
            tokio::time::timeout_at(connect_by, ClientConn::connect(&self.addr, config)).await;
        let mut state = lock(slot);
        match attempt {
            Ok(Ok(conn)) => {
                *state = State::Up(conn.clone());
                Ok(conn)
            }
            failed => {
                let backoff = match &*state {
                    State::Down { backoff, .. } => (*backoff * 2).min(config.backoff_max),
                    _ => config.backoff_initial,
                };
                *state = State::Down {
                    retry_at: Instant::now() + backoff,
                    backoff,
                };
                Err(match failed {
                    Ok(Err(status)) => status,
                    _ => Status::unavailable(format!("timed out connecting to {}", self.addr)),
                })
            }
        }
    }

    /// The slot's connection if it is usable; `Ok(None)` if it should be (re)dialled.
    fn ready(&self, slot: &Slot) -> Result<Option<Arc<ClientConn>>, Status> {
        let state = lock(slot);
        match &*state {
            State::Up(conn) if conn.is_usable() => Ok(Some(conn.clone())),
            State::Down { retry_at, .. } if Instant::now() < *retry_at => {
                Err(Status::unavailable(format!(
                    "{} is unreachable; retrying in {:?}",
                    self.addr,
                    retry_at.saturating_duration_since(Instant::now())
                )))
            }
            _ => Ok(None),
        }
    }

    /// Close every connection.
    pub fn close(&self) {
        for slot in &self.slots {
            if let State::Up(conn) = std::mem::replace(&mut *lock(slot), State::Idle) {
                conn.close();
            }
        }
    }
}

fn lock(slot: &Slot) -> std::sync::MutexGuard<'_, State> {
    slot.state.lock().unwrap_or_else(|p| p.into_inner())
}
