//! [`Authenticate`]: the header-level hook that checks a call's credential (metadata
//! `authorization: Bearer <token>`, as gRPC sends it) with a pluggable [`Authenticator`], and
//! hands the [`Principal`] it stands for to the handler and to the hooks after it.

use crate::auth::Principal;
use crate::metadata::Metadata;
use crate::per_method::PerMethod;
use crate::server::{Admission, Admitted, CallHead};
use crate::status::Status;

/// The metadata key that carries a call's credential (PROTOCOL.md §5), as in gRPC and HTTP.
pub const AUTHORIZATION: &str = "authorization";

/// Checks a bearer token. Runs on the connection's read loop (see
/// [`Admission`]): quick, no I/O, no await — verify signatures, look up a set kept in
/// memory; fetch keys elsewhere and swap them in ([`JwtKeys`](crate::auth::JwtKeys)).
///
/// Any `Fn(&str, &CallHead) -> Result<Principal, Status>` is one.
pub trait Authenticator: Send + Sync + 'static {
    /// The principal `token` (the text after `Bearer `) stands for, or the refusal —
    /// `unauthenticated` naming what is wrong (expired, unknown, bad signature) without
    /// repeating the secret.
    fn authenticate(&self, token: &str, call: &CallHead<'_>) -> Result<Principal, Status>;
}

impl<F> Authenticator for F
where
    F: Fn(&str, &CallHead<'_>) -> Result<Principal, Status> + Send + Sync + 'static,
{
    fn authenticate(&self, token: &str, call: &CallHead<'_>) -> Result<Principal, Status> {
        self(token, call)
    }
}

/// A header-level hook ([`ServerBuilder::admission`](crate::ServerBuilder::admission)) that
/// admits a call only with a credential its [`Authenticator`] accepts, before the body is
/// decompressed or decoded and before a task is spawned.
///
/// The credential is metadata `authorization: Bearer <token>` (the scheme is matched
/// without regard to case). The accepted [`Principal`] goes into the call's extensions.
/// Refusals are `unauthenticated`: no `authorization` entry (on a method that requires one),
/// more than one, one that is not a Bearer token, an empty token, or the authenticator's
/// own refusal. A bad credential is refused even on a method that does not require one.
///
/// Default: every method requires a credential; [`Authenticate::required`] opens some.
pub struct Authenticate<A> {
    authenticator: A,
    required: PerMethod<bool>,
}

impl<A: Authenticator> Authenticate<A> {
    /// Require a credential `authenticator` accepts on every method.
    pub fn new(authenticator: A) -> Authenticate<A> {
        Authenticate {
            authenticator,
            required: PerMethod::new(true),
        }
    }

    /// Which methods require a credential (`false`: a call without one is admitted
    /// anonymously, with no [`Principal`]). Default: all.
    pub fn required(mut self, required: PerMethod<bool>) -> Authenticate<A> {
        self.required = required;
        self
    }
}

impl<A: Authenticator> Admission for Authenticate<A> {
    fn refused_by(&self) -> crate::observe::RefusedBy {
        crate::observe::RefusedBy::Auth
    }

    fn names(&self) -> Vec<crate::per_method::Named> {
        self.required.named("Authenticate::required")
    }

    fn admit(&self, call: &CallHead<'_>) -> Result<Admitted, Status> {
        match bearer_token(call.metadata)? {
            Some(token) => {
                let principal = self.authenticator.authenticate(token, call)?;
                Ok(Admitted::now().with(principal))
            }
            None if *self.required.get(call.service, call.method) => {
                Err(Status::unauthenticated(format!(
                    "{}.{} requires credentials: send metadata `authorization: Bearer <token>`",
                    call.service, call.method
                )))
            }
            None => Ok(Admitted::now()),
        }
    }
}

/// The bearer token in `metadata`, if it has an `authorization` entry; `unauthenticated`
/// for one that is not `Bearer <token>` or for several.
pub fn bearer_token(metadata: &Metadata) -> Result<Option<&str>, Status> {
    let mut entries = metadata.get_all(AUTHORIZATION);
    let Some(value) = entries.next() else {
        return Ok(None);
    };
    if entries.next().is_some() {
        return Err(Status::unauthenticated(
            "more than one `authorization` metadata entry: send one",
        ));
    }
    let value = std::str::from_utf8(value)
        .map_err(|_| Status::unauthenticated("`authorization` metadata is not UTF-8"))?;
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => {
            return Err(Status::unauthenticated(
                "`authorization` metadata is not a bearer token: expected `Bearer <token>`",
            ));
        }
    };
    if token.is_empty() {
        return Err(Status::unauthenticated(
            "`authorization` metadata has an empty bearer token",
        ));
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&str]) -> Metadata {
        let mut m = Metadata::new();
        for v in values {
            m.insert(AUTHORIZATION, v.to_string());
        }
        m
    }

    #[test]
    fn the_bearer_token_is_read_and_malformed_ones_are_named() {
        assert_eq!(bearer_token(&with(&[])).unwrap(), None);
        assert_eq!(bearer_token(&with(&["Bearer abc"])).unwrap(), Some("abc"));
        assert_eq!(bearer_token(&with(&["bearer  abc "])).unwrap(), Some("abc"));
        for (bad, why) in [
            (&["Basic dXNlcg=="][..], "not a bearer token"),
            (&["Bearer"][..], "not a bearer token"),
            (&["Bearer  "][..], "empty bearer token"),
            (&["Bearer a", "Bearer b"][..], "more than one"),
        ] {
            let err = bearer_token(&with(bad)).unwrap_err();
            assert_eq!(err.code(), crate::Code::Unauthenticated);
            assert!(err.message().contains(why), "{bad:?}: {err}");
            assert!(
                !err.message().contains("dXNlcg"),
                "leaks the credential: {err}"
            );
        }
    }
}
