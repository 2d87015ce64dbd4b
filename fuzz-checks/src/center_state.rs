//! The center's state machine (`erpc_center::state::CenterState`) driven by an arbitrary
//! sequence of registrations, renewals, deregistrations, releases, config changes, clock
//! steps, sweeps, restarts and replays, against a model.
//!
//! Invariants: every change gets the next revision (strictly increasing, gapless); no lease
//! outlives its TTL — a renewal after it is refused and the next sweep removes exactly the
//! instances whose leases ran out, none earlier; replay equals live: the events applied in
//! order rebuild exactly what discovery and config listing show, and `since` returns exactly
//! the events after a revision while history reaches back to it (or says why not); a restart
//! from a snapshot keeps everything and gives every lease a full TTL.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use arbitrary::Arbitrary;
use erpc_center::state::{CenterState, NotReplayable, Record};
use erpc_center::{Change, Event, Filter, Instance};
use tokio::time::Instant;

const SERVICES: [&str; 3] = ["a", "b", "ab"];

#[derive(Arbitrary, Debug)]
enum Op {
    Register {
        service: u8,
        id: u8,
        ttl_ms: u16,
        version: u8,
    },
    Renew {
        lease: u8,
    },
    Deregister {
        service: u8,
        id: u8,
    },
    Release {
        lease: u8,
    },
    Advance {
        ms: u16,
    },
    Expire,
    ConfigSet {
        key: u8,
        value: u8,
    },
    ConfigDelete {
        key: u8,
    },
    Restart,
    Since {
        revision: u8,
    },
}

/// The fuzzer's input, built by `arbitrary` from its bytes (as libFuzzer hands them).
#[derive(Arbitrary, Debug)]
pub struct Input {
    history: u8,
    ops: Vec<Op>,
}

type Key = (String, String);

struct Lease {
    key: Key,
    ttl: Duration,
    expires: Instant,
}

#[derive(Default)]
struct Model {
    leases: HashMap<u64, Lease>,
    last_lease: u64,
    /// Rebuilt from the events alone.
    instances: BTreeMap<Key, Instance>,
    config: BTreeMap<String, String>,
    log: Vec<Event>,
}

impl Model {
    fn revision(&self) -> u64 {
        self.log.last().map_or(0, |e| e.revision)
    }

    /// A change the state made: the next revision, applied to the replica.
    fn apply(&mut self, event: Event) {
        assert_eq!(
            event.revision,
            self.revision() + 1,
            "revisions must be gapless"
        );
        match &event.change {
            Change::Registered(i) => {
                self.instances
                    .insert((i.service.clone(), i.id.clone()), i.clone());
            }
            Change::Deregistered { service, id, .. } => {
                let key = (service.clone(), id.clone());
                assert!(
                    self.instances.remove(&key).is_some(),
                    "removed an unknown instance"
                );
                self.leases.retain(|_, l| l.key != key);
            }
            Change::ConfigSet { key, value } => {
                self.config.insert(key.clone(), value.clone());
            }
            Change::ConfigDeleted { key } => {
                assert!(self.config.remove(key).is_some(), "deleted an unset key");
            }
        }
        self.log.push(event);
    }

    fn removal(&mut self, done: Option<(Event, Record)>, key: &Key) {
        match done {
            Some((event, record)) => {
                assert_eq!(record, Record::Remove(key.0.clone(), key.1.clone()));
                self.apply(event);
            }
            None => assert!(!self.instances.contains_key(key), "{key:?} was not removed"),
        }
    }
}

fn key(service: u8, id: u8) -> Key {
    (
        SERVICES[usize::from(service) % SERVICES.len()].to_owned(),
        (id % 4).to_string(),
    )
}

/// Live state equals the replica rebuilt from events.
fn same_as_replica(state: &CenterState, model: &Model) {
    assert_eq!(state.revision(), model.revision());
    assert_eq!(state.last_lease(), model.last_lease);
    for service in SERVICES {
        let (live, revision) = state.discover(service, &Filter::default());
        let replayed: Vec<Instance> = model
            .instances
            .iter()
            .filter(|((s, _), _)| s == service)
            .map(|(_, i)| i.clone())
            .collect();
        assert_eq!(live, replayed, "replay differs from live for {service}");
        assert_eq!(revision, model.revision());
    }
    let (config, _) = state.config_list("");
    let replayed: Vec<(String, String)> = model
        .config
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(config, replayed, "replayed config differs from live");
}

