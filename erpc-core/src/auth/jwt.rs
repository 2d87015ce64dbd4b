//! [`Jwt`]: JSON Web Tokens (RFC 7519) as bearer credentials — HS256, RS256 and ES256 —
//! with `exp`, `nbf`, `aud` and `iss` checked and keys chosen by `kid` from a set the
//! application updates while serving ([`JwtKeys`]). Needs the `jwt` feature.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::auth::{Authenticator, Principal};
use crate::server::CallHead;
use crate::status::Status;

/// One verification key and the one algorithm it may verify (a token's `alg` header must
/// name it: a token cannot pick a weaker algorithm for a key).
pub struct JwtKey {
    key: DecodingKey,
    algorithm: Algorithm,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// A key that could not be read: its PEM or its type is wrong.
#[derive(Debug, thiserror::Error)]
#[error("bad {algorithm} key: {reason}")]
pub struct JwtKeyError {
    algorithm: &'static str,
    reason: String,
}

/// The shortest HS256 secret accepted, in bytes: SHA-256's output size (RFC 7518 §3.2).
const HS256_MIN_SECRET: usize = 32;

impl JwtKey {
    /// An HMAC-SHA256 shared secret (HS256) of at least 32 bytes (RFC 7518 §3.2: a key of
    /// the hash's size or larger; make them random). Errors: a shorter secret.
    pub fn hs256(secret: &[u8]) -> Result<JwtKey, JwtKeyError> {
        if secret.len() < HS256_MIN_SECRET {
            return Err(JwtKeyError {
                algorithm: "HS256",
                reason: format!(
                    "a secret of {} bytes is too short: HS256 needs at least {HS256_MIN_SECRET} (RFC 7518 §3.2)",
                    secret.len()
                ),
            });
        }
        Ok(JwtKey {
            key: DecodingKey::from_secret(secret),
            algorithm: Algorithm::HS256,
        })
    }

    /// An RSA public key in PEM (PKCS#1 `RSA PUBLIC KEY` or SPKI `PUBLIC KEY`), for RS256.
    pub fn rs256_pem(pem: &[u8]) -> Result<JwtKey, JwtKeyError> {
        let key = DecodingKey::from_rsa_pem(pem).map_err(|e| JwtKeyError {
            algorithm: "RS256",
            reason: e.to_string(),
        })?;
        Ok(JwtKey {
            key,
            algorithm: Algorithm::RS256,
        })
    }

    /// A P-256 public key in PEM (SPKI `PUBLIC KEY`), for ES256.
    pub fn es256_pem(pem: &[u8]) -> Result<JwtKey, JwtKeyError> {
        let key = DecodingKey::from_ec_pem(pem).map_err(|e| JwtKeyError {
            algorithm: "ES256",
            reason: e.to_string(),
        })?;
        Ok(JwtKey {
            key,
            algorithm: Algorithm::ES256,
        })
    }
}

/// The keys a [`Jwt`] verifies with, by key id (`kid`): a cheap handle, cloned into the
/// verifier and kept by the application, which rotates keys through it while the server
/// runs — add the new key, start signing with it, remove the old one once its tokens have
/// expired. A token without `kid` is verified with the default key
/// ([`JwtKeys::insert_default`]).
#[derive(Clone, Default)]
pub struct JwtKeys(Arc<RwLock<HashMap<String, Arc<JwtKey>>>>);

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.0.read().unwrap_or_else(|p| p.into_inner());
        f.debug_set().entries(keys.keys()).finish()
    }
}

/// The key id under which the key for tokens without `kid` is kept.
const DEFAULT_KID: &str = "";

impl JwtKeys {
    /// No keys: every token is refused until some are added.
    pub fn new() -> JwtKeys {
        JwtKeys::default()
    }

    /// Verify tokens whose `kid` is `kid` with `key` (replacing any key of that id); takes
    /// effect for the next call.
    pub fn insert(&self, kid: impl Into<String>, key: JwtKey) {
        self.write().insert(kid.into(), Arc::new(key));
    }

    /// Verify tokens without a `kid` with `key`.
    pub fn insert_default(&self, key: JwtKey) {
        self.insert(DEFAULT_KID, key);
    }

    /// Stop accepting tokens signed with `kid`'s key; whether there was one.
    pub fn remove(&self, kid: &str) -> bool {
        self.write().remove(kid).is_some()
    }

