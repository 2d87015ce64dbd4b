//! PEM files named in settings, read into the transport's TLS settings.

use std::path::Path;

use crate::client::ClientTlsSettings;
use crate::error::ConfigError;
use crate::server::ServerTlsSettings;

fn read(path: &Path, key: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| tls_error(key, format!("{}: {e}", path.display())))
}

fn tls_error(key: &str, reason: String) -> ConfigError {
    ConfigError::Key {
        file: None,
        line: None,
        env: None,
        key: key.to_owned(),
        reason,
    }
}

/// The server's certificate, key and optional client CA, from the settings at `at`
/// (`server.tls`, `center.tls`: errors name its keys).
pub(crate) fn server(
    settings: &ServerTlsSettings,
    at: &str,
) -> Result<erpc_transport::tls::ServerTls, ConfigError> {
    let cert = read(&settings.cert, &format!("{at}.cert"))?;
    let key = read(&settings.key, &format!("{at}.key"))?;
    let tls = match &settings.client_ca {
        Some(ca) => erpc_transport::tls::ServerTls::mutual(
            &cert,
            &key,
            &read(ca, &format!("{at}.client_ca"))?,
        ),
        None => erpc_transport::tls::ServerTls::from_pem(&cert, &key),
    };
    tls.map_err(|e| tls_error(at, e.to_string()))
}

/// The client's trusted CA, optional identity and server name.
pub(crate) fn client(
    settings: &ClientTlsSettings,
    at: &str,
) -> Result<erpc_transport::tls::ClientTls, ConfigError> {
    let mut tls = trust(&settings.ca, &format!("{at}.ca"))?;
    if let (Some(cert), Some(key)) = (&settings.cert, &settings.key) {
        let cert = read(cert, &format!("{at}.cert"))?;
        let key = read(key, &format!("{at}.key"))?;
        tls = tls
            .identity(&cert, &key)
            .map_err(|e| tls_error(&format!("{at}.cert"), e.to_string()))?;
    }
    if let Some(name) = &settings.server_name {
        tls = tls.server_name(name.clone());
    }
    Ok(tls)
}

/// A client trusting the CA certificates in the PEM file at `path`, named `key` in errors.
pub(crate) fn trust(path: &Path, key: &str) -> Result<erpc_transport::tls::ClientTls, ConfigError> {
    erpc_transport::tls::ClientTls::trust_pem(&read(path, key)?)
        .map_err(|e| tls_error(key, e.to_string()))
}
