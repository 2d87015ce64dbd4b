//! The command-line flags of a TLS client (feature `flags`), shared by the `erpc` command
//! line and `erpc-gateway` so both take the same flags and say the same things: whom to trust
//! (`--cacert`, or `--insecure` for no one in particular), who we are (`--cert`/`--key`, for
//! servers that want a client certificate) and the name to check (`--server-name`).
//!
//! The transports' own messages name Rust APIs (`ClientTls::trust_pem`), which mean nothing
//! to a user of a binary: [`in_flag_words`] says the flag to give instead, and [`require`]
//! says it before anything is dialled.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::{
    self, DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::WebPkiSupportedAlgorithms,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject},
};

use crate::{ClientTls, Options};

/// How to speak TLS to `tls://`, `wss://` and `quic://` addresses. Without `--cacert` or
/// `--insecure` such an address is refused before it is dialled ([`require`]).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TlsFlags {
    /// Trust the CA certificates (or self-signed server certificates) in this PEM file.
    #[arg(long, value_name = "PEM")]
    pub cacert: Option<PathBuf>,
    /// INSECURE: accept any server certificate, checking neither who signed it nor its name
    /// (the connection is encrypted, but to whoever answers). For trying things out only.
    #[arg(long, conflicts_with = "cacert")]
    pub insecure: bool,
    /// Present this certificate chain (PEM) to servers that ask for one (mutual TLS); with
    /// --key.
    #[arg(long, value_name = "PEM", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Check the server's certificate against this name instead of the address's host.
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
}

/// What a binary prints (after its own name) when `--insecure` is given for a TLS target.
pub const INSECURE_WARNING: &str =
    "--insecure: the server's certificate is NOT checked; anyone on the path can pose as it";

impl TlsFlags {
    /// The transport options these flags ask for (the defaults without any).
    ///
    /// # Errors
    /// A file that cannot be read or is not the PEM it should be, or `--cert`, `--key` or
    /// `--server-name` without `--cacert` or `--insecure`: a message naming the flag.
    pub fn options(&self) -> Result<Options, String> {
        let identity = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some((read(cert, "--cert")?, read(key, "--key")?)),
            _ => None,
        };
        let tls = if self.insecure {
            insecure(identity.as_ref())?
        } else if let Some(ca) = &self.cacert {
            let tls = ClientTls::trust_pem(&read(ca, "--cacert")?)
                .map_err(|e| format!("--cacert {}: {e}", ca.display()))?;
            match &identity {
                Some((cert, key)) => tls
                    .identity(cert, key)
                    .map_err(|e| format!("--cert and --key: {e}"))?,
                None => tls,
            }
        } else if identity.is_some() || self.server_name.is_some() {
            return Err(
                "--cert, --key and --server-name need --cacert PEM (the CA to trust) or --insecure"
                    .to_owned(),
            );
        } else {
            return Ok(Options::default());
        };
        let tls = match &self.server_name {
            Some(name) => tls.server_name(name.clone()),
            None => tls,
        };
        Ok(Options::default().client_tls(tls))
    }
}

/// The schemes whose connections are TLS: they need [`TlsFlags`] set.
pub use crate::address::is_tls;

/// Whether `transport` can dial `addr`: an address without TLS always, a TLS one only with
/// TLS settings.
///
/// # Errors
/// A TLS address without them: a message saying which flag to give (the transport's own
/// names a Rust API).
pub fn require(addr: &str, transport: &Options) -> Result<(), String> {
    if transport.client_tls.is_some() || !is_tls(addr) {
        return Ok(());
    }
    Err(format!(
        "{addr} is a TLS address: give --cacert PEM (the CA that signed its certificate), or --insecure to accept any certificate"
    ))
}