/// Drive the code under test with `input` and assert the invariants above; panics on a
/// violation.
pub fn check(input: Input) {
    let limit = usize::from(input.history % 32) + 1;
    let mut state = CenterState::new(limit);
    let mut model = Model::default();
    let mut now = Instant::now();
    for op in input.ops {
        match op {
            Op::Register {
                service,
                id,
                ttl_ms,
                version,
            } => {
                let (s, i) = key(service, id);
                let mut instance = Instance::new(s.clone(), i.clone(), format!("tcp://{s}:{i}"));
                instance.version = (version % 3).to_string();
                let ttl = Duration::from_millis(u64::from(ttl_ms.max(1)));
                let (lease, event, record) = state.register(instance.clone(), ttl, now);
                assert_eq!(
                    lease,
                    model.last_lease + 1,
                    "lease ids must increase by one"
                );
                model.last_lease = lease;
                assert!(matches!(&record, Record::Put(r) if r.lease == lease && r.ttl == ttl));
                assert_eq!(event.change, Change::Registered(instance));
                model.leases.retain(|_, l| l.key != (s.clone(), i.clone()));
                let expires = now + ttl;
                model.leases.insert(
                    lease,
                    Lease {
                        key: (s, i),
                        ttl,
                        expires,
                    },
                );
                model.apply(event);
            }
            Op::Renew { lease } => {
                let lease = u64::from(lease) % (model.last_lease + 2);
                let got = state.renew(lease, now);
                match model.leases.get_mut(&lease) {
                    Some(l) if l.expires > now => {
                        assert_eq!(got, Some(l.ttl));
                        l.expires = now + l.ttl;
                    }
                    Some(_) => assert_eq!(got, None, "renewed lease {lease} after its TTL ran out"),
                    None => assert_eq!(got, None, "renewed unknown lease {lease}"),
                }
            }
            Op::Deregister { service, id } => {
                let k = key(service, id);
                let done = state.deregister(&k.0, &k.1, "deregistered");
                assert_eq!(done.is_some(), model.instances.contains_key(&k));
                model.removal(done, &k);
            }
            Op::Release { lease } => {
                let lease = u64::from(lease) % (model.last_lease + 2);
                let k = model.leases.get(&lease).map(|l| l.key.clone());
                let done = state.release(lease, "deregistered");
                match k {
                    Some(k) => {
                        assert!(done.is_some());
                        model.removal(done, &k);
                    }
                    None => assert!(done.is_none(), "released an unknown lease {lease}"),
                }
            }
            Op::Advance { ms } => now += Duration::from_millis(u64::from(ms)),
            Op::Expire => {
                let mut due: Vec<Key> = model
                    .leases
                    .values()
                    .filter(|l| l.expires <= now)
                    .map(|l| l.key.clone())
                    .collect();
                due.sort();
                let gone = state.expire(now);
                let removed: Vec<Key> = gone
                    .iter()
                    .map(|(e, _)| match &e.change {
                        Change::Deregistered {
                            service,
                            id,
                            reason,
                        } => {
                            assert_eq!(reason, "lease expired");
                            (service.clone(), id.clone())
                        }
                        other => panic!("a sweep made {other:?}"),
                    })
                    .collect();
                assert_eq!(
                    removed, due,
                    "the sweep removed other instances than the expired"
                );
                for (event, _) in gone {
                    model.apply(event);
                }
            }
            Op::ConfigSet { key, value } => {
                let (event, _) = state.config_set(format!("k{}", key % 4), value.to_string());
                model.apply(event);
            }
            Op::ConfigDelete { key } => {
                let k = format!("k{}", key % 4);
                let done = state.config_delete(&k);
                assert_eq!(done.is_some(), model.config.contains_key(&k));
                if let Some((event, _)) = done {
                    model.apply(event);
                }
            }
            Op::Restart => {
                state = CenterState::restore(state.snapshot(), limit, now);
                for l in model.leases.values_mut() {
                    l.expires = now + l.ttl;
                }
            }
            Op::Since { revision } => {
                let current = model.revision();
                let asked = u64::from(revision) % (current + 2);
                let kept = model.log.len().min(limit);
                let history = &model.log[model.log.len() - kept..];
                let oldest = history.first().map_or(current + 1, |e| e.revision);
                let want = if asked > current {
                    Err(NotReplayable::Future { asked, current })
                } else if asked == current {
                    Ok(Vec::new())
                } else if asked + 1 < oldest {
                    Err(NotReplayable::TooOld { asked, oldest })
                } else {
                    Ok(history
                        .iter()
                        .filter(|e| e.revision > asked)
                        .cloned()
                        .collect())
                };
                assert_eq!(state.since(asked, 0), want);
            }
        }
        same_as_replica(&state, &model);
    }
}
