//! Clients and servers from erpc-config settings alone, registry centers included: what
//! erpc-config cannot do itself (it does not depend on the center) — a client discovering
//! through `client.discovery.centers` ([`connect`]), a server registering with
//! `server.registration.centers` ([`register`]). Feature `config`.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // client: {discovery: {service: Greeter, centers: ["tcp://center:7070"]}, balancer: p2c}
//! let settings = erpc_config::load("config/erpc.yaml")?;
//! let client = erpc_center::config_client::connect(&settings.client).await?;
//! # drop(client); Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;

use erpc_config::{ClientSettings, ClientTlsSettings, ServerSettings};
use erpc_core::discovery::routes_key;
use erpc_core::{Client, ClientBuilder, ServerBuilder, Status};

use crate::CenterRegistry;

/// A client of `settings`: of `discovery.service` through the centers at
/// `discovery.centers`, following the service's routing rules there (`erpc/routes/<service>`,
/// as `ClientBuilder::routes`) unless `routes: false`; else as `ClientSettings::connect` (a
/// fixed list or `target`); with the balancer and every layer the settings configure.
///
/// # Errors
/// `invalid_argument` naming the key of a bad value; the registry's or the connection's
/// error.
pub async fn connect(settings: &ClientSettings) -> Result<Client, Status> {
    let builder = settings
        .builder()
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    connect_builder(settings, builder).await
}

/// [`connect`] with `builder` (`ClientSettings::plain_builder` with a kept
/// `ClientGovernance` applied, to change its settings live).
///
/// # Errors
/// As [`connect`].
pub async fn connect_builder(
    settings: &ClientSettings,
    builder: ClientBuilder,
) -> Result<Client, Status> {
    match &settings.discovery {
        Some(d) if !d.centers.is_empty() => {
            let registry = registry(
                "client.discovery",
                &d.centers,
                d.token_file.as_deref(),
                d.tls.as_ref(),
            )?;
            let builder = if settings.routes {
                let rules = registry.follow_config(&routes_key(&d.service)).await?;
                builder.routes(rules, settings.balancer.locality())
            } else {
                builder
            };
            settings.discover_builder(builder, &registry).await
        }
        _ => settings.connect_builder(builder).await,
    }
}

/// `builder` registering every service with `server.registration`'s centers once serving
/// (the instance its settings describe, renewed, deregistered on shutdown); `builder` as it
/// is when no registration is set.
///
/// # Errors
/// `invalid_argument` naming the key of a bad center address or an unreadable token file.
pub fn register(
    settings: &ServerSettings,
    builder: ServerBuilder,
) -> Result<ServerBuilder, Status> {
    let Some(registration) = &settings.registration else {
        return Ok(builder);
    };
    let registry = registry(
        "server.registration",
        &registration.centers,
        registration.token_file.as_deref(),
        registration.tls.as_ref(),
    )?;
    let registry = match registration.ttl {
        Some(ttl) => registry.ttl(ttl),
        None => registry,
    };
    Ok(builder.register(Arc::new(registry), registration.template()))
}

/// A registry over `centers`, with the token of `token_file` (its first line) and the
/// TLS of `tls` if given; errors name `at`.
fn registry(
    at: &str,
    centers: &[String],
    token_file: Option<&Path>,
    tls: Option<&ClientTlsSettings>,
) -> Result<CenterRegistry, Status> {
    let mut builder = CenterRegistry::builder();
    if let Some(path) = token_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Status::invalid_argument(format!("{at}.token_file: {}: {e}", path.display()))
        })?;
        let token = text.lines().next().unwrap_or("").trim();
        if token.is_empty() {
            return Err(Status::invalid_argument(format!(
                "{at}.token_file: {}: holds no token",
                path.display()
            )));
        }
        builder = builder.token(token);
    }
    if let Some(tls) = tls {
        let tls = tls
            .client_tls(&format!("{at}.tls"))
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        builder = builder.transport(erpc_transport::Options::default().client_tls(tls));
    }
    builder
        .build(centers.iter().map(String::as_str))
        .map_err(|e| Status::invalid_argument(format!("{at}.centers: {e}")))
}
