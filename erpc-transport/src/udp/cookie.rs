//! Address-validation cookies: the client's connection nonce, then a keyed hash of the
//! nonce, the client's address and the current minute, so the server can check them without
//! remembering anything.
//!
//! The nonce (chosen by the client in its HELLO, PROTOCOL.md §12.5) tells apart two clients
//! that use one address one after the other: a closed client's port goes to the next socket
//! that binds one, while the server still serves the closed client (UDP has no close).
//!
//! The key is two random SipHash keys (std's `RandomState`, seeded from the operating system)
//! drawn when the listener starts: 96 bits of tag that an off-path attacker cannot forge for
//! an address whose traffic it cannot see. A cookie is valid in the epoch (60 s) it was made
//! and the next one, so it lives 60 to 120 s; the server sends a fresh one before it expires.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of a cookie.
pub(crate) const COOKIE_LEN: usize = 16;
/// Length of the connection nonce a cookie starts with.
pub(crate) const NONCE_LEN: usize = 4;
/// Length of an epoch, in seconds.
const EPOCH_SECS: u64 = 60;

/// A cookie.
pub(crate) type Cookie = [u8; COOKIE_LEN];
/// A client's connection nonce.
pub(crate) type Nonce = [u8; NONCE_LEN];

/// The nonce `cookie` starts with (zero if it is too short to hold one).
pub(crate) fn nonce_of(cookie: &[u8]) -> Nonce {
    let mut nonce = [0u8; NONCE_LEN];
    if let Some(head) = cookie.get(..NONCE_LEN) {
        nonce.copy_from_slice(head);
    }
    nonce
}

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

    /// The cookie for connection `nonce` at `addr` in `epoch`.
    pub(crate) fn make(&self, addr: SocketAddr, epoch: u64, nonce: Nonce) -> Cookie {
        let mut out = [0u8; COOKIE_LEN];
        out[..NONCE_LEN].copy_from_slice(&nonce);
        let mut tag = [0u8; 16];
        for (key, half) in self.keys.iter().zip(tag.chunks_mut(8)) {
            let mut h = key.build_hasher();
            addr.hash(&mut h);
            epoch.hash(&mut h);
            nonce.hash(&mut h);
            half.copy_from_slice(&h.finish().to_be_bytes());
        }
        out[NONCE_LEN..].copy_from_slice(&tag[..COOKIE_LEN - NONCE_LEN]);
        out
    }

    /// The epoch `cookie` was made in for `addr`, and its nonce, if it is still valid.
    pub(crate) fn check(&self, addr: SocketAddr, cookie: &[u8]) -> Option<(u64, Nonce)> {
        let now = Self::epoch();
        let nonce = nonce_of(cookie);
        [now, now.saturating_sub(1)]
            .into_iter()
            .find(|&e| constant_time_eq(&self.make(addr, e, nonce), cookie))
            .map(|e| (e, nonce))
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
        let n = [1, 2, 3, 4];
        let c = cookies.make(a, e, n);
        assert_eq!(nonce_of(&c), n, "the nonce comes first");
        assert_eq!(cookies.check(a, &c), Some((e, n)));
        assert_eq!(cookies.check(b, &c), None);
        assert_eq!(Cookies::new().check(a, &c), None);
        assert_eq!(
            cookies.check(a, &cookies.make(a, e - 1, n)),
            Some((e - 1, n))
        );
        assert_eq!(cookies.check(a, &cookies.make(a, e - 2, n)), None);
        assert_eq!(cookies.check(a, &c[..8]), None);
        // Another nonce in front of this tag: forged.
        let mut other = c;
        other[0] ^= 1;
        assert_eq!(cookies.check(a, &other), None);
    }
}
