//! `center:` — the registry center's settings (`erpc-center --config FILE`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::server::ServerTlsSettings;

/// The center's settings: the same as its command-line options (CENTER.md), which override
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CenterSettings {
    /// Addresses to serve on. Default `["tcp://127.0.0.1:7070"]`.
    pub listen: Vec<String>,
    /// `redb` (default), `memory`, or `etcd://host:2379[,…][/prefix]`.
    pub store: String,
    /// Where the redb file lives. Default: the per-user data directory.
    pub data_dir: Option<PathBuf>,
    /// Shortest lease a registration may ask for. Default `1s`.
    #[serde(with = "humantime_serde")]
    pub min_ttl: Duration,
    /// Longest lease. Default `5m`.
    #[serde(with = "humantime_serde")]
    pub max_ttl: Duration,
    /// How often expired leases are removed. Default `500ms`.
    #[serde(with = "humantime_serde")]
    pub sweep: Duration,
    /// Changes kept for watchers to resume from. Default 10,000.
    pub history: u64,
    /// Serve Prometheus metrics at `http://ADDR/metrics`. Default off.
    pub metrics_listen: Option<String>,
    /// This center's data center (`--dc`), stamped as metadata `dc` on registrations that
    /// name none. Default none.
    pub dc: Option<String>,
    /// Peer data centers' centers to mirror read-only (`--follow`). Default none.
    pub follow: Vec<String>,
    /// The CA (PEM) that `tls://` and `quic://` peers in `follow` are checked against
    /// (`--follow-ca`); read when the file is loaded. Default none.
    pub follow_ca: Option<PathBuf>,
    /// How long a peer's instances are kept, marked stale, once it is unreachable. Default
    /// `60s`.
    #[serde(with = "humantime_serde")]
    pub remote_stale_after: Duration,
    /// Serve the web dashboard at `http://ADDR/` (CENTER.md, "Dashboard"). Default off.
    pub http: Option<String>,
    /// Require `authorization: Bearer <token>` on registrations, lease calls and config
    /// writes, the token read from this file (its first line). Default none: open.
    pub token_file: Option<PathBuf>,
    /// Require the token on reads too (discover, watch, config_get, config_watch); needs
    /// `token_file`. Default false.
    pub protect_reads: bool,
    /// The certificate (and optional client CA, for mutual TLS) of the `tls://` and
    /// `quic://` addresses in `listen` (`--cert`, `--key`, `--client-ca`): PEM files, read
    /// and checked when the file is loaded. Default none; a TLS address without it is refused
    /// at start.
    pub tls: Option<ServerTlsSettings>,
    /// Where these settings were loaded from ([`crate::Origin::name_of`] names each value's
    /// file line or variable in erpc-center's start-up errors); not a key of the file.
    /// Default: made in code.
    #[serde(skip)]
    pub origin: crate::Origin,
}

impl Default for CenterSettings {
    fn default() -> Self {
        CenterSettings {
            listen: vec!["tcp://127.0.0.1:7070".to_owned()],
            store: "redb".to_owned(),
            data_dir: None,
            min_ttl: Duration::from_secs(1),
            max_ttl: Duration::from_secs(300),
            sweep: Duration::from_millis(500),
            history: 10_000,
            metrics_listen: None,
            dc: None,
            follow: Vec::new(),
            follow_ca: None,
            remote_stale_after: Duration::from_secs(60),
            http: None,
            token_file: None,
            protect_reads: false,
            tls: None,
            origin: Default::default(),
        }
    }
}

impl CenterSettings {
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        if self.listen.is_empty() {
            return Err(("center.listen".into(), "needs at least one address".into()));
        }
        for (key, zero) in [
            ("center.min_ttl", self.min_ttl.is_zero()),
            ("center.sweep", self.sweep.is_zero()),
            ("center.history", self.history == 0),
            (
                "center.remote_stale_after",
                self.remote_stale_after.is_zero(),
            ),
        ] {
            if zero {
                return Err((key.into(), "must be above zero".into()));
            }
        }
        if self.dc.as_deref() == Some("") {
            return Err((
                "center.dc".into(),
                "is empty: name the data center, or leave it null".into(),
            ));
        }
        if self.protect_reads && self.token_file.is_none() {
            return Err((
                "center.protect_reads".into(),
                "needs token_file: the token reads would require".into(),
            ));
        }
        if self.min_ttl > self.max_ttl {
            let (key, max) = ("center.min_ttl", "center.max_ttl");
            return Err((
                key.into(),
                format!(
                    "{} is above {max} {}",
                    crate::error::valued(key, humantime::format_duration(self.min_ttl)),
                    crate::error::valued(max, humantime::format_duration(self.max_ttl))
                ),
            ));
        }
        Ok(())
    }
}
