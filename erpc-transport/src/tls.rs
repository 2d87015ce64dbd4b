//! Certificates for the TLS transports (`tls://`, `wss://`, `quic://`), with rustls and the
//! ring provider, and `tls://` itself: TLS over TCP.
//!
//! A server needs [`ServerTls`] (its certificate chain and key, optionally the CA its clients'
//! certificates must chain to); a client needs [`ClientTls`] (the roots it trusts, optionally
//! its own certificate). [`ServerTls::self_signed`] makes a development certificate and warns
//! that it is one.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::rustls::{
    self, RootCertStore,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
    server::WebPkiClientVerifier,
};

use crate::link::{Link, PeerAddr};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn bad_input(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

fn certs(pem: &[u8]) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_input("cannot read PEM certificates", e))?;
    if certs.is_empty() {
        return Err(bad_input(
            "no certificate in PEM input",
            "expected a CERTIFICATE block",
        ));
    }
    Ok(certs)
}

fn key(pem: &[u8]) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| bad_input("cannot read PEM private key", e))
}

fn roots(pem: &[u8]) -> io::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certs(pem)? {
        roots
            .add(cert)
            .map_err(|e| bad_input("unusable CA certificate", e))?;
    }
    Ok(roots)
}

/// A listener's TLS identity.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
    cert_pem: String,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// A server presenting `cert_chain_pem` (leaf first) with `key_pem`, asking clients for
    /// no certificate.
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> io::Result<ServerTls> {
        Self::build(cert_chain_pem, key_pem, None)
    }

    /// Like [`ServerTls::from_pem`], and every client must present a certificate that
    /// chains to one in `client_ca_pem` (mutual TLS).
    pub fn mutual(
        cert_chain_pem: &[u8],
        key_pem: &[u8],
        client_ca_pem: &[u8],
    ) -> io::Result<ServerTls> {
        Self::build(cert_chain_pem, key_pem, Some(client_ca_pem))
    }

    fn build(chain: &[u8], key_pem: &[u8], client_ca: Option<&[u8]>) -> io::Result<ServerTls> {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad_input("TLS setup", e))?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider())
                        .build()
                        .map_err(|e| bad_input("client CA", e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(certs(chain)?, key(key_pem)?)
            .map_err(|e| bad_input("certificate and key do not form an identity", e))?;
        Ok(ServerTls {
            config: Arc::new(config),
            cert_pem: String::from_utf8_lossy(chain).into_owned(),
        })
    }

    /// **Development only.** A freshly generated self-signed certificate for `names` plus
    /// `localhost`, `127.0.0.1` and `::1`. Clients must be told to trust it
    /// ([`ServerTls::certificate_pem`] into [`ClientTls::trust_pem`]); a warning is logged,
    /// because a certificate nobody issued proves nothing to anyone else.
    pub fn self_signed(names: &[&str]) -> io::Result<ServerTls> {
        let mut all: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        for n in ["localhost", "127.0.0.1", "::1"] {
            if !all.iter().any(|a| a == n) {
                all.push(n.to_owned());
            }
        }
        let generated = rcgen::generate_simple_self_signed(all.clone())
            .map_err(|e| bad_input("generating a self-signed certificate", e))?;
        tracing::warn!(
            names = ?all,
            "erpc is using a generated self-signed TLS certificate: for development only, \
             clients must be told to trust it explicitly"
        );
        Self::from_pem(
            generated.cert.pem().as_bytes(),
            generated.key_pair.serialize_pem().as_bytes(),
        )
    }

    /// Use a rustls configuration built elsewhere (ALPN is set per transport).
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> ServerTls {
        ServerTls {
            config,
            cert_pem: String::new(),
        }
    }

    /// The certificate chain in PEM, as given (empty for [`ServerTls::from_rustls`]).
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The rustls configuration with `alpn` as the only protocol.
    pub(crate) fn config(&self, alpn: &[u8]) -> Arc<rustls::ServerConfig> {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![alpn.to_vec()];
        Arc::new(config)
    }
}