/// The address schemes a binary (`erpc`, `erpc-gateway`) dials, as a sentence's list
/// (`tcp://, unix://, … and kcp://`): the transports compiled in
/// ([`compiled_schemes`](crate::address::compiled_schemes)) but `mem://`, which only the
/// process serving it can reach.
pub fn dialled_schemes() -> String {
    let schemes: Vec<String> = crate::address::compiled_schemes()
        .into_iter()
        .filter(|scheme| *scheme != "mem")
        .map(|scheme| format!("{scheme}://"))
        .collect();
    match schemes.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// `text` as an address a binary (`erpc`, `erpc-gateway`) can dial, or what is wrong with it
/// in a binary user's words: the parse error ([`in_flag_words`]: a missing scheme's hint
/// names no `mem://`), or — for a `mem://` address, which parses — that only the process
/// serving it can reach it.
pub fn dialled_address(text: &str) -> Result<crate::Address, String> {
    let address = text
        .parse()
        .map_err(|e: crate::AddressError| in_flag_words(&e.to_string()))?;
    if let crate::Address::Mem(_) = address {
        return Err(format!(
            "{text} is an in-process address: only the process serving it can dial it; erpc speaks {} addresses",
            dialled_schemes()
        ));
    }
    Ok(address)
}

/// Rewrites of the transports' messages: (what they say, what a binary's user reads).
const REWRITES: [(&str, &str); 3] = [
    // `AddressError::NoScheme`'s hint: a binary cannot dial mem://.
    (
        "tcp://host:port, unix:///path or mem://name",
        "tcp://host:port or unix:///path",
    ),
    (
        "(set ClientTls::server_name?)",
        "(give --server-name NAME, the name the certificate is for?)",
    ),
    (
        "give the client the CA it trusts (ClientTls::trust_pem)",
        "give --cacert PEM (the CA that signed its certificate), or --insecure to accept any certificate",
    ),
];

/// Hints added for rustls cases the transports name without saying what to do, keyed by the
/// case's name as rustls spells it.
const HINTS: [(&str, &str); 2] = [
    (
        "CertificateRequired",
        "the server wants a client certificate: give --cert PEM --key PEM",
    ),
    (
        "CaUsedAsEndEntity",
        "the server's certificate is a CA certificate (CA:TRUE); --cacert can name a self-signed certificate only if it is an end-entity one: make it with `openssl req -x509 … -addext basicConstraints=critical,CA:FALSE`, or sign the server's certificate with a CA and give --cacert that CA",
    ),
];

/// `text` (a failed call's message) with the Rust API names the transports use replaced by
/// these flags, and rustls cases explained with the flag that helps.
pub fn in_flag_words(text: &str) -> String {
    // An unknown scheme: the transports' text lists every scheme of the build and the Rust
    // APIs a transport of one's own is plugged in with; a binary's user reads the addresses
    // the binaries dial.
    if text.contains("unknown transport") || text.contains("no connector is registered") {
        return format!(
            "{} (erpc speaks {} addresses)",
            text.split(" (").next().unwrap_or(text),
            dialled_schemes()
        );
    }
    let mut text = REWRITES
        .iter()
        .fold(text.to_owned(), |t, (from, to)| t.replace(from, to));
    if let Some((_, hint)) = HINTS.iter().find(|(case, _)| text.contains(case)) {
        text = format!("{text} — {hint}");
    }
    text
}

fn read(path: &Path, flag: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
}

/// A client that accepts any server certificate (still checking that the server holds the
/// certificate's key), presenting `identity` (cert chain, key) if given.
fn insecure(identity: Option<&(Vec<u8>, Vec<u8>)>) -> Result<ClientTls, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyCertificate(provider.signature_verification_algorithms));
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("--cert: {e}"))?;
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("--key: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("--cert and --key: {e}"))?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_api_names_become_flags() {
        let said = in_flag_words(
            "tls:// needs TLS settings: give the client the CA it trusts (ClientTls::trust_pem)",
        );
        assert!(!said.contains("ClientTls"), "{said}");
        assert!(said.contains("--cacert PEM"), "{said}");
        let said = in_flag_words("handshake: … (set ClientTls::server_name?)");
        assert!(said.contains("--server-name NAME"), "{said}");
    }

    #[test]
    fn an_unknown_scheme_names_every_compiled_scheme_but_mem() {
        let said =
            in_flag_words("unknown transport \"http\" in \"http://x:1\" (this build knows: …; …)");
        for scheme in crate::address::compiled_schemes() {
            let named = said.contains(&format!(" {scheme}://"));
            assert_eq!(named, scheme != "mem", "{scheme}: {said}");
        }
        assert!(said.ends_with(" addresses)"), "{said}");
    }

    #[test]
    fn tls_addresses_need_settings() {
        assert!(require("tcp://127.0.0.1:1", &Options::default()).is_ok());
        let why = require("tls://127.0.0.1:1", &Options::default()).expect_err("no CA");
        assert!(
            why.contains("--cacert") && why.contains("--insecure"),
            "{why}"
        );
        let insecure = TlsFlags {
            insecure: true,
            ..TlsFlags::default()
        };
        let options = insecure.options().expect("options");
        assert!(require("tls://127.0.0.1:1", &options).is_ok());
    }
}
