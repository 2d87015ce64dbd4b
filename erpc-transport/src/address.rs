//! Transport addresses as URLs: `tcp://host:port`, `unix:///path`, `mem://name`,
//! `tls://host:port`, `ws://host:port/path`, `wss://host:port/path`, `quic://host:port`,
//! `udp://host:port`, `kcp://host:port`, and `scheme://anything` for a transport from outside
//! this crate once its connector is registered (see [`crate::custom`]).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where a server listens or a client connects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Address {
    /// `tcp://host:port`; the host may be a name, an IPv4 address or a bracketed IPv6 one.
    /// Port 0 binds a free port.
    Tcp(String),
    /// `unix:///absolute/path` or `unix://relative/path`.
    Unix(PathBuf),
    /// `mem://name`: an in-process transport, for tests and for users testing their services.
    Mem(String),
    /// `tls://host:port`: TLS over TCP.
    Tls(String),
    /// `ws://host:port/path`: WebSocket; the path defaults to `/`.
    Ws {
        /// `host:port`.
        hostport: String,
        /// The HTTP path of the upgrade request, starting with `/`.
        path: String,
    },
    /// `wss://host:port/path`: WebSocket over TLS.
    Wss {
        /// `host:port`.
        hostport: String,
        /// The HTTP path of the upgrade request, starting with `/`.
        path: String,
    },
    /// `quic://host:port`: QUIC, one stream per call.
    Quic(String),
    /// `udp://host:port`: one frame per datagram.
    Udp(String),
    /// `kcp://host:port`: KCP, reliable ordered delivery over UDP.
    Kcp(String),
    /// `scheme://rest`: a transport from outside this crate, dialled by the
    /// [`Connector`](crate::custom::Connector) registered for `scheme`. Made by
    /// [`Address::custom`], or by parsing where such a connector is registered
    /// ([`IntoAddress::into_address_with`]); plain [`str::parse`] refuses unknown schemes.
    Other {
        /// The URL scheme: a lowercase letter, then lowercase letters, digits, `+`, `-`, `.`.
        scheme: String,
        /// Everything after `://`, as given (never empty); its transport gives it meaning.
        rest: String,
    },
}

/// Every scheme this crate can parse (whether or not its feature is enabled).
pub const SCHEMES: &str = "tcp, unix, mem, tls, ws, wss, quic, udp, kcp";

/// The schemes of [`SCHEMES`] this build dials and serves by itself: those whose feature
/// is compiled in (`unix` on Unix only), in [`SCHEMES`]' order. The one list binaries name
/// when an address has a scheme they do not speak.
pub fn compiled_schemes() -> Vec<&'static str> {
    [
        ("tcp", cfg!(feature = "tcp")),
        ("unix", cfg!(all(feature = "unix", unix))),
        ("mem", cfg!(feature = "mem")),
        ("tls", cfg!(feature = "tls")),
        ("ws", cfg!(feature = "ws")),
        ("wss", cfg!(feature = "wss")),
        ("quic", cfg!(feature = "quic")),
        ("udp", cfg!(feature = "udp")),
        ("kcp", cfg!(feature = "kcp")),
    ]
    .into_iter()
    .filter_map(|(scheme, compiled)| compiled.then_some(scheme))
    .collect()
}

