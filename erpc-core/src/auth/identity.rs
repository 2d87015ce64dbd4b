//! [`PeerIdentity`]: who a mutual-TLS client is, read from the certificate it authenticated
//! with — once per connection, for every call's `Context` and for ACL rules.

use bytes::Bytes;

/// The identity in a TLS client's certificate (mutual TLS: `ServerTls::mutual`), already
/// verified against the client CA by the handshake. On `tls://`, `wss://` and `quic://`
/// with the `tls` feature; none on other transports or when the client sent no
/// certificate. Read with [`Context::peer_identity`](crate::Context::peer_identity) and
/// [`CallHead::peer_identity`](crate::server::CallHead::peer_identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The subject's distinguished name as RFC 4514 text, e.g. `CN=alice, O=Example`.
    pub subject: String,
    /// The subject's common name (`CN`), if it has one.
    pub common_name: Option<String>,
    /// The subject alternative names: DNS names, e-mail addresses, URIs (SPIFFE ids) as
    /// written, IP addresses in their usual text form.
    pub sans: Vec<String>,
    /// The certificate itself, DER-encoded (to pin it whole, or read more of it).
    pub certificate: Bytes,
}

impl PeerIdentity {
    /// Whether `name` is the common name or one of the SANs.
    pub fn has_name(&self, name: &str) -> bool {
        self.common_name.as_deref() == Some(name) || self.sans.iter().any(|san| san == name)
    }

    /// The identity in `der`, a certificate; an error naming what could not be parsed.
    #[cfg(feature = "tls")]
    pub fn from_der(der: Bytes) -> Result<PeerIdentity, String> {
        use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
        let (_, cert) =
            X509Certificate::from_der(&der).map_err(|e| format!("bad certificate: {e}"))?;
        let subject = cert.subject().to_string();
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);
        let mut sans = Vec::new();
        let extension = cert
            .subject_alternative_name()
            .map_err(|e| format!("bad subjectAltName extension: {e}"))?;
        for name in extension.iter().flat_map(|ext| &ext.value.general_names) {
            match name {
                GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                    sans.push((*s).to_owned())
                }
                GeneralName::IPAddress(ip) => {
                    let ip = match ip.len() {
                        4 => <[u8; 4]>::try_from(*ip).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*ip).ok().map(std::net::IpAddr::from),
                        _ => None,
                    };
                    sans.extend(ip.map(|ip| ip.to_string()));
                }
                _ => {}
            }
        }
        drop(cert);
        Ok(PeerIdentity {
            subject,
            common_name,
            sans,
            certificate: der,
        })
    }

    /// The identity of a peer that presented `chain` (its own certificate first), if it
    /// presented one; `None` (logged) for one that cannot be parsed, which the TLS handshake
    /// accepted but which then names no one.
    pub(crate) fn of_chain(chain: &[Bytes]) -> Option<PeerIdentity> {
        let _own = chain.first()?;
        #[cfg(feature = "tls")]
        {
            match PeerIdentity::from_der(_own.clone()) {
                Ok(identity) => Some(identity),
                Err(e) => {
                    tracing::warn!(error = %e, "peer certificate names no one: no peer identity");
                    None
                }
            }
        }
        #[cfg(not(feature = "tls"))]
        None
    }
}
