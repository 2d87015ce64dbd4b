//! What the center stores and reports: instances, config entries, and the changes to them.

use serde::{Deserialize, Serialize};

/// Instances are erpc's discovery type: what a server registers is what the center stores.
pub use erpc_core::discovery::Instance;

/// Metadata keys of federation (CENTER.md, "Federation"): the home data center a center with
/// `--dc` stamps on local registrations that name none, and the Unix time in ms since which a
/// mirrored entry is unconfirmed (its peer unreachable).
pub use erpc_core::discovery::{DC_KEY, STALE_SINCE_KEY};

/// Metadata key a center sets on every instance it mirrors from a peer data center's center:
/// that peer's address as given to `--follow`. Followers skip instances carrying it (each
/// center mirrors only its peers' own registrations, so nothing loops), and a registration
/// carrying it is refused.
pub const REMOTE_KEY: &str = "erpc.remote";

/// Metadata key added to a stale mirrored instance in `discover` results only: its age, the
/// milliseconds since [`STALE_SINCE_KEY`] (decimal).
pub const STALE_AGE_KEY: &str = "erpc.stale_ms";

/// Which instances a discovery wants. Every field may be left out on the wire; a missing,
/// nil or `""` group or version matches every instance, and missing tags require none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Filter {
    /// Only this group (`None` or `""`: any).
    #[serde(default)]
    pub group: Option<String>,
    /// Only this version (`None` or `""`: any).
    #[serde(default)]
    pub version: Option<String>,
    /// Only instances carrying every one of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Filter {
    /// Whether `instance` passes.
    pub fn matches(&self, instance: &Instance) -> bool {
        let any_or = |wanted: &Option<String>, has: &str| {
            wanted.as_deref().is_none_or(|w| w.is_empty() || w == has)
        };
        any_or(&self.group, &instance.group)
            && any_or(&self.version, &instance.version)
            && self.tags.iter().all(|t| instance.tags.contains(t))
    }
}

/// One change, as watchers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Change {
    /// An instance registered, or registered again with new details.
    Registered(Instance),
    /// An instance left: deregistered, or its lease expired.
    Deregistered {
        /// Its service.
        service: String,
        /// Its id.
        id: String,
        /// Why: `deregistered` or `lease expired`.
        reason: String,
    },
    /// A config key was set.
    ConfigSet {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// A config key was deleted.
    ConfigDeleted {
        /// The key.
        key: String,
    },
}

impl Change {
    /// The service an instance change is about (`None` for config changes).
    pub fn service(&self) -> Option<&str> {
        match self {
            Change::Registered(i) => Some(&i.service),
            Change::Deregistered { service, .. } => Some(service),
            _ => None,
        }
    }

    /// The config key a config change is about.
    pub fn key(&self) -> Option<&str> {
        match self {
            Change::ConfigSet { key, .. } | Change::ConfigDeleted { key } => Some(key),
            _ => None,
        }
    }
}

/// A change with its revision: revisions are unique, increase by one per change, and order
/// every change the center ever made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The revision this change created.
    pub revision: u64,
    /// What changed.
    pub change: Change,
}