    /// The key for `kid` (`None`: the default key).
    fn get(&self, kid: Option<&str>) -> Option<Arc<JwtKey>> {
        let keys = self.0.read().unwrap_or_else(|p| p.into_inner());
        keys.get(kid.unwrap_or(DEFAULT_KID)).cloned()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<JwtKey>>> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// JWT bearer tokens: an [`Authenticator`] for [`Authenticate`](crate::auth::Authenticate).
///
/// A token is accepted when its key id names a key of the [`JwtKeys`], its `alg` is that
/// key's algorithm, its signature verifies, it has an `exp` that has not passed, its `nbf`
/// (if any) has passed — both with [`Jwt::leeway`] for clock skew, default 30 s — its `iss`
/// is one of [`Jwt::issuer`]'s and its `aud` one of [`Jwt::audience`]'s (each checked, and
/// then required, when set), and it has a string `sub`. The [`Principal`] is `sub`, the
/// roles claim ([`Jwt::roles_claim`], default `roles`: an array of strings, or one string of
/// space-separated roles as OAuth's `scope`), and every claim as JSON.
///
/// Refusals are `unauthenticated` and say which check failed ("JWT expired", "JWT audience
/// is not accepted", "JWT key id \"k1\" is not known", ...), never the token.
#[derive(Debug, Clone)]
pub struct Jwt {
    keys: JwtKeys,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: Duration,
    roles_claim: String,
}

impl Jwt {
    /// Verify with `keys`; no issuer or audience checked until set; 30 s leeway; roles from
    /// the `roles` claim.
    pub fn new(keys: JwtKeys) -> Jwt {
        Jwt {
            keys,
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: Duration::from_secs(30),
            roles_claim: "roles".to_owned(),
        }
    }

    /// Accept tokens issued by `issuer` (`iss`); call again to accept several.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Jwt {
        self.issuers.push(issuer.into());
        self
    }

    /// Accept tokens meant for `audience` (`aud`); call again to accept several.
    pub fn audience(mut self, audience: impl Into<String>) -> Jwt {
        self.audiences.push(audience.into());
        self
    }

    /// Clock skew allowed on `exp` and `nbf` (whole seconds). Default 30 s.
    pub fn leeway(mut self, leeway: Duration) -> Jwt {
        self.leeway = leeway;
        self
    }

    /// The claim the roles are read from. Default `roles`.
    pub fn roles_claim(mut self, claim: impl Into<String>) -> Jwt {
        self.roles_claim = claim.into();
        self
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        if self.issuers.is_empty() {
            validation.iss = None;
        } else {
            validation.set_issuer(&self.issuers);
            required.push("iss");
        }
        if self.audiences.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.audiences);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        validation
    }
}

impl Authenticator for Jwt {
    fn authenticate(&self, token: &str, _call: &CallHead<'_>) -> Result<Principal, Status> {
        let header = jsonwebtoken::decode_header(token).map_err(refusal)?;
        let kid = header.kid.as_deref();
        let key = self.keys.get(kid).ok_or_else(|| match kid {
            Some(kid) => Status::unauthenticated(format!("JWT key id {kid:?} is not known")),
            None => Status::unauthenticated("JWT has no key id (kid) and no default key is set"),
        })?;
        if header.alg != key.algorithm {
            return Err(Status::unauthenticated(format!(
                "JWT is signed with {:?} but its key is for {:?}",
                header.alg, key.algorithm
            )));
        }
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            token,
            &key.key,
            &self.validation(key.algorithm),
        )
        .map_err(refusal)?
        .claims;
        let Some(subject) = claims.get("sub").and_then(|s| s.as_str()) else {
            return Err(Status::unauthenticated("JWT has no string `sub` claim"));
        };
        let roles = match claims.get(&self.roles_claim) {
            Some(serde_json::Value::Array(roles)) => roles
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(roles)) => {
                roles.split_whitespace().map(str::to_owned).collect()
            }
            _ => Vec::new(),
        };
        Ok(Principal {
            subject: subject.to_owned(),
            roles,
            claims,
        })
    }
}

/// What was wrong with a token, as the `unauthenticated` refusal says it.
fn refusal(e: jsonwebtoken::errors::Error) -> Status {
    let why = match e.kind() {
        ErrorKind::ExpiredSignature => "JWT expired (exp has passed)".to_owned(),
        ErrorKind::ImmatureSignature => "JWT is not valid yet (nbf is ahead)".to_owned(),
        ErrorKind::InvalidIssuer => "JWT issuer (iss) is not accepted".to_owned(),
        ErrorKind::InvalidAudience => "JWT audience (aud) is not accepted".to_owned(),
        ErrorKind::InvalidSignature => "JWT signature does not verify".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("JWT has no `{claim}` claim"),
        ErrorKind::InvalidAlgorithm => "JWT algorithm does not match its key".to_owned(),
        _ => format!("malformed JWT: {e}"),
    };
    Status::unauthenticated(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hs256_secret_under_32_bytes_is_refused() {
        let short = JwtKey::hs256(b"too short a secret").unwrap_err();
        assert!(
            short.to_string().contains("18 bytes is too short"),
            "{short}"
        );
        assert!(short.to_string().contains("at least 32"), "{short}");
        assert!(JwtKey::hs256(&[7; 32]).is_ok());
    }
}
