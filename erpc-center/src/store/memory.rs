//! A store that keeps nothing: the registry is already in memory, so a center on this store
//! simply starts empty and forgets everything when the process ends. For tests and
//! in-process centers. Each start is a new history: a new epoch, and lease ids starting at a
//! random point, so that nothing handed out before the restart is taken for this history's.

use super::{Store, StoreError, first_lease, new_epoch};
use crate::model::Event;
use crate::state::{Record, Snapshot};

/// Persists nothing.
#[derive(Debug, Default)]
pub struct MemoryStore;

impl Store for MemoryStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            epoch: new_epoch()?,
            last_lease: first_lease()?,
            ..Snapshot::default()
        })
    }

    fn commit(&self, _: &Event, _: &Record, _: u64, _: usize) -> Result<(), StoreError> {
        Ok(())
    }
}
