//! The services a server has of its own, `erpc.Health` and `erpc.Reflection`: they answer
//! load balancers and tools, not the application's callers, so the limits sized for the
//! application leave them out — the default rate of a [`RateLimit`](super::RateLimit) (a
//! rate given to them by name still applies) and the handler worker limit
//! ([`Workers`](super::Workers)): a busy or rate-limited server still answers its health
//! checks and `erpc call`'s describe.

/// Whether `service` is one of the built-in services (`erpc.Health`, `erpc.Reflection`).
pub(crate) fn is_built_in(service: &str) -> bool {
    service == super::health::service::SERVICE || service == crate::reflection::SERVICE
}
