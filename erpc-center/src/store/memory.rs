//! A store that keeps nothing: the registry is already in memory, so a center on this store
//! simply starts empty and forgets everything when the process ends. For tests and
//! in-process centers.

use super::{Store, StoreError};
use crate::model::Event;
use crate::registry::{Record, Snapshot};

/// Persists nothing.
#[derive(Debug, Default)]
pub struct MemoryStore;

impl Store for MemoryStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot::default())
    }

    fn commit(&self, _: &Event, _: &Record, _: u64, _: usize) -> Result<(), StoreError> {
        Ok(())
    }
}
