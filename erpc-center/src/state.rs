//! The center's state as plain code: instances under leases, config entries, and the
//! revisioned history of changes. No I/O and no clock of its own — every call that depends on
//! time takes `now` — so leases and watch replay are tested exactly.
//!
//! Guarantees (CENTER.md):
//! - every change gets the next revision; revisions are unique and gapless;
//! - [`CenterState::since`] replays every change after a revision, in order, or says why it
//!   cannot ([`NotReplayable`]): the history no longer reaches back to it, or the revision is
//!   from another history (past the last revision, or of another epoch);
//! - a lease expires no sooner than its TTL after its last renewal, and [`CenterState::expire`]
//!   removes it on the first sweep after that.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::model::{Change, Event, Filter, Instance, REMOTE_KEY};

/// The peer a mirrored instance comes from (its metadata `erpc.remote`; `""` if unmarked).
fn peer_of(instance: &Instance) -> &str {
    instance.metadata.get(REMOTE_KEY).map_or("", String::as_str)
}

/// Changes kept for replay by default.
pub const DEFAULT_HISTORY: usize = 10_000;

/// An instance and the lease that keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The instance.
    pub instance: Instance,
    /// Its lease; [`MIRRORED`] for an instance mirrored from a peer data center's center,
    /// which no lease keeps (its follower adds and removes it).
    pub lease: u64,
    /// The lease's time to live.
    pub ttl: Duration,
}

/// The lease of a mirrored registration: none. Lease ids handed out start above it.
pub const MIRRORED: u64 = 0;

impl Registration {
    /// Whether this instance is mirrored from a peer (CENTER.md, "Federation") rather than
    /// registered here.
    pub fn is_mirrored(&self) -> bool {
        self.lease == MIRRORED
    }
}

#[derive(Debug)]
struct Lease {
    key: (String, String),
    ttl: Duration,
    expires: Instant,
}

/// Why a watch cannot resume from the revision it asked for. Each case means the same to
/// the watcher: list again and watch from the listing's revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotReplayable {
    /// The history no longer reaches back to the revision.
    #[error(
        "revision {asked} is too old to replay (the oldest change kept is revision {oldest}); list again and watch from the listing's revision"
    )]
    TooOld {
        /// The revision asked for.
        asked: u64,
        /// The oldest revision still replayable.
        oldest: u64,
    },
    /// The revision is past the last one made: it was handed out by another history (a
    /// center restarted on the memory store, another store, a restored backup).
    #[error(
        "revision {asked} is from the future (this center's history is at revision {current}): it came from another history; list again and watch from the listing's revision"
    )]
    Future {
        /// The revision asked for.
        asked: u64,
        /// The last revision made.
        current: u64,
    },
    /// The revision belongs to another history than this center's (its epoch differs).
    #[error(
        "epoch {asked} is not this center's history (its epoch is {epoch}); list again and watch from the listing's revision"
    )]
    OtherHistory {
        /// The epoch the watcher's revision came with.
        asked: u64,
        /// This history's epoch.
        epoch: u64,
    },
}

/// What a store must persist for one change (besides the event itself).
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Keep this registration.
    Put(Registration),
    /// Forget the instance `(service, id)`.
    Remove(String, String),
    /// Keep this config entry.
    PutConfig(String, String),
    /// Forget this config key.
    RemoveConfig(String),
}

/// What a store loads at start: everything [`CenterState::restore`] needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Which history this is: a random id, the same for as long as the history goes on (0:
    /// none given, never checked).
    pub epoch: u64,
    /// The last revision made.
    pub revision: u64,
    /// The last lease id handed out.
    pub last_lease: u64,
    /// Live registrations.
    pub registrations: Vec<Registration>,
    /// Config entries.
    pub config: Vec<(String, String)>,
    /// The most recent changes, oldest first.
    pub history: Vec<Event>,
}

