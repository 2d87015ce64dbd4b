//! What a service name may be, wherever the center takes one: a registration's service, the
//! `<service>` of a routing-rules key (`erpc/routes/<service>`) and of a live-config key
//! (`erpc/config/<service>/<setting>`), the service a discovery, watch or deregistration
//! names. Those keys and etcd's keys put the name in a path, so it must be one plain
//! segment: not empty or blank, no whitespace at its start or end, no `/` (hence no empty
//! segment), no `..`, no control character. Dots are fine (`pkg.Greeter`). A data center's name (`--dc`) follows the same
//! rules ([`segment_problem`]).

use erpc_core::Status;

/// `Ok` if `name` can name a service; else why not (`invalid_argument`, naming it).
pub fn check(name: &str) -> Result<(), Status> {
    match segment_problem(name, "service") {
        None => Ok(()),
        Some(why) => Err(Status::invalid_argument(format!(
            "service name {name:?} {why}"
        ))),
    }
}

/// [`check`], with `""` allowed: the argument of `discover` and `watch`, where it means
/// every service.
pub fn check_or_every(name: &str) -> Result<(), Status> {
    if name.is_empty() {
        return Ok(());
    }
    check(name)
}

/// What keeps `name`, the name of a `what` (`"service"`, `"data center"`), from being one
/// plain path segment (`is empty: it names no service`…), to follow the name in a message;
/// `None` if nothing does.
pub fn segment_problem(name: &str, what: &str) -> Option<String> {
    Some(if name.is_empty() {
        format!("is empty: it names no {what}")
    } else if name.trim().is_empty() {
        format!("is blank (only whitespace): it names no {what}")
    } else if name.contains('/') {
        format!("contains '/': a {what} name is one path segment")
    } else if name.contains("..") {
        format!("contains \"..\": a {what} name may not climb a path")
    } else if name.chars().any(char::is_control) {
        "contains a control character".to_owned()
    } else if name.trim() != name {
        // "Greeter " would be a service of its own beside "Greeter", found by nobody who
        // types the name without the space.
        format!(
            "has whitespace at its start or end: a {what} name is its characters alone ({:?})",
            name.trim()
        )
    } else {
        return None;
    })
}

/// The service a config key names, checked: `<service>` of `erpc/routes/<service>` or of
/// `erpc/config/<service>/<setting>`; `Ok(None)` for every other key (free-form).
/// `invalid_argument` starting with the key, then [`check`]'s reason.
pub fn of_config_key(key: &str) -> Result<Option<&str>, Status> {
    let service = if let Some(rest) = key.strip_prefix(erpc_core::discovery::ROUTES_PREFIX) {
        rest
    } else if let Some(rest) = key.strip_prefix(LIVE_CONFIG_PREFIX) {
        // The setting is the last segment (settings have no '/'): the rest is the service.
        rest.rsplit_once('/').map_or(rest, |(service, _)| service)
    } else {
        return Ok(None);
    };
    check(service).map_err(|e| Status::invalid_argument(format!("{key}: {}", e.message())))?;
    Ok(Some(service))
}

/// Where services' live settings are kept: `erpc/config/<service>/<setting>`.
pub const LIVE_CONFIG_PREFIX: &str = "erpc/config/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_dotted_names_pass_and_path_tricks_do_not() {
        for good in ["Greeter", "pkg.Greeter", "a-b_c", "Grüße"] {
            assert!(check(good).is_ok(), "{good}");
        }
        for bad in [
            "", " ", "\t", "  \n", "Greeter ", " Greeter", "a/b", "/", "a//b", "..", "a..b",
            "a\u{0}b", "a\tb", "a\nb",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
        let blank = check(" ").expect_err("blank");
        assert_eq!(
            blank.message(),
            "service name \" \" is blank (only whitespace): it names no service"
        );
        assert!(check_or_every("").is_ok());
        assert!(check_or_every(" ").is_err());
        assert_eq!(of_config_key("app/x").ok(), Some(None));
        assert_eq!(
            of_config_key("erpc/config/Kv/log_filter").ok(),
            Some(Some("Kv"))
        );
        assert_eq!(of_config_key("erpc/routes/Kv").ok(), Some(Some("Kv")));
        let e = of_config_key("erpc/routes/Kv/../x").expect_err("a path");
        assert!(
            e.message()
                .starts_with("erpc/routes/Kv/../x: service name \"Kv/../x\""),
            "{e}"
        );
        let e = of_config_key("erpc/config/Kv/../x/log_filter").expect_err("a path");
        assert!(e.message().contains("service name \"Kv/../x\""), "{e}");
    }
}
