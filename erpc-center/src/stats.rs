//! What a center holds at a moment — registrations, leases, configuration, open watches — for
//! its `/metrics` (`erpc-center --metrics-listen`) and for tests. Read when asked (a scrape),
//! so keeping it costs the calls nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A center's figures now ([`crate::CenterImpl::stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CenterStats {
    /// The registry's figures: `None` for a backend that does not count them here (etcd,
    /// where the state is shared by many centers and lives in etcd).
    pub registry: Option<RegistryStats>,
    /// Open watches of instance changes (`watch`).
    pub watches: usize,
    /// Open watches of configuration changes (`config_watch`).
    pub config_watches: usize,
}

/// The registry's figures ([`CenterStats::registry`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryStats {
    /// Instances registered now, per service name.
    pub instances: BTreeMap<String, usize>,
    /// Leases alive now (one per registered instance).
    pub leases: usize,
    /// Leases that ran out without a renewal since the center started (their instances were
    /// removed by the sweep).
    pub expired: u64,
    /// Configuration keys set now.
    pub config_keys: usize,
}

/// The open watches of a center, counted by the guards its watch streams hold.
#[derive(Debug, Default)]
pub(crate) struct Watches {
    instances: AtomicUsize,
    config: AtomicUsize,
}

impl Watches {
    /// Count one open watch (of configuration if `config`) until the guard is dropped.
    pub(crate) fn open(self: &Arc<Self>, config: bool) -> Watching {
        self.counter(config).fetch_add(1, Ordering::Relaxed);
        Watching {
            watches: self.clone(),
            config,
        }
    }

    fn counter(&self, config: bool) -> &AtomicUsize {
        if config {
            &self.config
        } else {
            &self.instances
        }
    }

    /// (instance watches, config watches) open now.
    pub(crate) fn now(&self) -> (usize, usize) {
        (
            self.instances.load(Ordering::Relaxed),
            self.config.load(Ordering::Relaxed),
        )
    }
}

/// One open watch: counted until dropped (with its stream).
pub(crate) struct Watching {
    watches: Arc<Watches>,
    config: bool,
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.watches
            .counter(self.config)
            .fetch_sub(1, Ordering::Relaxed);
    }
}
