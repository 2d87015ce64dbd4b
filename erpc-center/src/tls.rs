//! `--cert`, `--key`, `--client-ca`: the certificate the center's `tls://` and `quic://`
//! addresses present; `--follow-ca`: the CA its TLS peers are checked against. Both read into
//! the transport's own TLS settings (`erpc_transport::tls`). A TLS address (or peer) without
//! them, and a certificate (or CA) nothing uses, stop the center at start, naming the flags.

use std::path::Path;

use erpc_transport::address::is_tls;

/// The PEM files given (flags, variables, or the config file's `center.tls`).
#[derive(Debug, Default)]
pub struct Files<'a> {
    /// The certificate chain, leaf first.
    pub cert: Option<&'a Path>,
    /// Its private key.
    pub key: Option<&'a Path>,
    /// The CA client certificates must chain to (mutual TLS).
    pub client_ca: Option<&'a Path>,
}

/// Where the certificate came from, for messages.
const FLAGS: &str =
    "--cert PEM and --key PEM (or `tls: {cert, key}` in the --config file's `center:` section)";

/// The transport options for `listen` with `files`: a certificate when an address needs one.
///
/// # Errors
/// A message naming the flags: a TLS address without `--cert`/`--key`, `--cert` without
/// `--key` (or the reverse), `--client-ca` without them, a certificate no address uses, or a
/// PEM file that cannot be read or does not hold what it should.
pub fn options(listen: &[String], files: &Files<'_>) -> Result<erpc_transport::Options, String> {
    let needs = listen.iter().find(|a| is_tls(a));
    let (cert, key) = match (files.cert, files.key, needs) {
        (None, None, None) if files.client_ca.is_none() => {
            return Ok(erpc_transport::Options::default());
        }
        (None, None, Some(addr)) => {
            return Err(format!(
                "--listen {addr}: a TLS address needs the center's certificate: give {FLAGS}"
            ));
        }
        (Some(cert), Some(key), _) => (cert, key),
        (Some(_), None, _) => {
            return Err("--cert needs --key: the certificate's private key (PEM)".into());
        }
        (None, Some(_), _) => return Err("--key needs --cert: the certificate chain (PEM)".into()),
        (None, None, _) => {
            return Err(
                "--client-ca needs the center's own certificate: give --cert and --key".into(),
            );
        }
    };
    if needs.is_none() {
        return Err(format!(
            "--cert {}: no --listen address uses TLS (tls://, quic://), so nothing would present it: \
             listen on one, or leave out --cert, --key and --client-ca",
            cert.display()
        ));
    }
    listener_options(cert, key, files.client_ca)
}

/// The transport options of the connections to `follow`'s peers: the CA of `follow_ca` when
/// a peer is a TLS address.
///
/// # Errors
/// A message naming the flags: a TLS peer without `--follow-ca`, a `--follow-ca` no peer
/// uses, or a file that cannot be read or holds no certificate.
pub fn follow_options(
    follow: &[String],
    follow_ca: Option<&Path>,
) -> Result<erpc_transport::Options, String> {
    match (follow.iter().find(|a| is_tls(a)), follow_ca) {
        (None, None) => Ok(erpc_transport::Options::default()),
        (Some(peer), None) => Err(format!(
            "--follow {peer}: a TLS peer is checked against a CA: give --follow-ca PEM \
             (or `follow_ca` in the --config file's `center:` section)"
        )),
        (None, Some(ca)) => Err(format!(
            "--follow-ca {}: no --follow peer is a TLS address (tls://, quic://), so nothing \
             would use it: leave it out",
            ca.display()
        )),
        (Some(_), Some(ca)) => peer_options(ca),
    }
}

/// The transport's client TLS (`ClientTls`) trusting the CA in `ca`.
#[cfg(feature = "tls")]
fn peer_options(ca: &Path) -> Result<erpc_transport::Options, String> {
    let named = |e: &dyn std::fmt::Display| format!("--follow-ca {}: {e}", ca.display());
    let pem = std::fs::read(ca).map_err(|e| named(&e))?;
    let tls = erpc_transport::tls::ClientTls::trust_pem(&pem).map_err(|e| named(&e))?;
    Ok(erpc_transport::Options::default().client_tls(tls))
}

/// Built without the `tls` feature: a CA is an error that says so.
#[cfg(not(feature = "tls"))]
fn peer_options(ca: &Path) -> Result<erpc_transport::Options, String> {
    Err(format!(
        "--follow-ca {}: this erpc-center was built without the tls feature",
        ca.display()
    ))
}

/// The transport's server TLS (`ServerTls`) from the PEM files.
#[cfg(feature = "tls")]
fn listener_options(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<erpc_transport::Options, String> {
    use erpc_transport::tls::ServerTls;
    let read = |flag: &str, path: &Path| {
        std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
    };
    let (cert_pem, key_pem) = (read("--cert", cert)?, read("--key", key)?);
    let named = format!("--cert {}, --key {}", cert.display(), key.display());
    let tls = match client_ca {
        Some(ca) => ServerTls::mutual(&cert_pem, &key_pem, &read("--client-ca", ca)?)
            .map_err(|e| format!("{named}, --client-ca {}: {e}", ca.display())),
        None => ServerTls::from_pem(&cert_pem, &key_pem).map_err(|e| format!("{named}: {e}")),
    }?;
    Ok(erpc_transport::Options::default().server_tls(tls))
}

/// Built without the `tls` feature: a certificate is an error that says so.
#[cfg(not(feature = "tls"))]
fn listener_options(
    cert: &Path,
    _key: &Path,
    _client_ca: Option<&Path>,
) -> Result<erpc_transport::Options, String> {
    Err(format!(
        "--cert {}: this erpc-center was built without the tls feature",
        cert.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_addresses_are_told_apart_by_scheme() {
        assert!(is_tls("tls://127.0.0.1:0"));
        assert!(is_tls("quic://[::1]:7070"));
        assert!(!is_tls("tcp://127.0.0.1:7070"));
        assert!(!is_tls("unix:///tmp/tls://x"));
    }
}
