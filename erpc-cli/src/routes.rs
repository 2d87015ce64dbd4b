//! `erpc routes show|set|delete SERVICE`: a service's routing rules, the center's config
//! entry `erpc/routes/SERVICE` (CENTER.md, "Routing rules").

use erpc_core::Status;
use erpc_core::discovery::{RouteTable, routes_key};

use crate::call::arg_or_stdin;
use crate::center::CenterArgs;
use crate::failure::Failure;

/// The rules of `service` stored at the center (JSON), if any.
async fn stored(center: &CenterArgs, service: &str) -> Result<Option<String>, Failure> {
    let key = routes_key(service);
    let listing = center
        .client()?
        .config_get(key.clone())
        .await
        .map_err(center.at())?;
    // A prefix listing: `erpc/routes/a` also lists `erpc/routes/ab`.
    Ok(listing
        .entries
        .into_iter()
        .find_map(|(k, text)| (k == key).then_some(text)))
}

/// `erpc routes show`: the rules as pretty JSON, or a line saying there are none.
pub async fn show(center: &CenterArgs, service: &str) -> Result<(), Failure> {
    let addr = &center.center;
    let Some(text) = stored(center, service).await? else {
        println!("no routing rules for {service:?} at {addr}: calls go to every instance");
        return Ok(());
    };
    let pretty = serde_json::from_str::<serde_json::Value>(&text)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| text.clone());
    println!("{pretty}");
    Ok(())
}

/// `erpc routes set`: check the table here (exit 2 naming the problem), then store it at
/// the center, which checks its subsets against the registrations (exit 1 if it refuses).
pub async fn set(center: &CenterArgs, service: &str, rules: Option<&str>) -> Result<(), Failure> {
    let (text, what) = arg_or_stdin(rules, &format!("the routing rules of {service:?}")).await?;
    let table = RouteTable::parse(&text).map_err(|e| Failure::usage(format!("{what}: {e}")))?;
    let revision = center
        .client()?
        .config_set(routes_key(service), table.to_json())
        .await
        .map_err(center.at())?;
    println!(
        "routing rules of {service:?} set at revision {revision}: {} rule{}{}",
        table.rules.len(),
        if table.rules.len() == 1 { "" } else { "s" },
        if table.default.is_empty() {
            ", no default (unmatched calls go to every instance)"
        } else {
            " and a default route"
        }
    );
    Ok(())
}

/// `erpc routes delete`: remove the rules (calls go to every instance again). Rules that
/// are not there fail `not_found` (exit 1), as a gRPC or kubectl delete of a missing object
/// does: a typo in the service name is not reported as done.
pub async fn delete(center: &CenterArgs, service: &str) -> Result<(), Failure> {
    if stored(center, service).await?.is_none() {
        return Err(Failure::Call(Status::not_found(format!(
            "no routing rules for {service:?} at {}: nothing deleted",
            center.center
        ))));
    }
    let revision = center
        .client()?
        .config_delete(routes_key(service))
        .await
        .map_err(center.at())?;
    println!("routing rules of {service:?} deleted at revision {revision}");
    Ok(())
}
