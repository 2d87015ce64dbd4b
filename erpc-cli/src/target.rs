//! Where calls go: an address (`tcp://127.0.0.1:7000`), or a service name resolved through a
//! registry center (`--center`).

use std::time::Duration;

use erpc_center::CenterRegistry;
use erpc_core::discovery::{Locality, routes_key};
use erpc_core::{Client, CodecId};

use crate::failure::Failure;

/// A target as given on the command line.
pub struct Target<'a> {
    /// An address (it has a scheme: `tcp://`, `unix://`, …) or a service name.
    pub target: &'a str,
    /// The center to resolve a service name through.
    pub center: Option<&'a str>,
    /// The center's token (`--center-token`), sent on the discovery calls.
    pub token: Option<String>,
    /// Transport settings of the connections to the target (TLS: `--cacert`, …).
    pub transport: erpc_transport::Options,
}

impl Target<'_> {
    /// Whether `target` is an address (it has a scheme: `tcp://…`) rather than a service
    /// name.
    pub fn is_address(target: &str) -> bool {
        target.contains("://")
    }

    /// A client of the target, speaking JSON (servers answer in kind). An address is dialled
    /// now, so a refused connection is reported here, naming it; a service name must have
    /// instances in the center (bad input otherwise, listing the services it has).
    pub async fn connect(&self, connections: usize) -> Result<Client, Failure> {
        let builder = Client::builder()
            .codec(CodecId::JSON)
            .connections(connections)
            .connect_timeout(Duration::from_secs(5))
            .transport(self.transport.clone());
        if Target::is_address(self.target) {
            parse_address(self.target)?;
            crate::tls::require_settings(self.target, &self.transport)?;
            return builder.connect(self.target).await.map_err(|status| {
                // The engine's dial errors name the address already; others are given it.
                if status.message().contains(self.target) {
                    return Failure::Call(status);
                }
                Failure::Call(erpc_core::Status::new(
                    status.code(),
                    format!("cannot reach {}: {}", self.target, status.message()),
                ))
            });
        }
        let Some(center) = self.center else {
            return Err(Failure::usage(format!(
                "{:?} is not an address (tcp://HOST:PORT, unix:///PATH, …); to call a service by name give --center ADDR",
                self.target
            )));
        };
        // The center is reached with the target's TLS flags (one --cacert for a center and
        // services on TLS; CENTER.md, "TLS and QUIC").
        let instances = crate::center::require_registered(
            &crate::center::client(center, self.token.clone(), self.transport.clone())?,
            center,
            self.target,
        )
        .await?;
        // Instances reached only over TLS need its flags as an address would.
        if let Some(addr) = instances
            .iter()
            .filter_map(|i| i.addrs.first())
            .find(|a| crate::tls::require_settings(a, &self.transport).is_err())
        {
            crate::tls::require_settings(addr, &self.transport)?;
        }
        let registry = CenterRegistry::builder().transport(self.transport.clone());
        let registry = match &self.token {
            Some(token) => registry.token(token.clone()),
            None => registry,
        }
        .build([center])
        .map_err(|e| Failure::usage(format!("--center {center}: {e}")))?;
        // The service's routing rules at the center (CENTER.md "Routing rules"), followed
        // live and applied before balancing, as the gateway and config-built clients do; the
        // calls' `-H` metadata is what header-matching rules see.
        let rules = registry
            .follow_config(&routes_key(self.target))
            .await
            .map_err(crate::center::at(center))?;
        Ok(builder
            .routes(rules, Locality::default())
            .discover(&registry, self.target)
            .await?)
    }
}

/// `text` as an address, or bad input (exit 2; `erpc health`: 1) saying what is wrong with
/// it — no port, an empty host, a scheme `erpc` does not speak: a typo the user must fix,
/// checked before anything is dialled, as `--center` addresses are (`center::client`), not
/// a failed call. A `mem://` address is one too: only the process serving it can dial it,
/// never a separate `erpc`.
pub fn parse_address(text: &str) -> Result<erpc_transport::Address, Failure> {
    erpc_transport::tls_flags::dialled_address(text).map_err(Failure::usage)
}
