//! Where the center keeps its state across restarts.
//!
//! A store persists every change in revision order — the change itself (for watch replay)
//! and what it did to the state — and hands back a [`Snapshot`] at start. Lease renewals are
//! not persisted: after a restart every lease gets a full TTL of grace instead
//! ([`crate::state::CenterState::restore`]).

pub mod memory;
pub mod redb;

use crate::model::Event;
use crate::state::{Record, Snapshot};

/// A store failed; the change it was given is not applied.
#[derive(Debug, thiserror::Error)]
#[error("center store: {0}")]
pub struct StoreError(pub String);

impl StoreError {
    /// Wrap any error.
    pub fn from_any(e: impl std::fmt::Display) -> StoreError {
        StoreError(e.to_string())
    }
}

/// A new history's epoch ([`Snapshot::epoch`]): random, never 0, below 2^53 so that it is
/// exact in every JSON parser.
pub fn new_epoch() -> Result<u64, StoreError> {
    Ok((random()? >> 11).max(1))
}

/// Where a new history's lease ids start ([`Snapshot::last_lease`]): random, below 2^52, so
/// that a lease id granted by another history (before a memory center restarted, or by a
/// center on another store) is not one this history grants — renewing or releasing it says
/// "unknown" instead of touching another instance's lease. Counting up from there stays below
/// 2^53.
pub fn first_lease() -> Result<u64, StoreError> {
    Ok(random()? >> 12)
}

fn random() -> Result<u64, StoreError> {
    getrandom::u64().map_err(|e| StoreError(format!("no random numbers for a new history: {e}")))
}

/// A durable home for the center's state.
pub trait Store: Send + Sync + 'static {
    /// Everything persisted so far, with the history's epoch: the same every time for as long
    /// as the store keeps its history, a new one ([`new_epoch`]) when it starts a history.
    fn load(&self) -> Result<Snapshot, StoreError>;
    /// Persist one change, atomically: the event, its record, the lease counter, and the
    /// trimming of events older than the last `history` ones.
    fn commit(
        &self,
        event: &Event,
        record: &Record,
        last_lease: u64,
        history: usize,
    ) -> Result<(), StoreError>;
}