/// The center's state.
#[derive(Debug)]
pub struct CenterState {
    epoch: u64,
    revision: u64,
    last_lease: u64,
    instances: BTreeMap<(String, String), Registration>,
    leases: HashMap<u64, Lease>,
    config: BTreeMap<String, String>,
    history: VecDeque<Event>,
    history_limit: usize,
    /// Leases expired by [`CenterState::expire`] since this state was made.
    expired: u64,
    /// Mirrored copies hidden behind the instance listed under the same (service, id) — a
    /// local registration, or another peer's copy — by (service, id), then by peer. Kept so
    /// that when the listed one leaves, the next is listed at once. In memory only: a
    /// restarted center's followers list their peers again.
    hidden: BTreeMap<(String, String), BTreeMap<String, Instance>>,
}

impl Default for CenterState {
    fn default() -> Self {
        CenterState::new(DEFAULT_HISTORY)
    }
}

impl CenterState {
    /// An empty registry keeping `history_limit` changes for replay.
    pub fn new(history_limit: usize) -> CenterState {
        CenterState {
            epoch: 0,
            revision: 0,
            last_lease: 0,
            instances: BTreeMap::new(),
            leases: HashMap::new(),
            config: BTreeMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            expired: 0,
            hidden: BTreeMap::new(),
        }
    }

    /// Rebuild from a store's snapshot. Every lease gets a full TTL from `now`: the center
    /// was away, so nobody could renew, and healthy instances must not be evicted for it.
    pub fn restore(snapshot: Snapshot, history_limit: usize, now: Instant) -> CenterState {
        let mut r = CenterState::new(history_limit);
        r.epoch = snapshot.epoch;
        r.revision = snapshot.revision;
        r.last_lease = snapshot.last_lease;
        for reg in snapshot.registrations {
            let key = (reg.instance.service.clone(), reg.instance.id.clone());
            if reg.is_mirrored() {
                r.instances.insert(key, reg);
                continue;
            }
            r.leases.insert(
                reg.lease,
                Lease {
                    key: key.clone(),
                    ttl: reg.ttl,
                    expires: now + reg.ttl,
                },
            );
            r.last_lease = r.last_lease.max(reg.lease);
            r.instances.insert(key, reg);
        }
        r.config = snapshot.config.into_iter().collect();
        r.history = snapshot.history.into_iter().collect();
        while r.history.len() > r.history_limit {
            r.history.pop_front();
        }
        r
    }

    /// The last lease id handed out.
    pub fn last_lease(&self) -> u64 {
        self.last_lease
    }

