//! `server.auth:` — who may call: bearer tokens listed in a file, or JWTs (feature `jwt`),
//! which methods require a credential, and a per-method ACL; read into erpc-core's
//! `auth::Authenticate` and `auth::Acl` admission hooks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use erpc_core::auth::{Acl, Authenticate, BearerTokens, IpNet, Principal, Rule};
use serde::Deserialize;

use crate::error::ConfigError;
use crate::error::entry_at;
use crate::per_method::PerMethodSettings;

/// Authentication and authorization. Default: none (every call admitted).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Bearer tokens from a file. Default none.
    pub bearer: Option<BearerSettings>,
    /// JSON Web Tokens (feature `jwt`). Default none.
    pub jwt: Option<JwtSettings>,
    /// Which methods require a credential (with `bearer` or `jwt`). Default: all.
    pub required: PerMethodSettings<bool>,
    /// Allow and deny rules per method. Default none (every authenticated call admitted).
    pub acl: Option<AclSettings>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            bearer: None,
            jwt: None,
            required: PerMethodSettings {
                default: true,
                methods: Default::default(),
            },
            acl: None,
        }
    }
}

/// `bearer: {file: PATH}` — one token a line: `TOKEN SUBJECT [ROLE,ROLE...]`; blank lines
/// and lines starting with `#` are skipped. Tokens are compared in constant time; give them
/// all the same length (32 characters or more).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearerSettings {
    /// The tokens file.
    pub file: PathBuf,
}

/// `jwt:` — keys and the claims checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// Verification keys (at least one).
    pub keys: Vec<JwtKeySettings>,
    /// Accepted issuers (`iss`); empty: not checked. Default empty.
    #[serde(default)]
    pub issuers: Vec<String>,
    /// Accepted audiences (`aud`); empty: not checked. Default empty.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`. Default `30s`.
    #[serde(default, with = "humantime_serde")]
    pub leeway: Option<Duration>,
    /// The claim roles are read from. Default `roles`.
    #[serde(default)]
    pub roles_claim: Option<String>,
}

/// One JWT key: its algorithm and a file (the HS256 secret's bytes, or a PEM public key).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeySettings {
    /// `hs256`, `rs256` or `es256`.
    pub alg: JwtAlg,
    /// The secret (hs256) or the PEM public key (rs256, es256).
    pub file: PathBuf,
    /// The key id tokens name in their `kid` header; none: the key for tokens without one.
    #[serde(default)]
    pub kid: Option<String>,
}

/// A JWT signature algorithm: `hs256`, `rs256` or `es256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlg {
    /// HMAC-SHA256.
    Hs256,
    /// RSA PKCS#1 v1.5 SHA-256.
    Rs256,
    /// ECDSA P-256 SHA-256.
    Es256,
}

/// `acl:` — rules per method, and what happens to a call no rule applies to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclSettings {
    /// `deny` (refuse calls no rule allows) or `allow`.
    pub default: EffectName,
    /// Rules per method, tried in order; the first that applies decides.
    #[serde(default)]
    pub rules: PerMethodSettings<Vec<RuleSettings>>,
}

/// `allow` or `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffectName {
    /// Admit.
    Allow,
    /// Refuse `permission_denied`.
    Deny,
}

// Names read as strings, not as the `config` crate's enums (which would take `{allow: 3}` as
// `allow`).
crate::common::named!(EffectName {
    Allow = "allow",
    Deny = "deny",
});

crate::common::named!(JwtAlg {
    Hs256 = "hs256",
    Rs256 = "rs256",
    Es256 = "es256",
});

/// One rule: it applies to a call that meets every condition given (none: every call).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    /// Quoted in refusals.
    pub name: String,
    /// `allow` or `deny`.
    pub effect: EffectName,
    /// The caller presented an accepted credential.
    #[serde(default)]
    pub authenticated: bool,
    /// The principal's subject is this.
    #[serde(default)]
    pub subject: Option<String>,
    /// The principal has this role.
    #[serde(default)]
    pub role: Option<String>,
    /// The mTLS client certificate has this name (subject CN or a SAN).
    #[serde(default)]
    pub cert_name: Option<String>,
    /// The peer's address is in this network (`10.0.0.0/8`, `::1/128`).
    #[serde(default)]
    pub peer: Option<String>,
}

