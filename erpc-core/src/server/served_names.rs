//! A server's per-method settings checked against what it serves, when it starts: a setting
//! naming a service it does not serve, or a method its service lacks, would silently apply
//! to nothing — most often a dotted service written as one method (`"erpc.Health"`, read as
//! service `erpc`, method `Health`, where `"erpc.Health.*"` names the service). Refused
//! instead, naming what is served.

use std::collections::BTreeMap;

use super::ServerBuilder;
use crate::per_method::Named;

impl ServerBuilder {
    /// Every name the admission hooks' per-method settings give ([`Admission::names`])
    /// served by this server, or what is wrong with those that are not, one per line.
    ///
    /// [`Admission::names`]: super::Admission::names
    pub(super) fn check_named(&self) -> Result<(), String> {
        let named: Vec<Named> = self.admission.iter().flat_map(|h| h.names()).collect();
        if named.is_empty() {
            return Ok(());
        }
        let served = self.served();
        let wrong: Vec<String> = named.iter().filter_map(|n| unserved(n, &served)).collect();
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("\n"))
        }
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
