//! Security: who is calling, and what they may call.
//!
//! On the server, header-level hooks ([`Admission`](crate::server::Admission)) decide before
//! a call's body is decompressed or decoded and before a task is spawned for it, so a caller
//! without the right credential costs one header parse:
//!
//! - [`Authenticate`] checks metadata `authorization: Bearer <token>` with an
//!   [`Authenticator`] — [`BearerTokens`] (a static set, compared in constant time), [`Jwt`]
//!   (feature `jwt`: HS256/RS256/ES256, keys rotated through [`JwtKeys`]) or your own
//!   function — and puts the [`Principal`] in the call's extensions
//!   ([`Context::principal`](crate::Context::principal)). Refusals are `unauthenticated`.
//! - [`Acl`] allows or denies each method by principal, role, mTLS identity and peer
//!   address (CIDR), default-deny or default-allow. Refusals are `permission_denied`.
//! - With mutual TLS (`ServerTls::mutual`, feature `tls`), the client certificate's
//!   [`PeerIdentity`] (subject, SANs) is on every call ([`Context::peer_identity`](crate::Context::peer_identity)).
//!
//! On the client, [`Credentials`] attaches a bearer token to every call, fetched from a
//! [`TokenSource`] and refreshed before it expires or after an `unauthenticated` answer.
//!
//! ```
//! # use erpc_core as erpc;
//! use erpc::auth::{Acl, Authenticate, BearerTokens, Credentials, Principal, Rule};
//! use erpc::per_method::PerMethod;
//!
//! let tokens = BearerTokens::new()
//!     .token("s3cr3t-for-ops-0123456789abcdef", Principal::new("ops").with_roles(["admin"]));
//! let server = erpc::Server::builder()
//!     .admission(Authenticate::new(tokens))
//!     .admission(Acl::default_deny(PerMethod::new(vec![Rule::allow("admins").role("admin")])));
//! let client = erpc::Client::builder()
//!     .middleware(Credentials::bearer("s3cr3t-for-ops-0123456789abcdef"))
//!     .build("mem://auth-doc");
//! ```

mod acl;
mod authenticate;
mod bearer;
mod credentials;
mod identity;
#[cfg(feature = "jwt")]
mod jwt;
mod principal;

pub use acl::{Acl, Effect, IpNet, Rule};
pub use authenticate::{AUTHORIZATION, Authenticate, Authenticator, bearer_token};
pub use bearer::BearerTokens;
pub use credentials::{Credentials, Token, TokenSource};
pub use identity::PeerIdentity;
#[cfg(feature = "jwt")]
pub use jwt::{Jwt, JwtKey, JwtKeyError, JwtKeys};
pub use principal::Principal;
