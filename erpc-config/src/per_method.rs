//! The one shape of every per-method setting in a file: a value for every call and a
//! `methods:` map overriding it for a service or one method, read into
//! `erpc_core::per_method::PerMethod`.
//!
//! ```yaml
//! rate_limit:
//!   default: {rate: 1000}            # every call
//!   methods:
//!     Bank: {rate: 200}              # every method of service Bank without its own
//!     "Bank.transfer": {rate: 10}    # one method
//!     "pkg.Greeter.*": {rate: 50}    # a service whose name has dots: `.*` names all of it
//! ```
//!
//! One rule: a key with a dot is `service.method`, the service being everything before the
//! last dot; a key ending in `.*` is the whole service before it. So `"erpc.Health"` is
//! method `Health` of a service `erpc` and `"erpc.Health.*"` the health service. A server
//! refuses to start when a key of its settings names a service it does not serve or a method
//! its service lacks (`ServerBuilder::serve`, listing what it serves), so such a key never
//! silently matches nothing. A client's keys are checked when a typed client is made from
//! its settings (`ClientSettings::connect_typed`, `ClientSettings::check_service`); a
//! client used only untyped, without that check, cannot know the service's methods.

use std::collections::BTreeMap;

use erpc_core::per_method::PerMethod;
use serde::Deserialize;

/// A value per method: `default` for every call, `methods` keyed by `"Service"`,
/// `"Service.method"` or `"pkg.Service.*"` (the most specific wins). `null` is the
/// defaults: `T`'s default for every call, no overrides (`rate_limit: null`, no limit).
#[derive(Debug, Clone, PartialEq)]
pub struct PerMethodSettings<T> {
    /// The value of every call no key of `methods` covers. Default: `T`'s default.
    pub default: T,
    /// Overrides by `"Service"`, `"Service.method"` or `"pkg.Service.*"`. Default none.
    pub methods: BTreeMap<String, T>,
}

/// What a file writes: a mapping of `default` and `methods` (or `null`).
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "T: Deserialize<'de> + Default"),
    expecting = "a mapping of default and methods, or null"
)]
struct Written<T> {
    #[serde(default)]
    default: T,
    #[serde(default)]
    methods: BTreeMap<String, T>,
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for PerMethodSettings<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // `null` (a live `client.rate_limit null`) is every default, as the key left out.
        Ok(match Option::<Written<T>>::deserialize(d)? {
            Some(Written { default, methods }) => PerMethodSettings { default, methods },
            None => PerMethodSettings::default(),
        })
    }
}

impl<T: Default> Default for PerMethodSettings<T> {
    fn default() -> Self {
        PerMethodSettings {
            default: T::default(),
            methods: BTreeMap::new(),
        }
    }
}

/// What a key of `methods:` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MethodKey<'a> {
    /// Every method of a service.
    Service(&'a str),
    /// One method.
    Method(&'a str, &'a str),
}

/// What a `methods:` key must look like, for errors.
const KEY_SHAPE: &str =
    "expected \"Service\", \"Service.method\" or \"pkg.Service.*\" (names without spaces)";

/// Parse a `methods:` key: `Service` (no dot), `Service.method` (the method after the last
/// dot), `pkg.Service.*` (a whole service whose name has dots).
pub(crate) fn parse_key(key: &str) -> Result<MethodKey<'_>, String> {
    let bad = || format!("{key:?}: {KEY_SHAPE}");
    let valid = |name: &str| {
        !name.is_empty()
            && !name.contains('*')
            && !name.chars().any(char::is_whitespace)
            && !name.starts_with('.')
            && !name.ends_with('.')
            && !name.contains("..")
    };
    if let Some(service) = key.strip_suffix(".*") {
        return if valid(service) {
            Ok(MethodKey::Service(service))
        } else {
            Err(bad())
        };
    }
    match key.rsplit_once('.') {
        None if valid(key) => Ok(MethodKey::Service(key)),
        Some((service, method)) if valid(service) && valid(method) => {
            Ok(MethodKey::Method(service, method))
        }
        _ => Err(bad()),
    }
}

/// The dotted path of a `methods:` entry (quoted when the key holds dots): what errors name.
pub(crate) fn entry_key(at: &str, key: &str) -> String {
    crate::error::key_at(&format!("{at}.methods"), key)
}

impl<T> PerMethodSettings<T> {
    /// Check every value with `check(value, key of the value)` and every key's syntax.
    pub(crate) fn check(
        &self,
        at: &str,
        mut check: impl FnMut(&T, &str) -> Result<(), (String, String)>,
    ) -> Result<(), (String, String)> {
        check(&self.default, &format!("{at}.default"))?;
        for (key, value) in &self.methods {
            let entry = entry_key(at, key);
            parse_key(key).map_err(|reason| (entry.clone(), reason))?;
            check(value, &entry)?;
        }
        Ok(())
    }

    /// The `PerMethod` these settings describe, each value mapped by `f(value, its key)`.
    /// Errors: a key's syntax, or `f`'s, as (dotted key, reason).
    pub(crate) fn to_per_method<U, E>(
        &self,
        at: &str,
        mut f: impl FnMut(&T, &str) -> Result<U, E>,
    ) -> Result<PerMethod<U>, E>
    where
        E: From<(String, String)>,
    {
        let mut out = PerMethod::new(f(&self.default, &format!("{at}.default"))?);
        for (key, value) in &self.methods {
            let entry = entry_key(at, key);
            let parsed = parse_key(key).map_err(|reason| E::from((entry.clone(), reason)))?;
            let value = f(value, &entry)?;
            out = match parsed {
                MethodKey::Service(service) => out.service(service, value),
                MethodKey::Method(service, method) => out.method(service, method, value),
            };
        }
        Ok(out)
    }

    /// Whether any value (the default or an override) satisfies `f`.
    pub(crate) fn any(&self, mut f: impl FnMut(&T) -> bool) -> bool {
        f(&self.default) || self.methods.values().any(f)
    }
}

#[cfg(test)]
mod tests {
    use super::{MethodKey, parse_key};

    #[test]
    fn keys_name_a_service_or_a_method() {
        assert_eq!(parse_key("Bank"), Ok(MethodKey::Service("Bank")));
        assert_eq!(
            parse_key("Bank.transfer"),
            Ok(MethodKey::Method("Bank", "transfer"))
        );
        assert_eq!(
            parse_key("pkg.Greeter.say"),
            Ok(MethodKey::Method("pkg.Greeter", "say"))
        );
        assert_eq!(
            parse_key("pkg.Greeter.*"),
            Ok(MethodKey::Service("pkg.Greeter"))
        );
        for bad in [
            "", ".", "Bank.", ".x", "a..b", "Bank.*.x", "*", "Ba nk", "Bank.tr*",
        ] {
            assert!(parse_key(bad).is_err(), "{bad:?} accepted");
        }
    }
}
