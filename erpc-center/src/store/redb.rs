//! The embedded durable store: one redb file (ACID, crash-safe, pure Rust), written once per
//! change in a single transaction.
//!
//! Tables: `meta` (epoch, revision, last lease id), `instances` (`service\0id` → registration as
//! JSON), `config` (key → value), `events` (revision → event as JSON, the last `history`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, first_lease, new_epoch};
use crate::model::{Event, Instance};
use crate::state::{Record, Registration, Snapshot};

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const INSTANCES: TableDefinition<&str, &[u8]> = TableDefinition::new("instances");
const CONFIG: TableDefinition<&str, &str> = TableDefinition::new("config");
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");

#[derive(Serialize, Deserialize)]
struct Stored {
    instance: Instance,
    lease: u64,
    ttl_ms: u64,
}

fn instance_key(service: &str, id: &str) -> String {
    format!("{service}\0{id}")
}

/// The file name of the store in a center's data directory.
pub const FILE_NAME: &str = "center.redb";

/// Where a program called `name` keeps its data unless told otherwise: `name` in the
/// platform's per-user data directory (`$XDG_DATA_HOME`, else `~/.local/share`, on Linux;
/// `~/Library/Application Support` on macOS; `%APPDATA%` on Windows) — never the current
/// directory. `None` where the platform names none (no home directory).
pub fn default_dir(name: &str) -> Option<PathBuf> {
    dirs::data_dir().map(|dir| dir.join(name))
}

/// A redb file.
pub struct RedbStore {
    db: Database,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Open (or create) the store at `path`. A new file starts a history: a random epoch and
    /// first lease id, persisted with it (a file from before epochs existed gets its epoch
    /// now).
    pub fn open(path: &Path) -> Result<RedbStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(StoreError::from_any)?;
        }
        let db = Database::create(path).map_err(StoreError::from_any)?;
        // Create the tables, so reads never meet a missing one.
        let txn = db.begin_write().map_err(StoreError::from_any)?;
        {
            let mut meta = txn.open_table(META).map_err(StoreError::from_any)?;
            if meta.get("epoch").map_err(StoreError::from_any)?.is_none() {
                meta.insert("epoch", new_epoch()?)
                    .map_err(StoreError::from_any)?;
            }
            if meta
                .get("last_lease")
                .map_err(StoreError::from_any)?
                .is_none()
            {
                meta.insert("last_lease", first_lease()?)
                    .map_err(StoreError::from_any)?;
            }
            txn.open_table(INSTANCES).map_err(StoreError::from_any)?;
            txn.open_table(CONFIG).map_err(StoreError::from_any)?;
            txn.open_table(EVENTS).map_err(StoreError::from_any)?;
        }
        txn.commit().map_err(StoreError::from_any)?;
        Ok(RedbStore { db })
    }
}