/// What a client trusts, and who it is (for mutual TLS).
#[derive(Clone)]
pub struct ClientTls {
    roots: Arc<RootCertStore>,
    config: Arc<rustls::ClientConfig>,
    server_name: Option<String>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("roots", &self.roots.len())
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Trust the CA certificates (or self-signed server certificates) in `ca_pem`.
    pub fn trust_pem(ca_pem: &[u8]) -> io::Result<ClientTls> {
        let roots = Arc::new(roots(ca_pem)?);
        let config = Self::builder(&roots)?.with_no_client_auth();
        Ok(ClientTls {
            roots,
            config: Arc::new(config),
            server_name: None,
        })
    }

    fn builder(
        roots: &Arc<RootCertStore>,
    ) -> io::Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>>
    {
        Ok(rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad_input("TLS setup", e))?
            .with_root_certificates(roots.clone()))
    }

    /// Present `cert_chain_pem` with `key_pem` to servers that ask (mutual TLS).
    pub fn identity(self, cert_chain_pem: &[u8], key_pem: &[u8]) -> io::Result<ClientTls> {
        let config = Self::builder(&self.roots)?
            .with_client_auth_cert(certs(cert_chain_pem)?, key(key_pem)?)
            .map_err(|e| bad_input("client certificate and key do not form an identity", e))?;
        Ok(ClientTls {
            config: Arc::new(config),
            ..self
        })
    }

    /// Check the server's certificate against `name` instead of the address's host.
    pub fn server_name(mut self, name: impl Into<String>) -> ClientTls {
        self.server_name = Some(name.into());
        self
    }

    /// Use a rustls configuration built elsewhere (ALPN is set per transport).
    pub fn from_rustls(config: Arc<rustls::ClientConfig>) -> ClientTls {
        ClientTls {
            roots: Arc::new(RootCertStore::empty()),
            config,
            server_name: None,
        }
    }

    /// The name to verify: the override, else the address's host.
    pub(crate) fn name_for(&self, host: &str) -> io::Result<ServerName<'static>> {
        let name = self.server_name.as_deref().unwrap_or(host);
        ServerName::try_from(name.to_owned())
            .map_err(|e| bad_input(&format!("{name:?} is not a valid TLS server name"), e))
    }

    /// The rustls configuration with `alpn` as the only protocol.
    pub(crate) fn config(&self, alpn: &[u8]) -> Arc<rustls::ClientConfig> {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![alpn.to_vec()];
        Arc::new(config)
    }
}

/// The ALPN protocol id of erpc over TLS and QUIC.
pub const ALPN: &[u8] = b"erpc/1";

/// The options' client TLS, or a clear error for a client that has none.
pub(crate) fn client_tls<'a>(
    options: &'a crate::Options,
    scheme: &str,
) -> io::Result<&'a ClientTls> {
    required(
        options.client_tls.as_ref(),
        &format!("{scheme}:// needs TLS settings"),
        "give the client the CA it trusts (ClientTls::trust_pem)",
    )
}

/// The options' server TLS, or a clear error for a listener that has none.
pub(crate) fn server_tls<'a>(
    options: &'a crate::Options,
    scheme: &str,
) -> io::Result<&'a ServerTls> {
    required(
        options.server_tls.as_ref(),
        &format!("{scheme}:// needs a certificate"),
        "give the server one (ServerTls::from_pem, or ServerTls::self_signed for development)",
    )
}

fn required<'a, T>(setting: Option<&'a T>, what: &str, how: &str) -> io::Result<&'a T> {
    setting.ok_or_else(|| bad_input(what, how))
}

