//! Server health, as `grpc.health.v1` has it: a status per service and an overall one,
//! checked and watched over the built-in `erpc.Health` service ([`service`]), set by user
//! code through a [`Health`] handle and by custom checks run on an interval ([`check`]), and
//! fed to the registry so balanced clients skip an instance that is not serving
//! (`registry`).
//!
//! A service's status is `SERVING` unless user code set it `NOT_SERVING` or a failing check
//! that covers it says so. The overall status (the empty name `""`) is `SERVING` only while
//! every served service is, no check is failing and user code has not set `""` itself
//! `NOT_SERVING`. A graceful shutdown sets every status `NOT_SERVING` for good (even of names
//! the server does not know), so watchers learn of it before their streams end.

pub mod check;
pub(crate) mod registry;
pub mod service;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// A service's health, as `grpc.health.v1`'s `ServingStatus`. On the wire (PROTOCOL.md
/// §15) the variant's name as a string: `"SERVING"`, `"NOT_SERVING"`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServingStatus {
    /// Serving: calls may come.
    Serving,
    /// Not serving: balanced clients skip the instance.
    NotServing,
    /// The server has no service by that name.
    ServiceUnknown,
    /// Not known. erpc never answers it; a client may meet it from another implementation,
    /// and a status string this build does not know decodes to it.
    #[serde(other)]
    Unknown,
}

impl ServingStatus {
    /// `NOT_SERVING` and the like, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ServingStatus::Unknown => "UNKNOWN",
            ServingStatus::Serving => "SERVING",
            ServingStatus::NotServing => "NOT_SERVING",
            ServingStatus::ServiceUnknown => "SERVICE_UNKNOWN",
        }
    }
}

impl std::fmt::Display for ServingStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A handle on a server's health: read it, watch it, set it. Cheap to clone; every clone is
/// the same server's health. Get one with [`crate::ServerBuilder::health_handle`] (to hand to
/// services before serving) or [`crate::ServerHandle::health`].
#[derive(Clone, Default)]
pub struct Health {
    state: Arc<Mutex<State>>,
    /// Bumped on every change: watchers wake and recompute the name they follow. One channel
    /// for every name, so a watch of any name (even one made up by a client) costs no entry.
    changed: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Health")
            .field("set", &state.set)
            .field("failing", &state.failing)
            .field("shut_down", &state.shut_down)
            .finish()
    }
}

#[derive(Default)]
struct State {
    /// What user code set, by name (`""` is the overall status). A name set here is known.
    set: BTreeMap<String, ServingStatus>,
    /// The services the server serves: known, `SERVING` until something says otherwise.
    served: BTreeSet<String>,
    /// Checks failing now, with the services each covers (`None`: all of them).
    failing: BTreeMap<String, Option<Vec<String>>>,
    shut_down: bool,
}

impl State {
    fn known(&self, name: &str) -> bool {
        name.is_empty() || self.served.contains(name) || self.set.contains_key(name)
    }

    fn status(&self, name: &str) -> ServingStatus {
        // Shutting down, nothing serves: known or not, every name is NOT_SERVING.
        if self.shut_down {
            return ServingStatus::NotServing;
        }
        if !self.known(name) {
            return ServingStatus::ServiceUnknown;
        }
        let set_serving = |n: &str| self.set.get(n).is_none_or(|s| *s == ServingStatus::Serving);
        let serving = if name.is_empty() {
            set_serving("")
                && self.failing.is_empty()
                && self
                    .served
                    .iter()
                    .chain(self.set.keys())
                    .all(|n| set_serving(n))
        } else {
            set_serving(name)
                && !self.failing.values().any(|covers| match covers {
                    None => true,
                    Some(services) => services.iter().any(|s| s == name),
                })
        };
        if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        }
    }
}