/// An address string that is not a URL erpc understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// No `scheme://` prefix.
    #[error("address {0:?} has no scheme: write it as tcp://host:port, unix:///path or mem://name")]
    NoScheme(String),
    /// A scheme this build does not know, and no connector or acceptor was given for.
    #[error(
        "unknown transport {scheme:?} in {address:?} (this build knows: {known}; a transport of your own needs its connector registered with ClientBuilder::connector, or its acceptor given to ServerBuilder::serve_with, its address built with Address::custom(scheme, rest))"
    )]
    UnknownScheme {
        /// The scheme found.
        scheme: String,
        /// The whole address.
        address: String,
        /// The schemes this build supports.
        known: &'static str,
    },
    /// The part after the scheme is empty or malformed.
    #[error("invalid {scheme} address {address:?}: {reason}")]
    Invalid {
        /// The scheme.
        scheme: &'static str,
        /// The whole address.
        address: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl Address {
    /// The URL scheme of this address.
    pub fn scheme(&self) -> &str {
        match self {
            Address::Tcp(_) => "tcp",
            Address::Unix(_) => "unix",
            Address::Mem(_) => "mem",
            Address::Tls(_) => "tls",
            Address::Ws { .. } => "ws",
            Address::Wss { .. } => "wss",
            Address::Quic(_) => "quic",
            Address::Udp(_) => "udp",
            Address::Kcp(_) => "kcp",
            Address::Other { scheme, .. } => scheme,
        }
    }

    /// An address of a transport from outside this crate: `scheme://rest`. Fails with
    /// [`AddressError::Invalid`] if `scheme` is not a URL scheme (a lowercase letter, then
    /// lowercase letters, digits, `+`, `-` or `.`) or is one of this crate's own
    /// ([`SCHEMES`]: parse those instead), or if `rest` is empty.
    pub fn custom(scheme: &str, rest: &str) -> Result<Address, AddressError> {
        let invalid = |reason| AddressError::Invalid {
            scheme: "custom",
            address: format!("{scheme}://{rest}"),
            reason,
        };
        let mut chars = scheme.chars();
        let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.')
            });
        if !well_formed {
            return Err(invalid(
                "a scheme is a lowercase letter, then lowercase letters, digits, '+', '-' or '.'",
            ));
        }
        if SCHEMES.split(", ").any(|own| own == scheme) {
            return Err(invalid("the scheme is a built-in transport's"));
        }
        if rest.is_empty() {
            return Err(invalid("nothing after the scheme"));
        }
        Ok(Address::Other {
            scheme: scheme.to_owned(),
            rest: rest.to_owned(),
        })
    }

    /// `host:port` of a network address (`None` for unix, mem and custom transports).
    pub fn hostport(&self) -> Option<&str> {
        match self {
            Address::Tcp(hp)
            | Address::Tls(hp)
            | Address::Quic(hp)
            | Address::Udp(hp)
            | Address::Kcp(hp)
            | Address::Ws { hostport: hp, .. }
            | Address::Wss { hostport: hp, .. } => Some(hp),
            Address::Unix(_) | Address::Mem(_) | Address::Other { .. } => None,
        }
    }

    /// The host part of a network address, without IPv6 brackets: the name a TLS
    /// certificate is checked against.
    pub fn host(&self) -> Option<&str> {
        let hp = self.hostport()?;
        let host = hp.rsplit_once(':').map_or(hp, |(h, _)| h);
        Some(host.trim_start_matches('[').trim_end_matches(']'))
    }

    /// The same address with another `host:port` (the real port once port 0 is bound).
    pub fn with_hostport(&self, new: String) -> Address {
        match self {
            Address::Tcp(_) => Address::Tcp(new),
            Address::Tls(_) => Address::Tls(new),
            Address::Quic(_) => Address::Quic(new),
            Address::Udp(_) => Address::Udp(new),
            Address::Kcp(_) => Address::Kcp(new),
            Address::Ws { path, .. } => Address::Ws {
                hostport: new,
                path: path.clone(),
            },
            Address::Wss { path, .. } => Address::Wss {
                hostport: new,
                path: path.clone(),
            },
            other => other.clone(),
        }
    }
}

/// The first socket address `host:port` resolves to.
#[cfg_attr(
    not(any(feature = "quic", feature = "udp", feature = "kcp")),
    allow(dead_code)
)]
pub(crate) async fn resolve(hostport: &str) -> std::io::Result<std::net::SocketAddr> {
    tokio::net::lookup_host(hostport)
        .await?
        .next()
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{hostport} resolves to no address"),
            )
        })
}

/// The any-address of `peer`'s family with port 0: where a client's UDP socket binds.
#[cfg_attr(not(any(feature = "quic", feature = "udp")), allow(dead_code))]
pub(crate) fn wildcard_for(peer: std::net::SocketAddr) -> std::net::SocketAddr {
    use std::net::{Ipv4Addr, Ipv6Addr};
    match peer {
        std::net::SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        std::net::SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

/// Check `host:port` (the port may be 0).
fn parse_hostport(rest: &str) -> Result<String, &'static str> {
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Err("expected host:port");
    };
    if host.is_empty() {
        return Err("empty host");
    }
    if port.parse::<u16>().is_err() {
        return Err("port is not a number from 0 to 65535");
    }
    Ok(rest.to_owned())
}

