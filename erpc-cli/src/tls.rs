//! TLS flags for the TLS transports (`tls://`, `wss://`, `quic://`): whom to trust
//! (`--cacert`, or `--insecure` for no one in particular), who we are (`--cert`/`--key`, for
//! servers that want a client certificate), and the name to check (`--server-name`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use erpc_transport::{ClientTls, Options};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::failure::Failure;

/// How to speak TLS to a `tls://`, `wss://` or `quic://` address. Without `--cacert` or
/// `--insecure` such an address fails, saying to give one.
#[derive(clap::Args, Clone, Default)]
pub struct TlsArgs {
    /// Trust the CA certificates (or self-signed server certificates) in this PEM file.
    #[arg(long, value_name = "PEM")]
    cacert: Option<PathBuf>,
    /// INSECURE: accept any server certificate, checking neither who signed it nor its name
    /// (the connection is encrypted, but to whoever answers). For trying things out only.
    #[arg(long, conflicts_with = "cacert")]
    insecure: bool,
    /// Present this certificate chain (PEM) to servers that ask for one (mutual TLS); with
    /// --key.
    #[arg(long, value_name = "PEM", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,
    /// Check the server's certificate against this name instead of the address's host.
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
}

impl TlsArgs {
    /// The transport options these flags ask for (the defaults without any), or which file
    /// is bad input. `target` (an address or a service name) is where they are for: the
    /// --insecure warning is printed unless it is an address without TLS.
    pub fn options(&self, target: &str) -> Result<Options, Failure> {
        let identity = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some((read(cert, "--cert")?, read(key, "--key")?)),
            _ => None,
        };
        let tls = if self.insecure {
            if is_tls(target) || !crate::target::Target::is_address(target) {
                eprintln!(
                    "erpc: --insecure: the server's certificate is NOT checked; anyone on the path can pose as it"
                );
            }
            Some(insecure(identity.as_ref())?)
        } else if let Some(ca) = &self.cacert {
            let tls = ClientTls::trust_pem(&read(ca, "--cacert")?).map_err(bad("--cacert", ca))?;
            Some(match &identity {
                Some((cert, key)) => tls
                    .identity(cert, key)
                    .map_err(|e| Failure::usage(format!("--cert and --key: {e}")))?,
                None => tls,
            })
        } else if identity.is_some() || self.server_name.is_some() {
            return Err(Failure::usage(
                "--cert, --key and --server-name need --cacert PEM (the CA to trust) or --insecure",
            ));
        } else {
            None
        };
        Ok(match tls {
            Some(tls) => {
                let tls = match &self.server_name {
                    Some(name) => tls.server_name(name.clone()),
                    None => tls,
                };
                Options::default().client_tls(tls)
            }
            None => Options::default(),
        })
    }
}

/// The schemes whose connections are TLS: they need [`TlsArgs`] set.
const TLS_SCHEMES: [&str; 3] = ["tls://", "wss://", "quic://"];

/// Whether connections to `addr` are TLS.
pub fn is_tls(addr: &str) -> bool {
    TLS_SCHEMES.iter().any(|s| addr.starts_with(s))
}

/// Bad input, saying which flag to give, if `addr` is a TLS address and `transport` has no
/// TLS settings (the transport's own message names a Rust API, not a flag).
pub fn require_settings(addr: &str, transport: &Options) -> Result<(), Failure> {
    if transport.client_tls.is_some() || !is_tls(addr) {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "{addr} is a TLS address: give --cacert PEM (the CA that signed its certificate), or --insecure to accept any certificate"
    )))
}

fn read(path: &Path, flag: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(bad(flag, path))
}

fn bad(flag: &str, path: &Path) -> impl Fn(std::io::Error) -> Failure {
    let what = format!("{flag} {}", path.display());
    move |e| Failure::usage(format!("{what}: {e}"))
}

/// A client that accepts any server certificate (still checking that the server holds the
/// certificate's key), presenting `identity` (cert chain, key) if given.
fn insecure(identity: Option<&(Vec<u8>, Vec<u8>)>) -> Result<ClientTls, Failure> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyCertificate(provider.signature_verification_algorithms));
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::usage(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Failure::usage(format!("--cert: {e}")))?;
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|e| Failure::usage(format!("--key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Failure::usage(format!("--cert and --key: {e}")))?
        }
    };
    Ok(ClientTls::from_rustls(Arc::new(config)))
}

/// `--insecure`'s verifier: every certificate is taken as valid; the handshake's signatures
/// are still checked, so the peer holds the key of the certificate it showed.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
