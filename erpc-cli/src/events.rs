//! `erpc watch --json`: one registry change as a JSON object, in the dashboard's event names
//! (CENTER.md, "Dashboard") so the two read alike:
//!
//! ```text
//! {"event":"register","id":I,"instance":{…},"revision":R,"service":S}   a new instance
//! {"event":"update","id":I,"instance":{…},"revision":R,"service":S}     one seen before, registered again
//! {"event":"deregister","id":I,"reason":"deregistered"|"lease expired","revision":R,"service":S}
//! {"event":"set","key":K,"revision":R,"value":V} / {"event":"delete","key":K,"revision":R}
//! ```
//!
//! Keys come in alphabetical order (serde_json's map); readers should not rely on any order.
//!
//! `instance` is the registration as on the wire (`service`, `id`, `addrs`, `weight`,
//! `version`, `group`, `tags`, `metadata`, `location`).

use std::collections::HashSet;

use erpc_center::{Change, Event, Instance};
use serde_json::{Value, json};

/// The instances a watch has reported (or found registered when it began), to tell a
/// `register` from an `update`.
#[derive(Default)]
pub struct Known(HashSet<(String, String)>);

impl Known {
    /// Known from the start: the instances registered when the watch began.
    pub fn new<'a>(registered: impl IntoIterator<Item = &'a Instance>) -> Known {
        Known(
            registered
                .into_iter()
                .map(|i| (i.service.clone(), i.id.clone()))
                .collect(),
        )
    }

    /// `event` as its JSON object (the module's shapes).
    pub fn json(&mut self, event: &Event) -> Value {
        let revision = event.revision;
        match &event.change {
            Change::Registered(instance) => {
                let key = (instance.service.clone(), instance.id.clone());
                let name = if self.0.insert(key) {
                    "register"
                } else {
                    "update"
                };
                json!({
                    "event": name, "revision": revision, "service": instance.service,
                    "id": instance.id, "instance": instance,
                })
            }
            Change::Deregistered {
                service,
                id,
                reason,
            } => {
                self.0.remove(&(service.clone(), id.clone()));
                json!({
                    "event": "deregister", "revision": revision, "service": service,
                    "id": id, "reason": reason,
                })
            }
            Change::ConfigSet { key, value } => {
                json!({ "event": "set", "revision": revision, "key": key, "value": value })
            }
            Change::ConfigDeleted { key } => {
                json!({ "event": "delete", "revision": revision, "key": key })
            }
        }
    }
}