impl Health {
    /// A health with nothing known but the overall status, `SERVING`.
    pub fn new() -> Health {
        Health::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn change(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.lock());
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The status of `service` (`""`: the server as a whole). `SERVICE_UNKNOWN` for a name
    /// the server does not serve and nobody set.
    pub fn status(&self, service: &str) -> ServingStatus {
        self.lock().status(service)
    }

    /// Set `service`'s status (`""`: the overall one) as user code sees it; checks that fail
    /// still make it `NOT_SERVING`. A name the server does not serve becomes known (a
    /// component's name, say: it then counts towards the overall status). Only `SERVING`
    /// and `NOT_SERVING` mean anything here; any other value counts as `NOT_SERVING`.
    /// Ignored after the server began shutting down.
    pub fn set(&self, service: impl Into<String>, status: ServingStatus) {
        let service = service.into();
        self.change(|state| {
            state.set.insert(service, status);
        });
    }

    /// `service`'s status now, then each change of it (not every other health change),
    /// ending once the server began shutting down — after `NOT_SERVING`, unless that was
    /// the last status sent already. A change and back between two polls is not seen: a
    /// watcher learns the latest status, as `grpc.health.v1` allows.
    pub fn watch(
        &self,
        service: &str,
    ) -> impl futures_util::Stream<Item = ServingStatus> + Send + 'static + use<> {
        let start = (self.clone(), service.to_owned(), self.changes(), None);
        futures_util::stream::unfold(Some(start), |state| async move {
            let (health, service, mut changes, last) = state?;
            loop {
                let (now, down) = {
                    let state = health.lock();
                    (state.status(&service), state.shut_down)
                };
                if last != Some(now) {
                    let rest = (!down).then_some((health, service, changes, Some(now)));
                    return Some((now, rest));
                }
                if down {
                    return None;
                }
                changes.changed().await.ok()?;
            }
        })
    }

    /// Wakes at every change of any status (for watchers that recompute their own).
    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The server serves `services`: they are known, `SERVING` until told otherwise.
    pub(crate) fn serve(&self, services: impl IntoIterator<Item = String>) {
        self.change(|state| state.served.extend(services));
    }

    /// Check `name` (covering `covers`, `None`: every service) failed, or passed again.
    pub(crate) fn check_result(&self, name: &str, covers: Option<&[String]>, failing: bool) {
        let now_failing = self.lock().failing.contains_key(name);
        if now_failing == failing {
            return;
        }
        self.change(|state| {
            if failing {
                state
                    .failing
                    .insert(name.to_owned(), covers.map(<[String]>::to_vec));
            } else {
                state.failing.remove(name);
            }
        });
    }

    /// The server began shutting down: every status is `NOT_SERVING` from now on, and
    /// watches end.
    pub(crate) fn shut_down(&self) {
        self.change(|state| state.shut_down = true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ServingStatus::*;

    #[test]
    fn the_overall_status_is_the_worst_of_everything() {
        let health = Health::new();
        health.serve(["a".to_owned(), "b".to_owned()]);
        assert_eq!(health.status(""), Serving);
        assert_eq!(health.status("c"), ServiceUnknown);
        health.set("a", NotServing);
        assert_eq!(
            (health.status("a"), health.status("b")),
            (NotServing, Serving)
        );
        assert_eq!(health.status(""), NotServing);
        health.set("a", Serving);
        health.check_result("db", Some(&["b".to_owned()]), true);
        assert_eq!(
            (health.status("a"), health.status("b")),
            (Serving, NotServing)
        );
        assert_eq!(health.status(""), NotServing);
        health.check_result("db", None, false);
        health.check_result("disk", None, true);
        assert_eq!(
            (health.status("a"), health.status("b")),
            (NotServing, NotServing)
        );
        health.check_result("disk", None, false);
        assert_eq!(health.status(""), Serving);
        health.shut_down();
        assert_eq!(
            (health.status(""), health.status("a")),
            (NotServing, NotServing)
        );
    }
}
