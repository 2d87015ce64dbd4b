//! [`Principal`]: who a call was authenticated as, for handlers and later hooks (ACLs).

/// Who a call was authenticated as: put in the call's extensions by
/// [`Authenticate`](crate::auth::Authenticate) and read with
/// [`Context::principal`](crate::Context::principal) in handlers and
/// [`CallHead::principal`](crate::server::CallHead::principal) in later header-level hooks
/// ([`Acl`](crate::auth::Acl)).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Principal {
    /// Who it is: a user or service name (a JWT's `sub`, the name a bearer token stands for).
    pub subject: String,
    /// The roles it holds (a JWT's `roles` claim by default), which ACL rules match on.
    pub roles: Vec<String>,
    /// Every claim of the credential as JSON (an object for a JWT; `null` for a bearer
    /// token), for handlers that need more than subject and roles (a tenant, a scope).
    pub claims: serde_json::Value,
}

impl Principal {
    /// `subject`, with no roles and no claims.
    pub fn new(subject: impl Into<String>) -> Principal {
        Principal {
            subject: subject.into(),
            ..Principal::default()
        }
    }

    /// The same principal holding `roles` too.
    pub fn with_roles<R: Into<String>>(mut self, roles: impl IntoIterator<Item = R>) -> Principal {
        self.roles.extend(roles.into_iter().map(Into::into));
        self
    }

    /// Whether it holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}
