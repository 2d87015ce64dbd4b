//! Where the center keeps its state across restarts.
//!
//! A store persists every change in revision order — the change itself (for watch replay)
//! and what it did to the state — and hands back a [`Snapshot`] at start. Lease renewals are
//! not persisted: after a restart every lease gets a full TTL of grace instead
//! ([`crate::registry::Registry::restore`]).

pub mod memory;
pub mod redb;

use crate::model::Event;
use crate::registry::{Record, Snapshot};

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

/// A durable home for the center's state.
pub trait Store: Send + Sync + 'static {
    /// Everything persisted so far.
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
