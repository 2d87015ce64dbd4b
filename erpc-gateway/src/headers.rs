//! What a request's headers become: allow-listed headers → call metadata, the timeout
//! header → the call's deadline.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName};
use erpc_core::Metadata;

use crate::error::ApiError;

/// The metadata a request carries: one entry per value of each header in `allowed`
/// (lower-case names), keyed by the header's lower-case name; other headers are not sent.
/// A value that is not visible ASCII is a 400 naming the header.
pub(crate) fn metadata(headers: &HeaderMap, allowed: &[HeaderName]) -> Result<Metadata, ApiError> {
    let mut metadata = Metadata::new();
    for name in allowed {
        for value in headers.get_all(name) {
            let text = value.to_str().map_err(|_| {
                ApiError::bad_request(format!("header {name}: the value is not visible ASCII"))
            })?;
            metadata.insert(name.as_str().to_owned(), text.to_owned());
        }
    }
    Ok(metadata)
}

/// The call's timeout from the header `name` (`250ms`, `2s`, `1m`, `1h 30m`: humantime's
/// durations), `None` if absent. Not a duration, zero, or above `max`: a 400 naming the
/// header and what was wrong.
pub(crate) fn timeout(
    headers: &HeaderMap,
    name: &HeaderName,
    max: Duration,
) -> Result<Option<Duration>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::bad_request(format!(
            "header {name} is given more than once"
        )));
    }
    let text = value.to_str().unwrap_or("");
    let timeout = humantime::parse_duration(text.trim()).map_err(|e| {
        ApiError::bad_request(format!(
            "header {name}: {text:?} is not a duration like 250ms, 2s, 1m ({e})"
        ))
    })?;
    if timeout.is_zero() {
        return Err(ApiError::bad_request(format!(
            "header {name}: the timeout is zero"
        )));
    }
    if timeout > max {
        return Err(ApiError::bad_request(format!(
            "header {name}: {text} is above the gateway's most, {}",
            humantime::format_duration(max)
        )));
    }
    Ok(Some(timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().expect("a header value"));
        }
        map
    }

    #[test]
    fn only_allowed_headers_become_metadata_every_value_kept() {
        let map = headers(&[("x-user", "ann"), ("x-user", "bob"), ("cookie", "secret")]);
        let allowed = [
            HeaderName::from_static("x-user"),
            HeaderName::from_static("x-tenant"),
        ];
        let md = metadata(&map, &allowed).expect("ok");
        let all: Vec<&str> = md
            .get_all("x-user")
            .filter_map(|v| std::str::from_utf8(v).ok())
            .collect();
        assert_eq!(all, ["ann", "bob"]);
        assert!(md.get("cookie").is_none());
    }

    #[test]
    fn timeouts_parse_and_bad_ones_say_why() {
        let max = Duration::from_secs(60);
        let name = HeaderName::from_static("x-erpc-timeout");
        let t = |v: &'static str| timeout(&headers(&[("x-erpc-timeout", v)]), &name, max);
        assert_eq!(t("250ms").expect("ok"), Some(Duration::from_millis(250)));
        assert_eq!(t("2s").expect("ok"), Some(Duration::from_secs(2)));
        assert!(
            t("soon")
                .expect_err("bad")
                .message
                .contains("not a duration")
        );
        assert!(t("0s").expect_err("zero").message.contains("zero"));
        assert!(t("2m").expect_err("too long").message.contains("above"));
        assert_eq!(timeout(&HeaderMap::new(), &name, max).expect("ok"), None);
    }
}