impl Store for RedbStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::from_any)?;
        let meta = txn.open_table(META).map_err(StoreError::from_any)?;
        let get = |k: &str| -> Result<u64, StoreError> {
            Ok(meta
                .get(k)
                .map_err(StoreError::from_any)?
                .map_or(0, |v| v.value()))
        };
        let mut snapshot = Snapshot {
            epoch: get("epoch")?,
            revision: get("revision")?,
            last_lease: get("last_lease")?,
            ..Snapshot::default()
        };
        for row in txn
            .open_table(INSTANCES)
            .map_err(StoreError::from_any)?
            .iter()
            .map_err(StoreError::from_any)?
        {
            let (_, v) = row.map_err(StoreError::from_any)?;
            let s: Stored = serde_json::from_slice(v.value()).map_err(StoreError::from_any)?;
            snapshot.registrations.push(Registration {
                instance: s.instance,
                lease: s.lease,
                ttl: Duration::from_millis(s.ttl_ms),
            });
        }
        for row in txn
            .open_table(CONFIG)
            .map_err(StoreError::from_any)?
            .iter()
            .map_err(StoreError::from_any)?
        {
            let (k, v) = row.map_err(StoreError::from_any)?;
            snapshot
                .config
                .push((k.value().to_owned(), v.value().to_owned()));
        }
        for row in txn
            .open_table(EVENTS)
            .map_err(StoreError::from_any)?
            .iter()
            .map_err(StoreError::from_any)?
        {
            let (_, v) = row.map_err(StoreError::from_any)?;
            snapshot
                .history
                .push(serde_json::from_slice(v.value()).map_err(StoreError::from_any)?);
        }
        Ok(snapshot)
    }

    fn commit(
        &self,
        event: &Event,
        record: &Record,
        last_lease: u64,
        history: usize,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(StoreError::from_any)?;
        {
            let mut instances = txn.open_table(INSTANCES).map_err(StoreError::from_any)?;
            let mut config = txn.open_table(CONFIG).map_err(StoreError::from_any)?;
            match record {
                Record::Put(reg) => {
                    let key = instance_key(&reg.instance.service, &reg.instance.id);
                    let value = serde_json::to_vec(&Stored {
                        instance: reg.instance.clone(),
                        lease: reg.lease,
                        ttl_ms: reg.ttl.as_millis() as u64,
                    })
                    .map_err(StoreError::from_any)?;
                    instances
                        .insert(key.as_str(), value.as_slice())
                        .map_err(StoreError::from_any)?;
                }
                Record::Remove(service, id) => {
                    instances
                        .remove(instance_key(service, id).as_str())
                        .map_err(StoreError::from_any)?;
                }
                Record::PutConfig(k, v) => {
                    config
                        .insert(k.as_str(), v.as_str())
                        .map_err(StoreError::from_any)?;
                }
                Record::RemoveConfig(k) => {
                    config.remove(k.as_str()).map_err(StoreError::from_any)?;
                }
            }
            let mut events = txn.open_table(EVENTS).map_err(StoreError::from_any)?;
            let bytes = serde_json::to_vec(event).map_err(StoreError::from_any)?;
            events
                .insert(event.revision, bytes.as_slice())
                .map_err(StoreError::from_any)?;
            // One change in, one out: the window stays `history` long.
            if let Some(old) = event.revision.checked_sub(history as u64) {
                events.remove(old).map_err(StoreError::from_any)?;
            }
            let mut meta = txn.open_table(META).map_err(StoreError::from_any)?;
            meta.insert("revision", event.revision)
                .map_err(StoreError::from_any)?;
            meta.insert("last_lease", last_lease)
                .map_err(StoreError::from_any)?;
        }
        txn.commit().map_err(StoreError::from_any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::CenterState;

    #[test]
    fn what_is_committed_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("center.redb");
        let now = tokio::time::Instant::now();
        let mut r;
        {
            let store = RedbStore::open(&path).unwrap();
            r = CenterState::restore(store.load().unwrap(), 3, now);
            let first = r.last_lease();
            for i in 0..4 {
                let (lease, event, record) = r.register(
                    Instance::new("svc", format!("i{i}"), "tcp://x:1"),
                    Duration::from_secs(5),
                    now,
                );
                store.commit(&event, &record, lease, 3).unwrap();
            }
            let (event, record) = r.deregister("svc", "i0", "deregistered").unwrap();
            store.commit(&event, &record, first + 4, 3).unwrap();
            let (event, record) = r.config_set("k".into(), "v".into());
            store.commit(&event, &record, first + 4, 3).unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        let snapshot = store.load().unwrap();
        let mut expected = r.snapshot();
        expected
            .registrations
            .sort_by(|a, b| a.instance.id.cmp(&b.instance.id));
        assert_eq!(snapshot, expected);
        assert_eq!(snapshot.history.len(), 3);
        assert_eq!(snapshot.revision, 6);
    }

    #[test]
    fn a_file_keeps_its_epoch_and_another_file_has_another() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (dir.path().join("one.redb"), dir.path().join("two.redb"));
        let epoch = RedbStore::open(&one).unwrap().load().unwrap().epoch;
        assert_ne!(epoch, 0);
        assert_eq!(RedbStore::open(&one).unwrap().load().unwrap().epoch, epoch);
        let other = RedbStore::open(&two).unwrap().load().unwrap();
        assert_ne!(other.epoch, epoch);
        assert_ne!(other.last_lease, 0, "lease ids start at a random point");
    }
}
