//! Routing rules as the center keeps them (CENTER.md, "Routing rules"): the config entry
//! `erpc/routes/<service>` holds a service's [`RouteTable`] (JSON), which clients follow
//! live (`ClientBuilder::routes`). The center checks a table when it is written, so that a
//! mistake is refused to the operator who made it rather than found by every client: the
//! document must parse (no unknown field), and every subset it names must have an instance
//! of the service registered now (local or mirrored from a peer data center).
//!
//! Instances may leave later; clients then share a split among the subsets that still have
//! instances, and fail a call whose route has none left, naming the rule.

use erpc_core::Status;
use erpc_core::discovery::{ROUTES_PREFIX, RouteTable, Subset};

use crate::backend::Backend;
use crate::model::Filter;

/// `invalid_argument`, naming the problem, if `key` is a routing-rules entry and `value`
/// cannot be applied; `Ok` for every other key.
pub(crate) async fn check(backend: &dyn Backend, key: &str, value: &str) -> Result<(), Status> {
    let Some(service) = key.strip_prefix(ROUTES_PREFIX) else {
        return Ok(());
    };
    // The service name was checked with every config key (`service_name::of_config_key`).
    let refuse = |why: String| Err(Status::invalid_argument(format!("{key}: {why}")));
    let table = match RouteTable::parse(value) {
        Ok(table) => table,
        Err(e) => return refuse(e.to_string()),
    };
    let instances = backend
        .discover(service, &Filter::default())
        .await?
        .instances;
    for (at, subset) in table.subsets() {
        if instances.iter().any(|i| subset.matches(i)) {
            continue;
        }
        // A subset that names nothing is every instance: "the subset every instance" is not
        // a sentence.
        return refuse(if *subset == Subset::default() {
            format!("{at} routes to every instance of {service:?}, and none is registered now")
        } else {
            format!(
                "{at} names the subset {subset}, and no instance of {service:?} registered now is in it"
            )
        });
    }
    Ok(())
}