/// Split `host:port/path` into `host:port` and a path (default `/`).
fn parse_ws(rest: &str) -> Result<(String, String), &'static str> {
    let (hp, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Ok((parse_hostport(hp)?, path.to_owned()))
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(AddressError::NoScheme(s.to_owned()));
        };
        let invalid = |scheme, reason| AddressError::Invalid {
            scheme,
            address: s.to_owned(),
            reason,
        };
        match scheme {
            "tcp" | "tls" | "quic" | "udp" | "kcp" => {
                let scheme: &'static str = match scheme {
                    "tcp" => "tcp",
                    "tls" => "tls",
                    "quic" => "quic",
                    "udp" => "udp",
                    _ => "kcp",
                };
                let hp = parse_hostport(rest.trim_end_matches('/'))
                    .map_err(|reason| invalid(scheme, reason))?;
                Ok(match scheme {
                    "tcp" => Address::Tcp(hp),
                    "tls" => Address::Tls(hp),
                    "quic" => Address::Quic(hp),
                    "udp" => Address::Udp(hp),
                    _ => Address::Kcp(hp),
                })
            }
            "ws" => {
                let (hostport, path) = parse_ws(rest).map_err(|reason| invalid("ws", reason))?;
                Ok(Address::Ws { hostport, path })
            }
            "wss" => {
                let (hostport, path) = parse_ws(rest).map_err(|reason| invalid("wss", reason))?;
                Ok(Address::Wss { hostport, path })
            }
            "unix" => {
                if rest.is_empty() {
                    return Err(invalid("unix", "empty path"));
                }
                Ok(Address::Unix(PathBuf::from(rest)))
            }
            "mem" => {
                if rest.is_empty() {
                    return Err(invalid("mem", "empty name"));
                }
                Ok(Address::Mem(rest.to_owned()))
            }
            other => Err(AddressError::UnknownScheme {
                scheme: other.to_owned(),
                address: s.to_owned(),
                known: SCHEMES,
            }),
        }
    }
}

