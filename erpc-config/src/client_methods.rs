//! A client's per-method keys checked against a service's methods. A file cannot know a
//! service's methods when it is loaded, and an untyped `Client` may call any; the earliest
//! point they are known is a typed client (`#[erpc::service]` generates `KvClient::METHODS`):
//! [`ClientSettings::connect_typed`] checks there, and [`ClientSettings::check_service`] for
//! a client made otherwise. A key naming a method the service lacks (`"Kv.gett"`) would
//! otherwise silently apply to nothing.

use erpc_core::Status;
use erpc_core::client::TypedClient;

use crate::client::ClientSettings;
use crate::error::ConfigError;
use crate::per_method::{MethodKey, entry_key, parse_key};

impl ClientSettings {
    /// Every per-method key of these settings (`fail_mode`, `idempotent`, `breaker.method`,
    /// `rate_limit`) that names `service` names one of its `methods` (a generated client's
    /// `XClient::SERVICE` and `XClient::METHODS`). Keys of other services are not checked
    /// (a client may call several).
    ///
    /// # Errors
    /// [`ConfigError::Key`] naming the first wrong key (and, for settings loaded from a
    /// file, the file and its line) and the methods `service` has.
    pub fn check_service(&self, service: &str, methods: &[&str]) -> Result<(), ConfigError> {
        let at = self.origin.key_or("client");
        let tables = [
            ("fail_mode", keys(&self.fail_mode.methods)),
            ("idempotent", keys(&self.idempotent.methods)),
            ("breaker.method", keys(&self.breaker.method.methods)),
            ("rate_limit", keys(&self.rate_limit.methods)),
        ];
        let has = methods
            .iter()
            .map(|m| format!("{m:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        for (setting, keys) in tables {
            for key in keys {
                let reason = match parse_key(key) {
                    Ok(MethodKey::Method(s, m)) if s == service && !methods.contains(&m) => {
                        format!(
                            "names method {m:?}, which service {service:?} does not have (it \
                             has {has})"
                        )
                    }
                    // `"pkg.Svc"` for service `pkg.Svc`: read as method `Svc` of `pkg`.
                    Ok(MethodKey::Method(_, _)) if key == service => format!(
                        "is read as a method of a service {:?}; for every method of service \
                         {service:?} write \"{service}.*\"",
                        key.rsplit_once('.').map_or(key.as_str(), |(s, _)| s)
                    ),
                    _ => continue,
                };
                let key = entry_key(&format!("{at}.{setting}"), key);
                return Err(self.origin.locate(key, reason));
            }
        }
        Ok(())
    }

    /// [`ClientSettings::connect`] as the typed client `C` (`KvClient`), its service's
    /// per-method keys checked first ([`ClientSettings::check_service`]).
    ///
    /// # Errors
    /// `invalid_argument` naming a key of `C`'s service that names a method it lacks; as
    /// [`ClientSettings::connect`].
    pub async fn connect_typed<C: TypedClient>(&self) -> Result<C, Status> {
        if let Some(service) = C::SERVICE {
            self.check_service(service, C::METHODS)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
        }
        self.connect().await.map(C::from_client)
    }
}

fn keys<T>(methods: &std::collections::BTreeMap<String, T>) -> Vec<&String> {
    methods.keys().collect()
}