impl AuthSettings {
    pub(crate) fn check(&self, at: &str) -> Result<(), (String, String)> {
        if self.bearer.is_some() && self.jwt.is_some() {
            return Err((at.to_owned(), "choose bearer or jwt, not both".into()));
        }
        if let Some(jwt) = &self.jwt {
            #[cfg(not(feature = "jwt"))]
            {
                let _ = jwt;
                return Err((
                    format!("{at}.jwt"),
                    "this build of erpc-config has no JWT: enable its feature `jwt`".into(),
                ));
            }
            #[cfg(feature = "jwt")]
            if jwt.keys.is_empty() {
                return Err((format!("{at}.jwt.keys"), "needs at least one key".into()));
            }
        }
        self.required
            .check(&format!("{at}.required"), |_, _| Ok(()))?;
        if let Some(acl) = &self.acl {
            acl.rules.check(&format!("{at}.acl.rules"), |rules, key| {
                for (i, rule) in rules.iter().enumerate() {
                    rule.network(&entry_at(key, i))?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// The tokens or JWT keys files can be read and hold what they should.
    pub(crate) fn check_files(&self) -> Result<(), ConfigError> {
        if let Some(bearer) = &self.bearer {
            tokens_file(&bearer.file)?;
        }
        #[cfg(feature = "jwt")]
        if let Some(jwt) = &self.jwt {
            jwt.jwt()?;
        }
        Ok(())
    }

    /// The authentication hook, if `bearer` or `jwt` is set (files read now).
    ///
    /// # Errors
    /// [`ConfigError::Key`] naming the key whose file cannot be read or has a bad line.
    pub fn authenticate(
        &self,
    ) -> Result<Option<Box<dyn erpc_core::server::Admission>>, ConfigError> {
        let required = self
            .required
            .to_per_method("server.auth.required", |b, _| Ok::<_, ConfigError>(*b))?;
        if let Some(bearer) = &self.bearer {
            let tokens = tokens_file(&bearer.file)?;
            return Ok(Some(Box::new(Authenticate::new(tokens).required(required))));
        }
        #[cfg(feature = "jwt")]
        if let Some(jwt) = &self.jwt {
            return Ok(Some(Box::new(
                Authenticate::new(jwt.jwt()?).required(required),
            )));
        }
        Ok(None)
    }

    /// The ACL hook, if `acl` is set.
    ///
    /// # Errors
    /// [`ConfigError::Key`] for a rule's bad `peer` network.
    pub fn acl(&self) -> Result<Option<Acl>, ConfigError> {
        let Some(acl) = &self.acl else {
            return Ok(None);
        };
        let rules = acl
            .rules
            .to_per_method("server.auth.acl.rules", |rules, key| {
                (rules.iter().enumerate())
                    .map(|(i, r)| r.rule(&entry_at(key, i)))
                    .collect::<Result<Vec<_>, _>>()
            })?;
        Ok(Some(match acl.default {
            EffectName::Deny => Acl::default_deny(rules),
            EffectName::Allow => Acl::default_allow(rules),
        }))
    }
}

impl RuleSettings {
    /// The rule's `peer` network, if it has one; `at` is the rule's own key.
    fn network(&self, at: &str) -> Result<Option<IpNet>, (String, String)> {
        let Some(peer) = &self.peer else {
            return Ok(None);
        };
        peer.parse::<IpNet>().map(Some).map_err(|e| {
            (
                format!("{at}.peer"),
                format!(
                    "rule {:?}: {peer:?}: {e}; expected a CIDR network such as 10.0.0.0/8",
                    self.name
                ),
            )
        })
    }

    /// The rule; `key` is its own key (`…rules.default[0]`).
    fn rule(&self, key: &str) -> Result<Rule, ConfigError> {
        let mut rule = match self.effect {
            EffectName::Allow => Rule::allow(self.name.clone()),
            EffectName::Deny => Rule::deny(self.name.clone()),
        };
        if self.authenticated {
            rule = rule.authenticated();
        }
        if let Some(subject) = &self.subject {
            rule = rule.subject(subject.clone());
        }
        if let Some(role) = &self.role {
            rule = rule.role(role.clone());
        }
        if let Some(name) = &self.cert_name {
            rule = rule.cert_name(name.clone());
        }
        if let Some(net) = self.network(key)? {
            rule = rule.peer(net);
        }
        Ok(rule)
    }
}

/// A file's error at `line` (1-based), naming the file.
fn file_error(file: &Path, line: Option<usize>, key: &str, reason: String) -> ConfigError {
    ConfigError::Key {
        file: Some(file.to_owned()),
        line,
        env: None,
        key: key.to_owned(),
        reason,
    }
}

/// The tokens of a tokens file (see [`BearerSettings`]).
fn tokens_file(path: &Path) -> Result<BearerTokens, ConfigError> {
    let key = "server.auth.bearer.file";
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::from((
            key.to_owned(),
            format!("{}: cannot be read: {e}", path.display()),
        ))
    })?;
    let mut tokens = BearerTokens::new();
    let mut count = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(token), Some(subject)) = (parts.next(), parts.next()) else {
            return Err(file_error(
                path,
                Some(i + 1),
                key,
                "expected `TOKEN SUBJECT [ROLE,ROLE...]`".into(),
            ));
        };
        let roles: Vec<&str> = parts
            .next()
            .map(|r| r.split(',').filter(|r| !r.is_empty()).collect())
            .unwrap_or_default();
        if parts.next().is_some() {
            return Err(file_error(
                path,
                Some(i + 1),
                key,
                "expected `TOKEN SUBJECT [ROLE,ROLE...]`: roles are one comma-separated word"
                    .into(),
            ));
        }
        tokens = tokens.token(token, Principal::new(subject).with_roles(roles));
        count += 1;
    }
    if count == 0 {
        let reason = format!("{}: holds no token", path.display());
        return Err(ConfigError::from((key.to_owned(), reason)));
    }
    Ok(tokens)
}

#[cfg(feature = "jwt")]
impl JwtSettings {
    /// The `Jwt` authenticator these settings describe (key files read now).
    ///
    /// # Errors
    /// [`ConfigError::Key`] naming `server.auth.jwt.keys[INDEX].file`, the key's kid and its
    /// file, for a key file that cannot be read or parsed (checked when the settings are
    /// loaded too, where the error has the key's line).
    pub fn jwt(&self) -> Result<erpc_core::auth::Jwt, ConfigError> {
        use erpc_core::auth::{Jwt, JwtKey, JwtKeys};
        let keys = JwtKeys::new();
        for (i, spec) in self.keys.iter().enumerate() {
            let kid = spec.kid.as_deref().unwrap_or("(default)");
            let at = format!("{}.file", entry_at("server.auth.jwt.keys", i));
            let file = spec.file.display();
            let key_err = |reason: String| {
                ConfigError::from((at.clone(), format!("key {kid:?}: {file}: {reason}")))
            };
            let bytes =
                std::fs::read(&spec.file).map_err(|e| key_err(format!("cannot be read: {e}")))?;
            let key = match spec.alg {
                JwtAlg::Hs256 => JwtKey::hs256(&bytes).map_err(|e| key_err(e.to_string()))?,
                JwtAlg::Rs256 => JwtKey::rs256_pem(&bytes).map_err(|e| key_err(e.to_string()))?,
                JwtAlg::Es256 => JwtKey::es256_pem(&bytes).map_err(|e| key_err(e.to_string()))?,
            };
            match &spec.kid {
                Some(kid) => keys.insert(kid.clone(), key),
                None => keys.insert_default(key),
            }
        }
        let mut jwt = Jwt::new(keys);
        for issuer in &self.issuers {
            jwt = jwt.issuer(issuer.clone());
        }
        for audience in &self.audiences {
            jwt = jwt.audience(audience.clone());
        }
        if let Some(leeway) = self.leeway {
            jwt = jwt.leeway(leeway);
        }
        if let Some(claim) = &self.roles_claim {
            jwt = jwt.roles_claim(claim.clone());
        }
        Ok(jwt)
    }
}

/// `client.credentials: {token_file: PATH}` — a bearer token sent on every call, read from a
/// file (its whole text, trimmed): read when the settings are loaded and when the client is
/// built (a missing or empty file is an error then, naming the key's line), and again after a call is refused `unauthenticated`, so a rotated
/// token is picked up without a restart.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsSettings {
    /// The token file.
    pub token_file: PathBuf,
}

impl CredentialsSettings {
    /// Whether the token file holds a token now.
    ///
    /// # Errors
    /// [`ConfigError::Key`] naming `key` and the file when it cannot be read or is empty.
    pub fn check_file(&self, key: &str) -> Result<(), ConfigError> {
        read_token(&self.token_file)
            .map(drop)
            .map_err(|reason| ConfigError::from((key.to_owned(), reason)))
    }

    /// The `Credentials` middleware these settings describe: the file is read for the first
    /// call and after each `unauthenticated` answer; while it cannot be read, calls fail
    /// `unauthenticated` naming it.
    pub fn credentials(&self) -> erpc_core::auth::Credentials {
        let path = self.token_file.clone();
        erpc_core::auth::Credentials::new(move || {
            // A small local file, read once per refresh (not per call).
            let token = read_token(&path)
                .map(|t| erpc_core::auth::Token::new(t, None))
                .map_err(erpc_core::Status::unauthenticated);
            std::future::ready(token)
        })
    }
}

/// A token file's token, or why there is none.
fn read_token(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("{}: holds no token", path.display()));
    }
    Ok(token.to_owned())
}
