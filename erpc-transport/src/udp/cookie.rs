//! Address-validation cookies: a keyed hash of the client's address and the current minute,
//! so the server can check them without remembering anything.
//!
//! The key is two random SipHash keys (std's `RandomState`, seeded from the operating system)
//! drawn when the listener starts: 128 bits of tag that an off-path attacker cannot forge for
//! an address whose traffic it cannot see. A cookie is valid in the epoch (60 s) it was made
//! and the next one, so it lives 60 to 120 s; the server sends a fresh one before it expires.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of a cookie.
pub(crate) const COOKIE_LEN: usize = 16;
/// Length of an epoch, in seconds.
const EPOCH_SECS: u64 = 60;

/// A cookie.
pub(crate) type Cookie = [u8; COOKIE_LEN];

/// The server's cookie key.
pub(crate) struct Cookies {
    keys: [RandomState; 2],
}

impl Cookies {
    pub(crate) fn new() -> Cookies {
        Cookies {
            keys: [RandomState::new(), RandomState::new()],
        }
    }

    /// The current epoch.
    pub(crate) fn epoch() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / EPOCH_SECS)
    }

    /// The cookie for `addr` in `epoch`.
    pub(crate) fn make(&self, addr: SocketAddr, epoch: u64) -> Cookie {
        let mut out = [0u8; COOKIE_LEN];
        for (key, half) in self.keys.iter().zip(out.chunks_mut(8)) {
            let mut h = key.build_hasher();
            addr.hash(&mut h);
            epoch.hash(&mut h);
            half.copy_from_slice(&h.finish().to_be_bytes());
        }
        out
    }

    /// The epoch `cookie` was made in for `addr`, if it is still valid.
    pub(crate) fn check(&self, addr: SocketAddr, cookie: &[u8]) -> Option<u64> {
        let now = Self::epoch();
        [now, now.saturating_sub(1)]
            .into_iter()
            .find(|&e| constant_time_eq(&self.make(addr, e), cookie))
    }
}

/// Compare without an early exit, so timing does not reveal how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_bound_to_its_address_and_key() {
        let cookies = Cookies::new();
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        let e = Cookies::epoch();
        let c = cookies.make(a, e);
        assert_eq!(cookies.check(a, &c), Some(e));
        assert_eq!(cookies.check(b, &c), None);
        assert_eq!(Cookies::new().check(a, &c), None);
        assert_eq!(cookies.check(a, &cookies.make(a, e - 1)), Some(e - 1));
        assert_eq!(cookies.check(a, &cookies.make(a, e - 2)), None);
        assert_eq!(cookies.check(a, &c[..8]), None);
    }
}
