//! Transport addresses as URLs: `tcp://host:port`, `unix:///path`, `mem://name`.

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
}

/// An address string that is not a URL erpc understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// No `scheme://` prefix.
    #[error("address {0:?} has no scheme: write it as tcp://host:port, unix:///path or mem://name")]
    NoScheme(String),
    /// A scheme this build does not know.
    #[error("unknown transport {scheme:?} in {address:?} (this build knows: {known})")]
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
    pub fn scheme(&self) -> &'static str {
        match self {
            Address::Tcp(_) => "tcp",
            Address::Unix(_) => "unix",
            Address::Mem(_) => "mem",
        }
    }
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
            "tcp" => {
                let rest = rest.trim_end_matches('/');
                let Some((host, port)) = rest.rsplit_once(':') else {
                    return Err(invalid("tcp", "expected host:port"));
                };
                if host.is_empty() {
                    return Err(invalid("tcp", "empty host"));
                }
                if port.parse::<u16>().is_err() {
                    return Err(invalid("tcp", "port is not a number from 0 to 65535"));
                }
                Ok(Address::Tcp(rest.to_owned()))
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
                known: "tcp, unix, mem",
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

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(hp) => write!(f, "tcp://{hp}"),
            Address::Unix(p) => write!(f, "unix://{}", p.display()),
            Address::Mem(n) => write!(f, "mem://{n}"),
        }
    }
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
        ] {
            let a: Address = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        assert_eq!(
            "unix:///tmp/x.sock".parse::<Address>().unwrap(),
            Address::Unix("/tmp/x.sock".into())
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
        ] {
            let err = s.parse::<Address>().unwrap_err().to_string();
            assert!(err.contains(needle), "{s}: {err}");
        }
    }
}
