//! `server.registration:` — what a server registers with the registry centers (the
//! registration itself is made by `erpc-center`'s `config_client::register`: erpc-config does
//! not depend on the center).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use erpc_core::discovery::Instance;
use erpc_core::server::HealthInRegistry;
use serde::Deserialize;

/// The centers to register with and what every service's instance carries.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationSettings {
    /// Registry centers' addresses (`tcp://center:7070`), tried in turn (at least one).
    pub centers: Vec<String>,
    /// The centers' token (for centers started with a token), read from this file's first
    /// line. Default none.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// How to reach `tls://` and `quic://` centers: the CA their certificates chain to, and
    /// a certificate for centers started with `--client-ca` (the shape of `client.tls`).
    /// Default none.
    #[serde(default)]
    pub tls: Option<crate::ClientTlsSettings>,
    /// The lease asked for; renewed every third of it. Default `10s`.
    #[serde(default, with = "humantime_serde")]
    pub ttl: Option<Duration>,
    /// The instance's id. Default: its first address.
    #[serde(default)]
    pub id: String,
    /// Where clients reach it (`tcp://10.0.0.5:7001`). Default: the addresses bound (a
    /// wildcard bind needs these set).
    #[serde(default)]
    pub addrs: Vec<String>,
    /// Relative share of calls for weighted balancing (0 takes none). Default 100.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Version of the services it runs. Default `""`.
    #[serde(default)]
    pub version: String,
    /// Group (environment, cluster, canary...). Default `""`.
    #[serde(default)]
    pub group: String,
    /// Free-form tags. Default none.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free-form metadata (`zone`, `region` for location-aware balancing). Default none.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// What the registry hears of health: `mark` (default: marked not serving),
    /// `deregister` (removed while not serving) or `off`.
    #[serde(default)]
    pub health: HealthModeName,
}

/// `mark`, `deregister` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealthModeName {
    /// Keep it registered, marked not serving.
    #[default]
    Mark,
    /// Deregister it while not serving.
    Deregister,
    /// Tell the registry nothing.
    Off,
}

crate::common::named!(HealthModeName {
    Mark = "mark",
    Deregister = "deregister",
    Off = "off",
});

fn default_weight() -> u32 {
    erpc_core::discovery::DEFAULT_WEIGHT
}

impl RegistrationSettings {
    pub(crate) fn check(&self, at: &str) -> Result<(), (String, String)> {
        if self.centers.is_empty() {
            return Err((format!("{at}.centers"), "needs at least one center".into()));
        }
        for (key, list) in [("centers", &self.centers), ("addrs", &self.addrs)] {
            for addr in list {
                if let Err(e) = erpc_core::IntoAddress::into_address(addr.as_str()) {
                    return Err((format!("{at}.{key}"), format!("{addr:?}: {e}")));
                }
            }
        }
        if self.ttl.is_some_and(|t| t.is_zero()) {
            return Err((format!("{at}.ttl"), "must be above zero".into()));
        }
        if let Some(tls) = &self.tls {
            tls.check(&format!("{at}.tls"))?;
        }
        Ok(())
    }

    /// The instance every service registers as (its service name filled in by the server).
    pub fn template(&self) -> Instance {
        Instance {
            id: self.id.clone(),
            addrs: self.addrs.clone(),
            weight: self.weight,
            version: self.version.clone(),
            group: self.group.clone(),
            tags: self.tags.clone(),
            metadata: self.metadata.clone(),
            ..Instance::default()
        }
    }

    /// What the registry hears of health.
    pub fn health_mode(&self) -> HealthInRegistry {
        match self.health {
            HealthModeName::Mark => HealthInRegistry::Mark,
            HealthModeName::Deregister => HealthInRegistry::Deregister,
            HealthModeName::Off => HealthInRegistry::Off,
        }
    }
}
