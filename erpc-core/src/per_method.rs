//! Settings chosen per method: one value for every call, overridden for a whole service or
//! for one method of it — how rpcx, Kitex and gRPC's service config let a policy (a retry
//! rule, a rate, a breaker, a cache) differ between methods of one client or server.
//!
//! ```
//! use erpc_core::per_method::PerMethod;
//!
//! // Three retries by default, none for `Bank`, five for `Bank.balance`.
//! let tries = PerMethod::new(3).service("Bank", 0).method("Bank", "balance", 5);
//! assert_eq!(*tries.get("Bank", "balance"), 5);
//! assert_eq!(*tries.get("Bank", "transfer"), 0);
//! assert_eq!(*tries.get("Echo", "say"), 3);
//! // Names match exactly: `Balance` is not a method of Bank, so it gets Bank's value.
//! assert_eq!(*tries.get("Bank", "Balance"), 0);
//! ```
//!
//! Names are the ones calls carry, matched exactly: the service's name (the trait's, or
//! `#[erpc::service(name = "…")]`'s) and the method's as written in the trait (`balance`,
//! not `Balance`). Nothing here checks them against a service: a name no call carries
//! matches nothing, silently. The configuration file checks the methods of a typed client
//! (`erpc-config`'s `connect_typed`).

use std::collections::HashMap;

/// A value per method: the most specific one set wins — `service.method`, then `service`,
/// then the default. Lookups hash the names (no allocation); settings are meant to be built
/// once and shared (wrap in an `Arc` to share among layers).
#[derive(Debug, Clone)]
pub struct PerMethod<T> {
    default: T,
    services: HashMap<String, T>,
    /// Keyed by service, then method, so a lookup borrows both names as they come.
    methods: HashMap<String, HashMap<String, T>>,
}

impl<T> PerMethod<T> {
    /// `default` for every call until overridden.
    pub fn new(default: T) -> PerMethod<T> {
        PerMethod {
            default,
            services: HashMap::new(),
            methods: HashMap::new(),
        }
    }

    /// `value` for every method of `service` (unless a method has its own).
    pub fn service(mut self, service: impl Into<String>, value: T) -> PerMethod<T> {
        self.services.insert(service.into(), value);
        self
    }

    /// `value` for `service.method`.
    pub fn method(
        mut self,
        service: impl Into<String>,
        method: impl Into<String>,
        value: T,
    ) -> PerMethod<T> {
        self.methods
            .entry(service.into())
            .or_default()
            .insert(method.into(), value);
        self
    }

    /// The value for a call of `service.method`.
    #[inline]
    pub fn get(&self, service: &str, method: &str) -> &T {
        if self.methods.is_empty() && self.services.is_empty() {
            // One value for every call (the common setting): no name is hashed.
            return &self.default;
        }
        self.get_own(service, method).unwrap_or(&self.default)
    }

    /// The value `service.method` was given itself (its method's, else its service's), or
    /// `None` where [`PerMethod::get`] would fall back to the default.
    pub fn get_own(&self, service: &str, method: &str) -> Option<&T> {
        self.methods
            .get(service)
            .and_then(|methods| methods.get(method))
            .or_else(|| self.services.get(service))
    }

    /// The default value.
    pub fn default_value(&self) -> &T {
        &self.default
    }

    /// Every value set, the default first: to build per-value state (a limiter per rate)
    /// once, up front.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        std::iter::once(&self.default)
            .chain(self.services.values())
            .chain(self.methods.values().flat_map(|m| m.values()))
    }

    /// The services and methods given their own value ([`PerMethod::service`],
    /// [`PerMethod::method`]), as [`Named`]s attributed to `setting` (`"RateLimit"`): what a
    /// server checks against the services it serves, so a name that matches nothing is an
    /// error rather than a setting silently never applied.
    pub fn named(&self, setting: &'static str) -> Vec<Named> {
        let services = self.services.keys().map(|service| Named {
            setting,
            service: service.clone(),
            method: None,
        });
        let methods = self.methods.iter().flat_map(|(service, methods)| {
            methods.keys().map(move |method| Named {
                setting,
                service: service.clone(),
                method: Some(method.clone()),
            })
        });
        services.chain(methods).collect()
    }

    /// The same overrides with each value mapped by `f`.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> PerMethod<U> {
        PerMethod {
            default: f(self.default),
            services: self.services.into_iter().map(|(k, v)| (k, f(v))).collect(),
            methods: self
                .methods
                .into_iter()
                .map(|(s, m)| (s, m.into_iter().map(|(k, v)| (k, f(v))).collect()))
                .collect(),
        }
    }
}

/// A service, or one method of it, that a per-method setting names ([`PerMethod::named`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The setting that names it, for errors: `"RateLimit"`, `"Acl"`, ...
    pub setting: &'static str,
    /// The service's full name (`pkg.Greeter`).
    pub service: String,
    /// The method, or `None` for every method of the service.
    pub method: Option<String>,
}

impl std::fmt::Display for Named {
    /// As written in a configuration's `methods:` key: `"Bank"`, `"Bank.transfer"`, and
    /// `"pkg.Greeter.*"` for a whole service whose name has dots.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.method, self.service.contains('.')) {
            (Some(method), _) => write!(f, "\"{}.{method}\"", self.service),
            (None, true) => write!(f, "\"{}.*\"", self.service),
            (None, false) => write!(f, "\"{}\"", self.service),
        }
    }
}

impl<T: Default> Default for PerMethod<T> {
    fn default() -> Self {
        PerMethod::new(T::default())
    }
}

impl<T> From<T> for PerMethod<T> {
    fn from(default: T) -> Self {
        PerMethod::new(default)
    }
}

#[cfg(test)]
mod tests {
    use super::PerMethod;

    #[test]
    fn the_most_specific_setting_wins() {
        let p = PerMethod::new("all")
            .service("S", "service")
            .method("S", "m", "method")
            .method("T", "m", "other method");
        assert_eq!(*p.get("S", "m"), "method");
        assert_eq!(*p.get("S", "n"), "service");
        assert_eq!(*p.get("T", "m"), "other method");
        assert_eq!(*p.get("T", "n"), "all");
        assert_eq!(*p.get("U", "m"), "all");
        assert_eq!(p.values().count(), 4);
        let lens = p.map(str::len);
        assert_eq!(*lens.get("S", "m"), 6);
    }
}