    /// The last revision made (0 before any change).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Which history this is (see [`Snapshot::epoch`]).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn record(&mut self, change: Change) -> Event {
        self.revision += 1;
        let event = Event {
            revision: self.revision,
            change,
        };
        self.history.push_back(event.clone());
        if self.history.len() > self.history_limit {
            self.history.pop_front();
        }
        event
    }

    /// Register (or re-register) `instance` under a new lease of `ttl`. Returns the lease,
    /// the change, and what to persist.
    pub fn register(
        &mut self,
        instance: Instance,
        ttl: Duration,
        now: Instant,
    ) -> (u64, Event, Record) {
        let key = (instance.service.clone(), instance.id.clone());
        if let Some(old) = self.instances.get(&key) {
            if old.is_mirrored() {
                // A local registration wins; the peer's copy waits behind it.
                let copy = old.instance.clone();
                self.hide(copy);
            } else {
                self.leases.remove(&old.lease);
            }
        }
        self.last_lease += 1;
        let lease = self.last_lease;
        self.leases.insert(
            lease,
            Lease {
                key: key.clone(),
                ttl,
                expires: now + ttl,
            },
        );
        let registration = Registration {
            instance: instance.clone(),
            lease,
            ttl,
        };
        self.instances.insert(key, registration.clone());
        let event = self.record(Change::Registered(instance));
        (lease, event, Record::Put(registration))
    }

    /// Renew `lease`: it now expires `ttl` from `now`. `None` if the lease is unknown or
    /// expired — its TTL ran out by `now`, even if no sweep has removed it yet (the next one
    /// does: a renewal never brings an expired lease back) — or the instance deregistered:
    /// the instance must register again.
    pub fn renew(&mut self, lease: u64, now: Instant) -> Option<Duration> {
        let l = self.leases.get_mut(&lease)?;
        if l.expires <= now {
            return None;
        }
        l.expires = now + l.ttl;
        Some(l.ttl)
    }

    /// Remove instance `(service, id)`, if registered. A mirrored copy hidden behind it
    /// (same service and id, from a peer) is listed in its place: the change is then that
    /// copy's `Registered`.
    pub fn deregister(&mut self, service: &str, id: &str, reason: &str) -> Option<(Event, Record)> {
        let key = (service.to_owned(), id.to_owned());
        let reg = self.instances.remove(&key)?;
        self.leases.remove(&reg.lease);
        if let Some(next) = self.unhide(&key) {
            return Some(self.list_mirrored(next));
        }
        let event = self.record(Change::Deregistered {
            service: key.0.clone(),
            id: key.1.clone(),
            reason: reason.to_owned(),
        });
        Some((event, Record::Remove(key.0, key.1)))
    }

    /// Remove the instance `lease` keeps, if any: a deregistration that cannot remove a
    /// later registration of the same (service, id), whose lease is another.
    pub fn release(&mut self, lease: u64, reason: &str) -> Option<(Event, Record)> {
        let (service, id) = self.leases.get(&lease)?.key.clone();
        self.deregister(&service, &id, reason)
    }

    /// Add or update `instance`, mirrored from a peer (its metadata `erpc.remote`; no lease
    /// keeps it). Listed unless another instance of the same (service, id) is — a local
    /// registration, or another peer's copy: then it is kept hidden behind that one, listed
    /// when that one leaves. `None` when the listing does not change.
    pub fn mirror_put(&mut self, instance: Instance) -> Option<(Event, Record)> {
        let key = (instance.service.clone(), instance.id.clone());
        if let Some(held) = self.instances.get(&key) {
            if held.instance == instance {
                return None;
            }
            if !held.is_mirrored() || peer_of(&held.instance) != peer_of(&instance) {
                self.hide(instance);
                return None;
            }
        }
        Some(self.list_mirrored(instance))
    }

    /// Remove `(service, id)` as mirrored from `peer`, listed or hidden; a local
    /// registration or another peer's copy is never removed here. `None` when the listing
    /// does not change.
    pub fn mirror_remove(
        &mut self,
        service: &str,
        id: &str,
        peer: &str,
        reason: &str,
    ) -> Option<(Event, Record)> {
        let key = (service.to_owned(), id.to_owned());
        if let Some(copies) = self.hidden.get_mut(&key)
            && copies.remove(peer).is_some()
        {
            if copies.is_empty() {
                self.hidden.remove(&key);
            }
            return None;
        }
        let held = self.instances.get(&key)?;
        if !held.is_mirrored() || peer_of(&held.instance) != peer {
            return None;
        }
        self.deregister(service, id, reason)
    }

    /// Every mirrored instance, listed or hidden, by service and id.
    pub fn mirrored(&self) -> Vec<Instance> {
        let listed = self
            .instances
            .values()
            .filter(|r| r.is_mirrored())
            .map(|r| &r.instance);
        listed
            .chain(self.hidden.values().flat_map(BTreeMap::values))
            .cloned()
            .collect()
    }

    /// Keep `copy` (mirrored) hidden behind the instance listed under its (service, id).
    fn hide(&mut self, copy: Instance) {
        let key = (copy.service.clone(), copy.id.clone());
        let peer = peer_of(&copy).to_owned();
        self.hidden.entry(key).or_default().insert(peer, copy);
    }

    /// Take the first mirrored copy hidden under `key`, if any.
    fn unhide(&mut self, key: &(String, String)) -> Option<Instance> {
        let copies = self.hidden.get_mut(key)?;
        let next = copies.pop_first().map(|(_, copy)| copy);
        if copies.is_empty() {
            self.hidden.remove(key);
        }
        next
    }

    /// List `instance` as mirrored under its (service, id), replacing what is listed there.
    fn list_mirrored(&mut self, instance: Instance) -> (Event, Record) {
        let key = (instance.service.clone(), instance.id.clone());
        let registration = Registration {
            instance: instance.clone(),
            lease: MIRRORED,
            ttl: Duration::ZERO,
        };
        self.instances.insert(key, registration.clone());
        let event = self.record(Change::Registered(instance));
        (event, Record::Put(registration))
    }

    /// Whether `(service, id)` is a mirrored instance.
    pub fn is_mirrored(&self, service: &str, id: &str) -> bool {
        self.instances
            .get(&(service.to_owned(), id.to_owned()))
            .is_some_and(Registration::is_mirrored)
    }

    /// Remove every instance whose lease expired by `now`.
    pub fn expire(&mut self, now: Instant) -> Vec<(Event, Record)> {
        let mut expired: Vec<(String, String)> = self
            .leases
            .values()
            .filter(|l| l.expires <= now)
            .map(|l| l.key.clone())
            .collect();
        expired.sort();
        let gone: Vec<_> = expired
            .into_iter()
            .filter_map(|(s, i)| self.deregister(&s, &i, "lease expired"))
            .collect();
        self.expired += gone.len() as u64;
        gone
    }

    /// The registry's figures now: instances per service, leases alive, leases expired so
    /// far, configuration keys.
    pub fn stats(&self) -> crate::stats::RegistryStats {
        let mut instances = std::collections::BTreeMap::new();
        for (service, _) in self.instances.keys() {
            *instances.entry(service.clone()).or_insert(0) += 1;
        }
        crate::stats::RegistryStats {
            instances,
            leases: self.leases.len(),
            expired: self.expired,
            config_keys: self.config.len(),
        }
    }

    /// The instances of `service` (`""`: of every service) that pass `filter`, and the
    /// revision they are current at.
    pub fn discover(&self, service: &str, filter: &Filter) -> (Vec<Instance>, u64) {
        // "" is every service (as for watches): what `erpc list` shows.
        let instances = self
            .instances
            .range((service.to_owned(), String::new())..)
            .take_while(|((s, _), _)| service.is_empty() || s == service)
            .map(|(_, reg)| &reg.instance)
            .filter(|i| filter.matches(i))
            .cloned()
            .collect();
        (instances, self.revision)
    }

    /// The registrations of `service` (`""`: of every service), by service and id, each
    /// with how long its lease has left at `now` (zero once expired and not yet swept), and
    /// the revision they are current at: what a dashboard shows besides the instances.
    pub fn registrations(
        &self,
        service: &str,
        now: Instant,
    ) -> (Vec<(Registration, Duration)>, u64) {
        let registrations = self
            .instances
            .range((service.to_owned(), String::new())..)
            .take_while(|((s, _), _)| service.is_empty() || s == service)
            .map(|(_, reg)| {
                let left = self
                    .leases
                    .get(&reg.lease)
                    .map_or(Duration::ZERO, |l| l.expires.saturating_duration_since(now));
                (reg.clone(), left)
            })
            .collect();
        (registrations, self.revision)
    }

    /// Set config `key`.
    pub fn config_set(&mut self, key: String, value: String) -> (Event, Record) {
        self.config.insert(key.clone(), value.clone());
        let event = self.record(Change::ConfigSet {
            key: key.clone(),
            value: value.clone(),
        });
        (event, Record::PutConfig(key, value))
    }

    /// Delete config `key`, if set.
    pub fn config_delete(&mut self, key: &str) -> Option<(Event, Record)> {
        self.config.remove(key)?;
        let event = self.record(Change::ConfigDeleted {
            key: key.to_owned(),
        });
        Some((event, Record::RemoveConfig(key.to_owned())))
    }

    /// Config entries whose key starts with `prefix`, and the revision they are current at.
    pub fn config_list(&self, prefix: &str) -> (Vec<(String, String)>, u64) {
        let entries = self
            .config
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (entries, self.revision)
    }

    /// Every change after `revision` of history `epoch` (0: unchecked), oldest first — or
    /// why they cannot be replayed: some are no longer kept, or `revision` and `epoch` are
    /// not of this history.
    pub fn since(&self, revision: u64, epoch: u64) -> Result<Vec<Event>, NotReplayable> {
        if epoch != 0 && epoch != self.epoch {
            return Err(NotReplayable::OtherHistory {
                asked: epoch,
                epoch: self.epoch,
            });
        }
        if revision > self.revision {
            return Err(NotReplayable::Future {
                asked: revision,
                current: self.revision,
            });
        }
        if revision == self.revision {
            return Ok(Vec::new());
        }
        let oldest = self
            .history
            .front()
            .map_or(self.revision + 1, |e| e.revision);
        if revision + 1 < oldest {
            return Err(NotReplayable::TooOld {
                asked: revision,
                oldest,
            });
        }
        Ok(self
            .history
            .iter()
            .filter(|e| e.revision > revision)
            .cloned()
            .collect())
    }

    /// Everything a store needs to rebuild this registry.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            epoch: self.epoch,
            revision: self.revision,
            last_lease: self.last_lease,
            registrations: self.instances.values().cloned().collect(),
            config: self
                .config
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            history: self.history.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(10);

    fn inst(service: &str, id: &str) -> Instance {
        Instance::new(service, id, format!("tcp://{id}"))
    }

    #[test]
    fn revisions_are_gapless_and_replay_is_ordered() {
        let mut r = CenterState::default();
        let now = Instant::now();
        r.register(inst("a", "1"), TTL, now);
        r.register(inst("a", "2"), TTL, now);
        r.config_set("k".into(), "v".into());
        r.deregister("a", "1", "deregistered");
        assert_eq!(r.revision(), 4);
        let revs: Vec<u64> = r.since(0, 0).unwrap().iter().map(|e| e.revision).collect();
        assert_eq!(revs, vec![1, 2, 3, 4]);
        let revs: Vec<u64> = r.since(2, 0).unwrap().iter().map(|e| e.revision).collect();
        assert_eq!(revs, vec![3, 4]);
        assert!(r.since(4, 0).unwrap().is_empty());
        assert_eq!(r.discover("a", &Filter::default()).0, vec![inst("a", "2")]);
    }

    #[test]
    fn discovering_no_service_lists_every_service() {
        let mut r = CenterState::default();
        let now = Instant::now();
        r.register(inst("b", "2"), TTL, now);
        r.register(inst("a", "1"), TTL, now);
        r.register(inst("b", "1"), TTL, now);
        let all = r.discover("", &Filter::default()).0;
        assert_eq!(all, vec![inst("a", "1"), inst("b", "1"), inst("b", "2")]);
        assert_eq!(r.discover("b", &Filter::default()).0.len(), 2);
    }

    #[test]
    fn registrations_carry_their_lease_and_the_time_it_has_left() {
        let mut r = CenterState::default();
        let now = Instant::now();
        let (lease, _, _) = r.register(inst("a", "1"), TTL, now);
        r.register(inst("b", "1"), TTL, now);
        let (regs, revision) = r.registrations("a", now + Duration::from_secs(4));
        assert_eq!(revision, 2);
        assert_eq!(regs.len(), 1);
        assert_eq!((regs[0].0.lease, regs[0].0.ttl), (lease, TTL));
        assert_eq!(regs[0].1, Duration::from_secs(6));
        let (all, _) = r.registrations("", now + Duration::from_secs(11));
        assert_eq!(all.len(), 2);
        assert!(
            all.iter().all(|(_, left)| left.is_zero()),
            "expired, not yet swept"
        );
    }

    #[test]
    fn releasing_a_replaced_lease_leaves_the_new_registration() {
        let mut r = CenterState::default();
        let now = Instant::now();
        let (old, _, _) = r.register(inst("a", "1"), TTL, now);
        let (new, _, _) = r.register(inst("a", "1"), TTL, now);
        assert!(r.release(old, "deregistered").is_none());
        assert_eq!(r.discover("a", &Filter::default()).0.len(), 1);
        assert!(r.release(new, "deregistered").is_some());
        assert!(r.discover("a", &Filter::default()).0.is_empty());
        assert_eq!(r.renew(new, now), None);
    }

    #[test]
    fn a_revision_older_than_the_history_is_refused() {
        let mut r = CenterState::new(3);
        let now = Instant::now();
        for i in 0..5 {
            r.config_set(format!("k{i}"), "v".into());
        }
        assert_eq!(r.since(2, 0).unwrap().len(), 3);
        assert_eq!(
            r.since(1, 0),
            Err(NotReplayable::TooOld {
                asked: 1,
                oldest: 3
            })
        );
        let _ = now;
    }

    #[test]
    fn a_revision_of_another_history_is_refused() {
        let snapshot = Snapshot {
            epoch: 7,
            ..Snapshot::default()
        };
        let mut r = CenterState::restore(snapshot, DEFAULT_HISTORY, Instant::now());
        r.config_set("k".into(), "v".into());
        assert_eq!(r.since(0, 7).unwrap().len(), 1);
        assert_eq!(r.since(0, 0).unwrap().len(), 1, "epoch 0 is not checked");
        assert_eq!(
            r.since(0, 8),
            Err(NotReplayable::OtherHistory { asked: 8, epoch: 7 })
        );
        assert_eq!(
            r.since(2, 7),
            Err(NotReplayable::Future {
                asked: 2,
                current: 1
            })
        );
        assert!(r.since(1, 7).unwrap().is_empty());
    }

    #[test]
    fn a_lease_lives_its_ttl_from_the_last_renewal_and_no_longer() {
        let mut r = CenterState::default();
        let t0 = Instant::now();
        let (lease, _, _) = r.register(inst("a", "1"), TTL, t0);
        let t1 = t0 + Duration::from_secs(8);
        assert_eq!(r.renew(lease, t1), Some(TTL));
        assert!(r.expire(t1 + TTL - Duration::from_millis(1)).is_empty());
        let gone = r.expire(t1 + TTL);
        assert_eq!(gone.len(), 1);
        assert!(matches!(
            &gone[0].0.change,
            Change::Deregistered { reason, .. } if reason == "lease expired"
        ));
        assert_eq!(
            r.renew(lease, t1 + TTL),
            None,
            "expired leases cannot be renewed"
        );
    }

    /// Found by the `center_state` fuzz target: a renewal that arrived after the TTL ran out
    /// but before the sweep removed the lease brought it back to life, so a lease outlived its
    /// TTL and CENTER.md's `not_found` "once the lease expired" was not what a client got.
    #[test]
    fn a_lease_past_its_ttl_cannot_be_renewed_before_the_sweep() {
        let mut r = CenterState::default();
        let t0 = Instant::now();
        let (lease, _, _) = r.register(inst("a", "1"), TTL, t0);
        assert_eq!(
            r.renew(lease, t0 + TTL - Duration::from_millis(1)),
            Some(TTL)
        );
        let end = t0 + TTL - Duration::from_millis(1) + TTL;
        assert_eq!(r.renew(lease, end), None, "renewed at the end of its TTL");
        assert_eq!(r.expire(end).len(), 1, "the next sweep removes it");
    }

    #[test]
    fn a_restore_gives_every_lease_a_full_ttl() {
        let mut r = CenterState::default();
        let t0 = Instant::now();
        r.register(inst("a", "1"), TTL, t0);
        let snapshot = r.snapshot();
        let later = t0 + Duration::from_secs(60);
        let mut back = CenterState::restore(snapshot, DEFAULT_HISTORY, later);
        assert!(
            back.expire(later + TTL - Duration::from_millis(1))
                .is_empty()
        );
        assert_eq!(back.revision(), 1);
        assert_eq!(back.discover("a", &Filter::default()).0.len(), 1);
        let (lease, _, _) = back.register(inst("a", "2"), TTL, later);
        assert_eq!(lease, 2, "lease ids continue after a restore");
    }

    /// Mirrored instances have no lease (never expire, cannot be renewed or released),
    /// survive a restore as mirrored, and never replace a local registration.
    #[test]
    fn mirrored_instances_live_beside_local_ones_without_leases() {
        let mut r = CenterState::default();
        let t0 = Instant::now();
        let (local, _, _) = r.register(inst("a", "1"), TTL, t0);
        assert!(r.mirror_put(inst("a", "1")).is_none(), "local wins");
        let mut remote = inst("a", "2");
        remote.metadata.insert("erpc.remote".into(), "peer".into());
        let (event, record) = r.mirror_put(remote.clone()).expect("mirrored");
        assert_eq!(event.change, Change::Registered(remote.clone()));
        assert!(matches!(record, Record::Put(ref reg) if reg.is_mirrored()));
        assert!(
            r.mirror_put(remote.clone()).is_none(),
            "no change, no event"
        );
        assert!(
            r.expire(t0 + TTL * 10).len() == 1,
            "only the local one expires"
        );
        assert_eq!(r.renew(MIRRORED, t0), None);
        assert!(r.release(MIRRORED, "deregistered").is_none());
        let back = CenterState::restore(r.snapshot(), DEFAULT_HISTORY, t0);
        assert_eq!(back.mirrored(), vec![remote.clone()]);
        assert!(back.is_mirrored("a", "2") && !back.is_mirrored("a", "1"));
        assert!(r.mirror_remove("a", "2", "another", "gone").is_none());
        assert!(r.mirror_remove("a", "2", "peer", "gone").is_some());
        assert!(r.mirrored().is_empty());
        let _ = local;
    }

    /// Copies of one (service, id) from a local registration and two peers: one is listed
    /// (local first, else the copy listed first), the others wait hidden and are listed,
    /// one change each, as soon as the listed one leaves.
    #[test]
    fn a_hidden_mirrored_copy_is_listed_once_the_one_before_it_leaves() {
        let mut r = CenterState::default();
        let now = Instant::now();
        let from = |peer: &str| {
            let mut copy = inst("a", "1");
            copy.metadata.insert(REMOTE_KEY.into(), peer.into());
            copy
        };
        let listed = |r: &CenterState| r.discover("a", &Filter::default()).0;
        r.mirror_put(from("p")).expect("listed");
        r.register(inst("a", "1"), TTL, now);
        assert!(
            r.mirror_put(from("q")).is_none(),
            "hidden behind the local one"
        );
        assert_eq!(listed(&r), vec![inst("a", "1")]);
        assert_eq!(r.mirrored().len(), 2, "both copies kept");
        let (event, _) = r.deregister("a", "1", "deregistered").expect("a change");
        assert_eq!(event.change, Change::Registered(from("p")));
        assert!(
            r.mirror_remove("a", "1", "q", "gone").is_none(),
            "hidden: no change"
        );
        r.mirror_put(from("q"));
        let (event, _) = r.mirror_remove("a", "1", "p", "gone").expect("a change");
        assert_eq!(event.change, Change::Registered(from("q")));
        let (event, _) = r.mirror_remove("a", "1", "q", "gone").expect("a change");
        assert!(matches!(event.change, Change::Deregistered { .. }));
        assert!(listed(&r).is_empty() && r.mirrored().is_empty());
    }

    #[test]
    fn filters_select_by_group_version_and_tags() {
        let mut r = CenterState::default();
        let now = Instant::now();
        let mut canary = inst("a", "1");
        canary.group = "canary".into();
        canary.tags = vec!["ssd".into(), "eu".into()];
        canary.version = "2".into();
        r.register(canary.clone(), TTL, now);
        r.register(inst("a", "2"), TTL, now);
        r.register(inst("b", "3"), TTL, now);
        let f = |group: Option<&str>, version: Option<&str>, tags: &[&str]| Filter {
            group: group.map(Into::into),
            version: version.map(Into::into),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        };
        assert_eq!(r.discover("a", &f(None, None, &[])).0.len(), 2);
        assert_eq!(
            r.discover("a", &f(Some("canary"), None, &[])).0,
            vec![canary.clone()]
        );
        assert_eq!(
            r.discover("a", &f(None, Some("2"), &["eu"])).0,
            vec![canary]
        );
        assert!(r.discover("a", &f(None, None, &["us"])).0.is_empty());
        // "" is "any", like nil: instances have group and version "" by default, and a
        // client that sends every field sends "" for the ones it does not filter on.
        assert_eq!(r.discover("a", &f(Some(""), Some(""), &[])).0.len(), 2);
    }
}
