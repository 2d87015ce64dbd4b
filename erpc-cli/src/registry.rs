//! `erpc list` and `erpc watch`: a center's services and instances, now and as they change.

use std::collections::BTreeMap;

use erpc_center::{Change, Filter, Instance};

use crate::center::CenterArgs;
use crate::deadline::Deadline;
use crate::events::Known;
use crate::failure::Failure;

/// `erpc list`: every instance of `service` (`""`: of every service), grouped by service; one
/// JSON object per instance with `json`.
pub async fn list(center: &CenterArgs, service: &str, json: bool) -> Result<(), Failure> {
    let addr = &center.center;
    let listing = center
        .client()?
        .discover(service.to_owned(), Filter::default())
        .await
        .map_err(center.asked())?;
    if json {
        for instance in &listing.instances {
            println!("{}", serde_json::to_string(instance).unwrap_or_default());
        }
        return Ok(());
    }
    if listing.instances.is_empty() {
        if service.is_empty() {
            println!("no services registered at {addr}");
        } else {
            println!("no instances of {service:?} registered at {addr}");
        }
        return Ok(());
    }
    let mut by_service: BTreeMap<&str, Vec<&Instance>> = BTreeMap::new();
    for instance in &listing.instances {
        by_service
            .entry(&instance.service)
            .or_default()
            .push(instance);
    }
    for (name, instances) in by_service {
        println!(
            "{name} ({} instance{})",
            instances.len(),
            plural(instances.len())
        );
        for i in instances {
            println!("  {}", describe_instance(i));
        }
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// One line: id, addresses, weight, version, zone (metadata `zone`), the other metadata.
fn describe_instance(i: &Instance) -> String {
    let mut line = format!("{}  {}  weight={}", i.id, i.addrs.join(","), i.weight);
    if !i.version.is_empty() {
        line.push_str(&format!("  version={}", i.version));
    }
    if let Some(zone) = i.metadata.get("zone") {
        line.push_str(&format!("  zone={zone}"));
    }
    if !i.group.is_empty() {
        line.push_str(&format!("  group={}", i.group));
    }
    let rest: Vec<String> = i
        .metadata
        .iter()
        .filter(|(k, _)| k.as_str() != "zone")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !rest.is_empty() {
        line.push_str(&format!("  {{{}}}", rest.join(", ")));
    }
    line
}

/// `erpc watch`: the changes to `service` (`""`: every service) from now on, one line each
/// as they happen (`+ service instance…` registered, `- service id (reason)` left), or one
/// JSON event per line with `json` (shapes in `events`). Runs until the center ends the watch or the user stops
/// it; `deadline` (`--timeout`), if given, bounds only its start (the listing and the watch's
/// opening), else the center client's 5 s per call do.
pub async fn watch(
    center: &CenterArgs,
    service: &str,
    json: bool,
    deadline: Option<Deadline>,
) -> Result<(), Failure> {
    let addr = &center.center;
    let client = center.client()?;
    // --timeout bounds the start only: the listing, then the watch's opening. The watch
    // itself runs until interrupted (or the center ends it).
    let start = async {
        let now = client
            .discover(service.to_owned(), Filter::default())
            .await
            .map_err(center.asked())?;
        let events = client
            .watch(service.to_owned(), now.revision, now.epoch)
            .await
            .map_err(center.at())?;
        Ok((now, events))
    };
    let (now, mut events) = match deadline {
        Some(deadline) => {
            let what = format!("starting the watch at the center {addr}");
            deadline.step(&what, start).await?
        }
        None => start.await?,
    };
    // On stderr, so stdout stays one change per line: scripts (and tests) wait for it to
    // know that no later change can be missed.
    let what = if service.is_empty() {
        "every service"
    } else {
        service
    };
    eprintln!("watching {what} at {addr} from revision {}", now.revision);
    let mut known = Known::new(&now.instances);
    use std::io::Write;
    while let Some(event) = events.message().await.map_err(center.at())? {
        let line = if json {
            known.json(&event).to_string()
        } else {
            match &event.change {
                Change::Registered(i) => format!("+ {}  {}", i.service, describe_instance(i)),
                Change::Deregistered {
                    service,
                    id,
                    reason,
                } => format!("- {service}  {id}  ({reason})"),
                // Instance watches carry no config changes; shown if a center sends them.
                Change::ConfigSet { key, value } => format!("config {key} = {value}"),
                Change::ConfigDeleted { key } => format!("config {key} deleted"),
            }
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            return Ok(());
        }
    }
    Ok(())
}