impl TryFrom<&str> for Address {
    type Error = AddressError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl TryFrom<String> for Address {
    type Error = AddressError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl TryFrom<&String> for Address {
    type Error = AddressError;
    fn try_from(s: &String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl TryFrom<&Address> for Address {
    type Error = AddressError;
    fn try_from(a: &Address) -> Result<Self, Self::Error> {
        Ok(a.clone())
    }
}

/// Anything an address-taking API accepts: an [`Address`] (owned or borrowed) or a string
/// to parse (`&str`, `String`, `&String`). One bound for every such API, so owned and
/// borrowed addresses and strings work alike (`TryInto<Address>` refused an owned
/// `Address`: its blanket conversion's error type is `Infallible`).
pub trait IntoAddress {
    /// The address, or why the string is not one.
    fn into_address(self) -> Result<Address, AddressError>;

    /// Like [`IntoAddress::into_address`], but a string whose scheme is not this crate's and
    /// for which `custom(scheme)` is true becomes an [`Address::Other`] instead of failing
    /// with [`AddressError::UnknownScheme`]: how a client with connectors of its own reads
    /// addresses.
    fn into_address_with(self, custom: &dyn Fn(&str) -> bool) -> Result<Address, AddressError>
    where
        Self: Sized,
    {
        match self.into_address() {
            Err(AddressError::UnknownScheme {
                scheme, address, ..
            }) if custom(&scheme) => Address::custom(&scheme, &address[scheme.len() + 3..]),
            parsed => parsed,
        }
    }
}

impl IntoAddress for Address {
    fn into_address(self) -> Result<Address, AddressError> {
        Ok(self)
    }
}

impl IntoAddress for &Address {
    fn into_address(self) -> Result<Address, AddressError> {
        Ok(self.clone())
    }
}

impl IntoAddress for &str {
    fn into_address(self) -> Result<Address, AddressError> {
        self.parse()
    }
}

impl IntoAddress for String {
    fn into_address(self) -> Result<Address, AddressError> {
        self.parse()
    }
}

impl IntoAddress for &String {
    fn into_address(self) -> Result<Address, AddressError> {
        self.parse()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(hp) => write!(f, "tcp://{hp}"),
            Address::Unix(p) => write!(f, "unix://{}", p.display()),
            Address::Mem(n) => write!(f, "mem://{n}"),
            Address::Tls(hp) => write!(f, "tls://{hp}"),
            Address::Ws { hostport, path } => write!(f, "ws://{hostport}{path}"),
            Address::Wss { hostport, path } => write!(f, "wss://{hostport}{path}"),
            Address::Quic(hp) => write!(f, "quic://{hp}"),
            Address::Udp(hp) => write!(f, "udp://{hp}"),
            Address::Kcp(hp) => write!(f, "kcp://{hp}"),
            Address::Other { scheme, rest } => write!(f, "{scheme}://{rest}"),
        }
    }
}

/// The schemes whose connections are TLS (QUIC carries TLS 1.3 itself).
const TLS_SCHEMES: [&str; 3] = ["tls://", "wss://", "quic://"];

/// Whether connections to `addr` (an address as written, `tls://host:port`) are TLS:
/// `tls://`, `wss://` and `quic://`. Known without any TLS feature compiled in, so a program
/// can say which settings a TLS address needs before it has them.
pub fn is_tls(addr: &str) -> bool {
    TLS_SCHEMES.iter().any(|s| addr.starts_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        for s in [
            "tcp://127.0.0.1:7000",
            "tcp://[::1]:0",
            "tcp://localhost:80",
            "unix:///tmp/x.sock",
            "mem://name",
            "tls://localhost:7443",
            "ws://127.0.0.1:80/",
            "wss://h:443/erpc/v1",
            "quic://[::1]:4433",
            "udp://127.0.0.1:0",
            "kcp://127.0.0.1:9",
        ] {
            let a: Address = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        assert_eq!(
            "unix:///tmp/x.sock".parse::<Address>().unwrap(),
            Address::Unix("/tmp/x.sock".into())
        );
        let ws: Address = "ws://h:1".parse().unwrap();
        assert_eq!(ws.to_string(), "ws://h:1/");
        assert_eq!(
            "quic://[::1]:5".parse::<Address>().unwrap().host(),
            Some("::1")
        );
    }

    #[test]
    fn rejects_bad_addresses_with_clear_errors() {
        for (s, needle) in [
            ("127.0.0.1:7000", "no scheme"),
            ("http://x:1", "unknown transport"),
            ("tcp://x", "host:port"),
            ("tcp://:1", "empty host"),
            ("tcp://x:99999", "port"),
            ("unix://", "empty path"),
            ("mem://", "empty name"),
            ("ws://:1/x", "empty host"),
            ("quic://q", "host:port"),
        ] {
            let err = s.parse::<Address>().unwrap_err().to_string();
            assert!(err.contains(needle), "{s}: {err}");
        }
    }

    #[test]
    fn a_custom_scheme_parses_only_where_a_connector_takes_it() {
        let plain = "mytcp://127.0.0.1:9"
            .into_address()
            .unwrap_err()
            .to_string();
        assert!(plain.contains("unknown transport") && plain.contains("ClientBuilder::connector"));
        let mine = |scheme: &str| scheme == "mytcp";
        let custom = "mytcp://127.0.0.1:9".into_address_with(&mine).unwrap();
        assert_eq!(
            custom,
            Address::Other {
                scheme: "mytcp".into(),
                rest: "127.0.0.1:9".into()
            }
        );
        assert_eq!(custom.to_string(), "mytcp://127.0.0.1:9");
        assert_eq!(custom.scheme(), "mytcp");
        // Other schemes still fail; built-in ones still parse as themselves.
        assert!("other://x".into_address_with(&mine).is_err());
        assert_eq!(
            "tcp://h:1".into_address_with(&mine).unwrap(),
            Address::Tcp("h:1".into())
        );
        for (scheme, rest, needle) in [
            ("My", "x", "lowercase letter"),
            ("1x", "x", "lowercase letter"),
            ("tcp", "h:1", "built-in"),
            ("mytcp", "", "nothing after"),
        ] {
            let err = Address::custom(scheme, rest).unwrap_err().to_string();
            assert!(err.contains(needle), "{scheme}://{rest}: {err}");
        }
    }
}
