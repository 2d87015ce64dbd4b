//! A client built from erpc-config settings alone, registry centers included: what
//! `ClientSettings::connect` cannot do itself (erpc-config does not depend on the center).
//! Feature `config`.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // client: {discovery: {service: Greeter, centers: ["tcp://center:7070"]}, balancer: p2c}
//! let settings = erpc_config::load("config/erpc.yaml")?;
//! let client = erpc_center::config_client::connect(&settings.client).await?;
//! # drop(client); Ok(()) }
//! ```

use erpc_config::ClientSettings;
use erpc_core::{Client, ClientBuilder, Status};

use crate::CenterRegistry;

/// A client of `settings`: of `discovery.service` through the centers at
/// `discovery.centers`, else as `ClientSettings::connect` (a fixed list or `target`); with
/// the balancer and every layer the settings configure.
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
            let registry = CenterRegistry::new(d.centers.iter().map(String::as_str))
                .map_err(|e| Status::invalid_argument(format!("client.discovery.centers: {e}")))?;
            settings.discover_builder(builder, &registry).await
        }
        _ => settings.connect_builder(builder).await,
    }
}
