//! [`BearerTokens`]: a fixed set of opaque bearer tokens, each standing for a principal,
//! compared in constant time.

use subtle::ConstantTimeEq;

use crate::auth::{Authenticator, Principal};
use crate::server::CallHead;
use crate::status::Status;

/// A static set of bearer tokens (API keys), each standing for a [`Principal`]: an
/// [`Authenticator`] for [`Authenticate`](crate::auth::Authenticate). For tokens checked
/// some other way (a user table, a token service's cache), pass a function instead.
///
/// A presented token is compared with every token of the set, each in constant time (the
/// `subtle` crate) and without stopping at a match, so the time taken says nothing about
/// how much of a token was right. Lengths may show: give every token the same length (32
/// random bytes, encoded, say). An unknown token is refused `unauthenticated` ("unknown
/// bearer token"), without repeating it.
#[derive(Clone, Default)]
pub struct BearerTokens {
    tokens: Vec<(Vec<u8>, Principal)>,
}

impl std::fmt::Debug for BearerTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The tokens are secrets: only how many.
        f.debug_struct("BearerTokens")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

impl BearerTokens {
    /// No tokens: every call is refused until some are added.
    pub fn new() -> BearerTokens {
        BearerTokens::default()
    }

    /// Accept `token` as `principal`.
    pub fn token(mut self, token: impl Into<String>, principal: Principal) -> BearerTokens {
        self.tokens.push((token.into().into_bytes(), principal));
        self
    }
}

impl Authenticator for BearerTokens {
    fn authenticate(&self, token: &str, _call: &CallHead<'_>) -> Result<Principal, Status> {
        let mut found = None;
        for (known, principal) in &self.tokens {
            if bool::from(known.as_slice().ct_eq(token.as_bytes())) {
                found = Some(principal);
            }
        }
        found
            .cloned()
            .ok_or_else(|| Status::unauthenticated("unknown bearer token"))
    }
}
