//! `erpc config get|set|list|delete SERVICE [SETTING] [VALUE]`: a service's live settings,
//! the center's config entries `erpc/config/SERVICE/SETTING` (CENTER.md, "Live settings")
//! that its running programs follow (`erpc_center::live_config`, erpc-telemetry's
//! `LogGuard::follow_filter`).

use erpc_center::live_config;
use erpc_core::Status;

use crate::call::arg_or_stdin;
use crate::center::CenterArgs;
use crate::failure::Failure;

/// The center's key of `service`'s `setting`, the service name checked first (bad input,
/// exit 2, as the center would refuse it).
fn key(service: &str, setting: &str) -> Result<String, Failure> {
    checked(service)?;
    if setting.is_empty() || setting.contains('/') {
        return Err(Failure::usage(format!(
            "setting {setting:?}: a setting is one name, one of {}",
            known()
        )));
    }
    Ok(format!("{}{setting}", live_config::prefix(service)))
}

/// The key of a setting to read or delete: a misspelt setting is bad input there as it is
/// for `set` (exit 2, naming the settings), not `not_found`, which would send one looking in
/// the center for a key no program reads.
fn known_key(service: &str, setting: &str) -> Result<String, Failure> {
    let key = key(service, setting)?;
    if !live_config::settings().any(|known| known == setting) {
        return Err(Failure::usage(format!(
            "{setting:?} is not a live setting; expected one of {}",
            known()
        )));
    }
    Ok(key)
}

/// `service`, if it can name a service.
fn checked(service: &str) -> Result<&str, Failure> {
    erpc_center::service_name::check(service)
        .map(|()| service)
        .map_err(|e| Failure::usage(e.message().to_owned()))
}

/// The settings a follower applies, for messages.
fn known() -> String {
    live_config::settings().collect::<Vec<_>>().join(" ")
}

/// The entries under `prefix` at the center, in key order.
async fn listing(center: &CenterArgs, prefix: String) -> Result<Vec<(String, String)>, Failure> {
    let mut entries = center
        .client()?
        .config_get(prefix)
        .await
        .map_err(center.at())?
        .entries;
    entries.sort();
    Ok(entries)
}

/// The value stored at `key`, if any (a listing is by prefix: `…/a` also lists `…/ab`).
async fn stored(center: &CenterArgs, key: &str) -> Result<Option<String>, Failure> {
    Ok(listing(center, key.to_owned())
        .await?
        .into_iter()
        .find_map(|(k, v)| (k == key).then_some(v)))
}

/// A setting that is not at the center: `not_found` (exit 1), as kubectl's NotFound.
fn absent(center: &CenterArgs, service: &str, setting: &str, then: &str) -> Failure {
    Failure::Call(Status::not_found(format!(
        "no live setting {setting} for {service:?} at {}{then}",
        center.center
    )))
}

/// `erpc config get`: the value as stored, on stdout.
pub async fn get(center: &CenterArgs, service: &str, setting: &str) -> Result<(), Failure> {
    let key = known_key(service, setting)?;
    match stored(center, &key).await? {
        Some(value) => {
            println!("{}", value.trim_end());
            Ok(())
        }
        None => Err(absent(
            center,
            service,
            setting,
            ": programs started since use their own (their file's or code's); one running when \
             it was deleted keeps the last value it applied until it restarts",
        )),
    }
}

/// `erpc config list`: `service`'s settings (every service's without one), a `KEY: VALUE`
/// line each (a value of several lines indented below its key), or a JSON object of the
/// center's keys and values.
pub async fn list(center: &CenterArgs, service: Option<&str>, json: bool) -> Result<(), Failure> {
    let prefix = match service {
        Some(service) => live_config::prefix(checked(service)?),
        None => erpc_center::service_name::LIVE_CONFIG_PREFIX.to_owned(),
    };
    let entries = listing(center, prefix).await?;
    if json {
        let object: serde_json::Map<String, serde_json::Value> = entries
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&object).unwrap_or_default()
        );
        return Ok(());
    }
    if entries.is_empty() {
        let whose = service.map_or("any service".to_owned(), |s| format!("{s:?}"));
        println!("no live settings for {whose} at {}", center.center);
        return Ok(());
    }
    for (key, value) in entries {
        let value = value.trim_end();
        if value.contains('\n') {
            println!("{key}:");
            for line in value.lines() {
                println!("  {line}");
            }
        } else {
            println!("{key}: {value}");
        }
    }
    Ok(())
}

/// `erpc config set`: check the value as the service's followers will (exit 2 with their
/// message, unless `force`), then store it; the center checks it too (exit 1 if it
/// refuses).
pub async fn set(
    center: &CenterArgs,
    service: &str,
    setting: &str,
    value: Option<&str>,
    force: bool,
) -> Result<(), Failure> {
    let key = key(service, setting)?;
    let (value, _) = arg_or_stdin(value, &format!("the value of {setting}")).await?;
    // A value piped in ends with a newline (`echo 40 |`): not part of it, and stored it would
    // come back from `get` and `list --json` ("40\n"). Trailing blanks mean nothing in YAML.
    let value = value.trim_end().to_owned();
    if !force {
        live_config::check(setting, &value, &key).map_err(|why| {
            Failure::usage(format!(
                "{why} (its followers would refuse it; --force writes it anyway)"
            ))
        })?;
    }
    let revision = center
        .client()?
        .config_set(key.clone(), value)
        .await
        .map_err(center.at())?;
    println!("{key} set at revision {revision}");
    if let Some(built_when) = layer_built_when(setting) {
        // The center has it; whether a program applies it depends on that program.
        eprintln!(
            "note: a program following {service:?} applies it only if it built the layer, \
             when {built_when}; others keep none and log a WARN"
        );
    }
    Ok(())
}

/// For a live setting that changes a layer a program may not have built, when it builds
/// one (a layer is built with the program, never added live).
fn layer_built_when(setting: &str) -> Option<&'static str> {
    match setting {
        "server.rate_limit" => {
            Some("its settings set server.rate_limit or server.live_layers: true")
        }
        "client.rate_limit" => {
            Some("its settings set client.rate_limit or client.live_layers: true")
        }
        "client.breaker.method" => {
            Some("its settings set client.breaker.method or client.live_layers: true")
        }
        "client.breaker.instance" => Some("its settings set client.breaker.instance"),
        _ => None,
    }
}

/// `erpc config delete`: remove the setting. Its followers keep the value in force (a
/// deletion changes nothing until they restart); a setting that is not there fails
/// `not_found` (exit 1), so a typo is not reported as done.
pub async fn delete(center: &CenterArgs, service: &str, setting: &str) -> Result<(), Failure> {
    let key = known_key(service, setting)?;
    if stored(center, &key).await?.is_none() {
        return Err(absent(center, service, setting, ": nothing deleted"));
    }
    let revision = center
        .client()?
        .config_delete(key.clone())
        .await
        .map_err(center.at())?;
    println!(
        "{key} deleted at revision {revision} (running programs keep the value in force until they restart)"
    );
    Ok(())
}
