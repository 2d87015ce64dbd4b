//! A certificate authority for tests of TLS and mutual TLS: CAs and leaf certificates made
//! with rcgen, valid over whatever span of days a test needs (an expired one, say).

use erpc::transport::{ClientTls, ServerTls};
use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};

/// The names a test server's certificate is for.
pub const LOCAL: [&str; 2] = ["localhost", "127.0.0.1"];

/// A certificate authority for the tests.
pub struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf for `names`, valid from `from_days` to `to_days` relative to now: (cert, key).
    pub fn issue(&self, names: &[&str], from_days: i64, to_days: i64) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let subject = names.first().cloned();
        let mut params = CertificateParams::new(names).unwrap();
        // The subject names the holder too (CN=its first name), as a real CA's would.
        if let Some(name) = subject {
            params.distinguished_name.push(DnType::CommonName, name);
        }
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(from_days);
        params.not_after = now + time::Duration::days(to_days);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    pub fn server(&self, names: &[&str], from_days: i64, to_days: i64) -> ServerTls {
        let (cert, key) = self.issue(names, from_days, to_days);
        ServerTls::from_pem(cert.as_bytes(), key.as_bytes()).unwrap()
    }

    pub fn client(&self) -> ClientTls {
        ClientTls::trust_pem(self.pem().as_bytes()).unwrap()
    }

    /// Mutual TLS for a server: a certificate for [`LOCAL`] from this CA, and client
    /// certificates required from `clients`.
    pub fn mutual_server(&self, clients: &Ca) -> ServerTls {
        let (cert, key) = self.issue(&LOCAL, -1, 30);
        ServerTls::mutual(cert.as_bytes(), key.as_bytes(), clients.pem().as_bytes()).unwrap()
    }

    /// A client trusting this CA's servers that presents a certificate from `issuer` for
    /// `names`, valid from `from_days` to `to_days` relative to now.
    pub fn client_as(
        &self,
        issuer: &Ca,
        names: &[&str],
        from_days: i64,
        to_days: i64,
    ) -> ClientTls {
        let (cert, key) = issuer.issue(names, from_days, to_days);
        self.client()
            .identity(cert.as_bytes(), key.as_bytes())
            .unwrap()
    }
}
