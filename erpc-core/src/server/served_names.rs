//! A server's per-method settings checked against what it serves, when it starts: a setting
//! naming a service it does not serve, or a method its service lacks, would silently apply
//! to nothing — most often a dotted service written as one method (`"erpc.Health"`, read as
//! service `erpc`, method `Health`, where `"erpc.Health.*"` names the service). Refused
//! instead, naming what is served.

use std::collections::BTreeMap;

use super::ServerBuilder;
use crate::per_method::Named;

/// What a server serves — each service's name and methods, the built-in `erpc.Health` and
/// `erpc.Reflection` included — as the server found it when it started. Handed to each
/// admission hook ([`Admission::serving`](super::Admission::serving)) so that a per-method
/// setting changed later (`RateLimit::set_rates`, from a live configuration) is checked as
/// the one given at start: a name that matches nothing is refused, not silently applied to
/// nothing.
#[derive(Debug, Clone, Default)]
pub struct ServedMethods {
    services: BTreeMap<String, Vec<&'static str>>,
}

impl ServedMethods {
    /// Every name of `named` served, or what is wrong with those that are not, one per line
    /// (`RateLimit: "Stock.reserv" names method "reserv", which service "Stock" does not
    /// have (it has "reserve")`).
    ///
    /// # Errors
    /// The lines above, one per name served by nothing.
    pub fn check(&self, named: &[Named]) -> Result<(), String> {
        let wrong: Vec<String> = (named.iter())
            .filter_map(|n| unserved(n, &self.services))
            .collect();
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("\n"))
        }
    }

    /// These and `other`'s services (a hook shared by two servers accepts what either
    /// serves).
    pub fn merge(&mut self, other: &ServedMethods) {
        for (service, methods) in &other.services {
            let known = self.services.entry(service.clone()).or_default();
            for method in methods {
                if !known.contains(method) {
                    known.push(method);
                }
            }
        }
    }
}

impl ServerBuilder {
    /// Every name the admission hooks' per-method settings give ([`Admission::names`])
    /// served by this server, or what is wrong with those that are not, one per line. Each
    /// hook is told what is served ([`Admission::serving`]) for the checks of later changes.
    ///
    /// [`Admission::names`]: super::Admission::names
    /// [`Admission::serving`]: super::Admission::serving
    pub(super) fn check_named(&self) -> Result<(), Unserved> {
        let served = ServedMethods {
            services: self.served(),
        };
        for hook in &self.admission {
            hook.serving(&served);
        }
        let named: Vec<Named> = self.admission.iter().flat_map(|h| h.names()).collect();
        served.check(&named).map_err(Unserved)
    }

    /// The services this server will serve, the built-in ones included, with their methods.
    fn served(&self) -> BTreeMap<String, Vec<&'static str>> {
        let mut served: BTreeMap<String, Vec<&'static str>> = (self.services.iter())
            .map(|(name, service)| (name.clone(), service.methods().to_vec()))
            .collect();
        if !self.no_health_service {
            let health = super::health::service::HealthService(self.health.clone());
            let methods = super::Service::methods(&health).to_vec();
            served.insert(super::health::service::SERVICE.to_owned(), methods);
        }
        if !self.no_reflection {
            let catalogue = crate::reflection::service::Catalogue::default();
            let reflection = crate::reflection::service::ReflectionService(catalogue);
            let methods = super::Service::methods(&reflection).to_vec();
            served.insert(crate::reflection::SERVICE.to_owned(), methods);
        }
        served
    }
}

/// Why a server was not started: per-method settings naming what it does not serve, one
/// per line. Shown as its message both ways (`{}` and `{:?}`), so `main` returning it in an
/// `io::Error` prints the sentence, not an escaped string.
pub(super) struct Unserved(String);

impl std::fmt::Display for Unserved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for Unserved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unserved {}

/// What is wrong with `named` on a server serving `served`, if anything.
fn unserved(named: &Named, served: &BTreeMap<String, Vec<&'static str>>) -> Option<String> {
    let quoted = |names: &mut dyn Iterator<Item = &str>| {
        names
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(methods) = served.get(&named.service) else {
        // `"pkg.Svc.m"` where `pkg.Svc.m` is itself a service: meant as the whole service.
        if let Some(method) = &named.method {
            let whole = format!("{}.{method}", named.service);
            if served.contains_key(&whole) {
                return Some(format!(
                    "{}: {named} is read as method {method:?} of a service {:?}, which this \
                     server does not serve; for every method of service {whole:?} write \
                     \"{whole}.*\" in a file, or PerMethod::service({whole:?}, …)",
                    named.setting, named.service
                ));
            }
        }
        return Some(format!(
            "{}: {named} names service {:?}, which this server does not serve (it serves {})",
            named.setting,
            named.service,
            quoted(&mut served.keys().map(String::as_str))
        ));
    };
    let method = named.method.as_deref()?;
    (!methods.contains(&method)).then(|| {
        format!(
            "{}: {named} names method {method:?}, which service {:?} does not have (it has {})",
            named.setting,
            named.service,
            quoted(&mut methods.iter().copied())
        )
    })
}
