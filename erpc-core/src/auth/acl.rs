//! [`Acl`]: per-method allow and deny rules by principal, role, mTLS identity and peer
//! address, checked as a header-level hook after authentication.

use std::sync::Arc;

pub use ipnet::IpNet;

use crate::per_method::PerMethod;
use crate::server::{Admission, Admitted, CallHead};
use crate::status::Status;

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Admit the call.
    Allow,
    /// Refuse it `permission_denied`.
    Deny,
}

/// One condition of a [`Rule`].
#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Authenticated,
    Subject(String),
    Role(String),
    CertName(String),
    Peer(IpNet),
}

/// A named rule: an effect and the conditions a call must meet, all of them, for it to
/// apply (none: it applies to every call). Its name is what a refusal quotes.
///
/// ```
/// # use erpc_core as erpc;
/// use erpc::auth::{IpNet, Rule};
///
/// let office: IpNet = "10.1.0.0/16".parse().unwrap();
/// let admins = Rule::allow("admins from the office").role("admin").peer(office);
/// let nobody_else = Rule::deny("everyone else");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    name: String,
    effect: Effect,
    conditions: Vec<Condition>,
}

impl Rule {
    /// A rule named `name` that admits the calls it applies to.
    pub fn allow(name: impl Into<String>) -> Rule {
        Rule::new(name, Effect::Allow)
    }

    /// A rule named `name` that refuses the calls it applies to.
    pub fn deny(name: impl Into<String>) -> Rule {
        Rule::new(name, Effect::Deny)
    }

    fn new(name: impl Into<String>, effect: Effect) -> Rule {
        Rule {
            name: name.into(),
            effect,
            conditions: Vec::new(),
        }
    }

    /// Only calls with an authenticated [`Principal`](crate::auth::Principal).
    pub fn authenticated(mut self) -> Rule {
        self.conditions.push(Condition::Authenticated);
        self
    }

    /// Only calls authenticated as `subject` (the principal's subject, a JWT's `sub`).
    pub fn subject(mut self, subject: impl Into<String>) -> Rule {
        self.conditions.push(Condition::Subject(subject.into()));
        self
    }

    /// Only calls whose principal holds `role` (a JWT's roles claim).
    pub fn role(mut self, role: impl Into<String>) -> Rule {
        self.conditions.push(Condition::Role(role.into()));
        self
    }

    /// Only calls over mutual TLS from a certificate with `name` as its common name or one
    /// of its SANs ([`PeerIdentity::has_name`](crate::auth::PeerIdentity::has_name)).
    pub fn cert_name(mut self, name: impl Into<String>) -> Rule {
        self.conditions.push(Condition::CertName(name.into()));
        self
    }

    /// Only calls from a peer address in `net` (`"10.0.0.0/8".parse()`); never calls over
    /// a transport without IP addresses (`unix://`, `mem://`).
    pub fn peer(mut self, net: IpNet) -> Rule {
        self.conditions.push(Condition::Peer(net));
        self
    }

    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the rule applies to `call`.
    fn applies(&self, call: &CallHead<'_>) -> bool {
        let principal = call.principal();
        self.conditions.iter().all(|condition| match condition {
            Condition::Authenticated => principal.is_some(),
            Condition::Subject(subject) => principal.is_some_and(|p| &p.subject == subject),
            Condition::Role(role) => principal.is_some_and(|p| p.has_role(role)),
            Condition::CertName(name) => call.peer_identity.is_some_and(|id| id.has_name(name)),
            Condition::Peer(net) => call
                .peer
                .socket_addr()
                .is_some_and(|at| net.contains(&at.ip().to_canonical())),
        })
    }
}

/// A per-method access control list: a header-level hook
/// ([`ServerBuilder::admission`](crate::ServerBuilder::admission)) added after
/// [`Authenticate`](crate::auth::Authenticate), so that rules see the principal.
///
/// Each method has a list of [`Rule`]s (a [`PerMethod`]: the method's own list, else its
/// service's, else the default list). The first rule that applies decides; when none does,
/// the ACL's default decides — [`Acl::default_deny`] refuses, [`Acl::default_allow`] admits.
/// Refusals are `permission_denied` naming the method and the rule ("Bank.Transfer denied
/// by rule \"outside the office\"") or the default ("no rule allows Bank.Transfer (default
/// deny)").
///
/// ```
/// # use erpc_core as erpc;
/// use erpc::auth::{Acl, Rule};
/// use erpc::per_method::PerMethod;
///
/// // Anyone authenticated may read; only admins may transfer; nothing else is served.
/// let acl = Acl::default_deny(
///     PerMethod::new(vec![])
///         .method("Bank", "balance", vec![Rule::allow("signed-in users").authenticated()])
///         .method("Bank", "transfer", vec![Rule::allow("admins").role("admin")]),
/// );
/// let server = erpc::Server::builder().admission(acl);
/// ```
#[derive(Debug, Clone)]
pub struct Acl {
    rules: Arc<PerMethod<Vec<Rule>>>,
    default: Effect,
}

impl Acl {
    /// Calls no rule applies to are refused.
    pub fn default_deny(rules: PerMethod<Vec<Rule>>) -> Acl {
        Acl {
            rules: Arc::new(rules),
            default: Effect::Deny,
        }
    }

    /// Calls no rule applies to are admitted.
    pub fn default_allow(rules: PerMethod<Vec<Rule>>) -> Acl {
        Acl {
            rules: Arc::new(rules),
            default: Effect::Allow,
        }
    }
}

impl Admission for Acl {
    fn refused_by(&self) -> crate::observe::RefusedBy {
        crate::observe::RefusedBy::Acl
    }

    fn names(&self) -> Vec<crate::per_method::Named> {
        self.rules.named("Acl")
    }

    fn admit(&self, call: &CallHead<'_>) -> Result<Admitted, Status> {
        let rules = self.rules.get(call.service, call.method);
        match rules.iter().find(|rule| rule.applies(call)) {
            Some(rule) if rule.effect == Effect::Allow => Ok(Admitted::now()),
            Some(rule) => Err(Status::permission_denied(format!(
                "{}.{} denied by rule {:?}",
                call.service, call.method, rule.name
            ))),
            None if self.default == Effect::Allow => Ok(Admitted::now()),
            None => Err(Status::permission_denied(format!(
                "no rule allows {}.{} (default deny)",
                call.service, call.method
            ))),
        }
    }
}
