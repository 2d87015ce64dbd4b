//! `discovery:` — where a client finds a service's instances: a fixed list, or registry
//! centers (the center client is `erpc-center`'s: its feature `config` builds such a
//! client, `erpc_center::config_client::connect`).

use serde::Deserialize;

/// A service and where its instances are listed: exactly one of `instances` or `centers`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverySettings {
    /// The service's name, as its servers register it (`Greeter`, `pkg.Greeter`).
    pub service: String,
    /// A fixed list of instance addresses (`tcp://10.0.0.7:7001`, any transport).
    #[serde(default)]
    pub instances: Vec<String>,
    /// Registry centers' addresses (`tcp://center:7070`), tried in turn.
    #[serde(default)]
    pub centers: Vec<String>,
    /// The centers' token (for centers that protect reads), read from this file's first
    /// line. Default none.
    #[serde(default)]
    pub token_file: Option<std::path::PathBuf>,
    /// How to reach `tls://` and `quic://` centers: the CA their certificates chain to, and
    /// a certificate for centers started with `--client-ca` (the same shape as
    /// `client.tls`, which is for the service's instances, not the centers). Default none.
    #[serde(default)]
    pub tls: Option<crate::ClientTlsSettings>,
    /// Only instances of this group. Default: any.
    #[serde(default)]
    pub group: Option<String>,
    /// Only instances of this version. Default: any.
    #[serde(default)]
    pub version: Option<String>,
    /// Only instances with every one of these tags. Default: any.
    #[serde(default)]
    pub tags: Vec<String>,
}

impl DiscoverySettings {
    pub(crate) fn check(&self, at: &str) -> Result<(), (String, String)> {
        if self.service.is_empty() {
            return Err((format!("{at}.service"), "must name a service".into()));
        }
        if self.instances.is_empty() == self.centers.is_empty() {
            return Err((
                at.to_owned(),
                "expected exactly one of instances (a fixed list of addresses, not empty) or \
                 centers (registry centers)"
                    .into(),
            ));
        }
        if self.token_file.is_some() && self.centers.is_empty() {
            return Err((format!("{at}.token_file"), "goes with centers".into()));
        }
        if self.tls.is_some() && self.centers.is_empty() {
            return Err((
                format!("{at}.tls"),
                "goes with centers (the instances' TLS is the client's own `tls`)".into(),
            ));
        }
        if let Some(tls) = &self.tls {
            tls.check(&format!("{at}.tls"))?;
        }
        for (key, list) in [("instances", &self.instances), ("centers", &self.centers)] {
            for (i, addr) in list.iter().enumerate() {
                if let Err(e) = erpc_core::IntoAddress::into_address(addr.as_str()) {
                    let entry = crate::error::entry_at(&format!("{at}.{key}"), i);
                    return Err((entry, format!("{addr:?}: {e}")));
                }
            }
        }
        Ok(())
    }

    /// The subset of instances a client may use.
    pub fn subset(&self) -> erpc_core::discovery::Subset {
        let mut subset = erpc_core::discovery::Subset::default();
        if let Some(group) = &self.group {
            subset = subset.group(group.clone());
        }
        if let Some(version) = &self.version {
            subset = subset.version(version.clone());
        }
        for tag in &self.tags {
            subset = subset.tag(tag.clone());
        }
        subset
    }
}