/// What to do about a certificate failure, keyed by the names rustls gives the cases (QUIC
/// reports them inside a transport error's text, so the names are what both paths share).
pub(crate) fn hint(error_text: &str) -> &'static str {
    // Each case by its Debug name (rustls) and its Display text (QUIC's transport errors).
    const HINTS: [(&[&str], &str); 4] = [
        (
            &["UnknownIssuer"],
            "the certificate is not signed by a CA this side trusts (wrong CA?)",
        ),
        (&["Expired", "expired"], "the certificate has expired"),
        (
            &["NotValidForName", "not valid for name"],
            "the certificate is not valid for the name dialled (set ClientTls::server_name?)",
        ),
        (
            &["NoCertificatesPresented", "no certificates presented"],
            "the peer presented no certificate",
        ),
    ];
    HINTS
        .iter()
        .find(|(names, _)| names.iter().any(|n| error_text.contains(n)))
        .map_or("", |(_, hint)| hint)
}

/// Say plainly why a handshake failed: rustls's certificate errors name the case but not
/// what to do about it.
pub(crate) fn explain(e: io::Error, peer: &str) -> io::Error {
    // Matched on the Debug form, which names the case; shown in the Display form.
    let (text, hint) = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(tls) => (tls.to_string(), hint(&format!("{tls:?}"))),
        None => (e.to_string(), ""),
    };
    let sep = if hint.is_empty() { "" } else { " — " };
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("TLS handshake with {peer} failed: {text}{sep}{hint}"),
    )
}

/// The chain a peer presented in its handshake, as [`Link::peer_certificates`] holds it.
pub(crate) fn certificates(chain: Option<&[CertificateDer<'_>]>) -> Vec<bytes::Bytes> {
    chain
        .unwrap_or_default()
        .iter()
        .map(|der| bytes::Bytes::copy_from_slice(der))
        .collect()
}

/// Accept TLS on a TCP connection.
pub(crate) async fn accept(
    tls: &ServerTls,
    alpn: &[u8],
    tcp: TcpStream,
    peer: SocketAddr,
) -> io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
    let _ = tcp.set_nodelay(true);
    tokio_rustls::TlsAcceptor::from(tls.config(alpn))
        .accept(tcp)
        .await
        .map_err(|e| explain(e, &peer.to_string()))
}

/// Dial `hostport` over TCP and run the client handshake, checking the certificate against
/// `host`.
pub(crate) async fn dial(
    tls: &ClientTls,
    alpn: &[u8],
    hostport: &str,
    host: &str,
    timeout: Duration,
) -> io::Result<(tokio_rustls::client::TlsStream<TcpStream>, SocketAddr)> {
    let (tcp, peer) = crate::tcp::dial(hostport).await?;
    let name = tls.name_for(host)?;
    let stream = crate::handshake::within(timeout, "TLS handshake", async {
        tokio_rustls::TlsConnector::from(tls.config(alpn))
            .connect(name, tcp)
            .await
            .map_err(|e| explain(e, hostport))
    })
    .await?;
    Ok((stream, peer))
}

/// `tls://`: dial.
pub(crate) async fn connect(
    hostport: &str,
    host: &str,
    options: &crate::Options,
) -> io::Result<Link> {
    let tls = client_tls(options, "tls")?;
    let (stream, peer) = dial(tls, ALPN, hostport, host, options.handshake_timeout).await?;
    let certificates = certificates(stream.get_ref().1.peer_certificates());
    let mut link = Link::new(Box::new(stream), PeerAddr::Tls(peer));
    link.peer_certificates = certificates;
    Ok(link)
}

/// `tls://`: accept TCP and run TLS handshakes under the deadline.
pub(crate) fn listen(
    tcp: tokio::net::TcpListener,
    tls: ServerTls,
    options: &crate::Options,
) -> crate::handshake::Handshaken {
    use futures_util::FutureExt;
    let handshake = move |(stream, peer): (TcpStream, SocketAddr)| {
        let tls = tls.clone();
        async move {
            let stream = accept(&tls, ALPN, stream, peer).await?;
            let certificates = certificates(stream.get_ref().1.peer_certificates());
            let mut link = Link::new(Box::new(stream), PeerAddr::Tls(peer));
            link.peer_certificates = certificates;
            Ok(link)
        }
        .boxed()
    };
    crate::handshake::Handshaken::spawn_tcp(tcp, handshake, options.handshake_timeout)
}
