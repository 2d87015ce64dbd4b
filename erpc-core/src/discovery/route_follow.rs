//! A client following its service's routing rules live: the config entry
//! `erpc/routes/<service>` in a registry's followed config entries (as
//! `erpc_center::CenterRegistry::follow_config` gives them), parsed when it changes, planned
//! against the client's instance list when either changes.
//!
//! A table the client cannot apply (not JSON, an unknown field from a newer writer, a bad
//! weight) is logged and the previous one kept: a mistake in the store does not reroute
//! every call. A deleted entry removes the rules (every instance again).

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;

use super::route::{RouteTable, routes_key};
use super::route_plan::RoutePlan;
use super::{Endpoint, Load, Locality};

/// Config entries as a registry follows them: key to value, the whole set under a prefix.
pub type ConfigEntries = watch::Receiver<Arc<BTreeMap<String, String>>>;

/// What [`crate::ClientBuilder::routes`] was given.
#[derive(Clone)]
pub(crate) struct RouteSource {
    pub entries: ConfigEntries,
    pub here: Locality,
}

/// A client's routing state (kept under its instance list's lock).
pub(crate) struct Routing {
    service: String,
    key: String,
    entries: ConfigEntries,
    here: Locality,
    /// The entry's text last applied, and its table (`None`: no rules).
    applied: Option<(String, RouteTable)>,
    /// The table planned against the list of this generation.
    plan: Option<(u64, RoutePlan)>,
}

impl Routing {
    pub fn new(service: &str, source: RouteSource) -> Routing {
        let mut routing = Routing {
            service: service.to_owned(),
            key: routes_key(service),
            entries: source.entries,
            here: source.here,
            applied: None,
            plan: None,
        };
        routing.reload();
        routing
    }

    /// The rules planned against `list` (of list generation `generation`, with its
    /// `loads`), after taking any change of the entry; `None` when there are no rules. Per
    /// call, while nothing changed: one atomic load and one comparison.
    pub fn plan(
        &mut self,
        list: &[Endpoint],
        loads: &[Arc<Load>],
        generation: u64,
    ) -> Option<&RoutePlan> {
        // An error: the registry's follower is gone; the last rules stay.
        if self.entries.has_changed().unwrap_or(false) && self.reload() {
            self.plan = None;
        }
        let (_, table) = self.applied.as_ref()?;
        if self.plan.as_ref().is_none_or(|(g, _)| *g != generation) {
            let plan = RoutePlan::new(&self.service, table, &self.here, list, loads);
            self.plan = Some((generation, plan));
        }
        self.plan.as_ref().map(|(_, plan)| plan)
    }

    /// Take the entry's current value; whether the rules changed.
    fn reload(&mut self) -> bool {
        let entries = self.entries.borrow_and_update().clone();
        let text = entries.get(&self.key);
        if text.map(String::as_str) == self.applied.as_ref().map(|(t, _)| t.as_str()) {
            return false;
        }
        let Some(text) = text else {
            tracing::info!(service = %self.service, key = %self.key, "routing rules deleted: calls go to every instance");
            self.applied = None;
            return true;
        };
        match RouteTable::parse(text) {
            Ok(table) => {
                tracing::info!(service = %self.service, key = %self.key, rules = table.rules.len(), "routing rules applied");
                self.applied = Some((text.clone(), table));
                true
            }
            Err(e) => {
                tracing::warn!(service = %self.service, key = %self.key, error = %e, "routing rules cannot be applied; keeping the previous ones");
                false
            }
        }
    }

    /// The text of the rules in force (`None`: no rules), for tests.
    #[cfg(test)]
    fn applied(&self) -> Option<&str> {
        self.applied.as_ref().map(|(t, _)| t.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::balance::testing::{call, candidates};
    use crate::metadata::Metadata;

    fn entries(
        value: Option<&str>,
    ) -> (watch::Sender<Arc<BTreeMap<String, String>>>, ConfigEntries) {
        let mut map = BTreeMap::new();
        if let Some(v) = value {
            map.insert(routes_key("s"), v.to_owned());
        }
        watch::channel(Arc::new(map))
    }

    fn set(tx: &watch::Sender<Arc<BTreeMap<String, String>>>, value: &str) {
        tx.send_modify(|m| {
            Arc::make_mut(m).insert(routes_key("s"), value.to_owned());
        });
    }

    #[test]
    fn a_table_it_cannot_apply_keeps_the_previous_one_and_a_delete_removes_them() {
        let first = r#"{"default":[{"subset":{"version":"2"}}]}"#;
        let (tx, rx) = entries(Some(first));
        let mut routing = Routing::new(
            "s",
            RouteSource {
                entries: rx,
                here: Locality::default(),
            },
        );
        let (list, loads) = candidates(&[1, 1]);
        assert!(routing.plan(&list, &loads, 1).is_some());
        set(
            &tx,
            r#"{"default":[{"subset":{"version":"2"}}],"retries":3}"#,
        );
        assert!(routing.plan(&list, &loads, 1).is_some());
        assert_eq!(
            routing.applied(),
            Some(first),
            "the refused table is not applied"
        );
        let second = r#"{"default":[{"subset":{"version":"3"}}]}"#;
        set(&tx, second);
        assert!(routing.plan(&list, &loads, 1).is_some());
        assert_eq!(routing.applied(), Some(second));
        tx.send_modify(|m| {
            Arc::make_mut(m).clear();
        });
        assert!(
            routing.plan(&list, &loads, 1).is_none(),
            "deleted: no rules"
        );
    }

    #[test]
    fn the_plan_follows_the_list_generation() {
        let (_tx, rx) = entries(Some(r#"{"default":[{"subset":{"version":"1"}}]}"#));
        let here = Locality::default();
        let mut routing = Routing::new("s", RouteSource { entries: rx, here });
        let (mut list, loads) = candidates(&[1, 1]);
        let nothing = Metadata::new();
        // Neither endpoint runs version 1: the default route has no instance.
        let plan = routing.plan(&list, &loads, 1).expect("rules");
        assert!(plan.choose(&call(&nothing)).is_err());
        let mut v1 = (*list[1].instance).clone();
        v1.version = "1".into();
        list[1].instance = Arc::new(v1);
        let plan = routing.plan(&list, &loads, 2).expect("rules");
        let view = plan
            .choose(&call(&nothing))
            .expect("routes")
            .expect("a view");
        assert_eq!(view.members, vec![1]);
    }
}
