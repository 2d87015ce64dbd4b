//! A store that forgets everything when the process ends: for tests and in-process centers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use super::{Store, StoreError};
use crate::model::Event;
use crate::registry::{Record, Registration, Snapshot};

#[derive(Debug, Default)]
struct State {
    revision: u64,
    last_lease: u64,
    registrations: BTreeMap<(String, String), Registration>,
    config: BTreeMap<String, String>,
    events: VecDeque<Event>,
}

/// Keeps state in memory only.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl Store for MemoryStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Ok(Snapshot {
            revision: s.revision,
            last_lease: s.last_lease,
            registrations: s.registrations.values().cloned().collect(),
            config: s
                .config
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            history: s.events.iter().cloned().collect(),
        })
    }

    fn commit(
        &self,
        event: &Event,
        record: &Record,
        last_lease: u64,
        history: usize,
    ) -> Result<(), StoreError> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match record {
            Record::Put(reg) => {
                let key = (reg.instance.service.clone(), reg.instance.id.clone());
                s.registrations.insert(key, reg.clone());
            }
            Record::Remove(service, id) => {
                s.registrations.remove(&(service.clone(), id.clone()));
            }
            Record::PutConfig(k, v) => {
                s.config.insert(k.clone(), v.clone());
            }
            Record::RemoveConfig(k) => {
                s.config.remove(k);
            }
        }
        s.revision = event.revision;
        s.last_lease = last_lease;
        s.events.push_back(event.clone());
        while s.events.len() > history {
            s.events.pop_front();
        }
        Ok(())
    }
}
