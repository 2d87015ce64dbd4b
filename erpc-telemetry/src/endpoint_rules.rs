//! What an OTLP endpoint must look like: checked where tracing starts (`otlp::init`) and
//! where a configuration is loaded (erpc-config), with one rule.

/// An OTLP endpoint: an `http://` or `https://` URL (parsed as `http::Uri`, as tonic will)
/// with a host and, if it gives one, a port of 1 to 65535; or why not (`has no host`, `has
/// port "99999", expected 1 to 65535`, ...).
///
/// # Errors
/// The reason, to be shown after the endpoint and the key it came from.
pub fn check_otlp_endpoint(endpoint: &str) -> Result<(), String> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e| format!("is not a URL ({e})"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err("must be an http:// or https:// URL".to_owned());
    }
    let Some(authority) = uri.authority().filter(|a| !a.host().is_empty()) else {
        return Err("has no host".to_owned());
    };
    // `http::Uri` keeps a port it cannot hold as a u16 (`:99999`), answering `None` for
    // it, so the port is read as written.
    let host_port = authority.as_str().rsplit('@').next().unwrap_or_default();
    if let Some((_, port)) = host_port
        .rsplit_once(':')
        .filter(|_| !host_port.ends_with(']'))
    {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(format!("has port {port:?}, expected 1 to 65535"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_otlp_endpoint;

    #[test]
    fn an_endpoint_needs_an_http_scheme_a_host_and_a_real_port() {
        for ok in [
            "http://127.0.0.1:4317",
            "https://collector.example:443",
            "http://collector",
            "http://[::1]:4317",
        ] {
            assert_eq!(check_otlp_endpoint(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("http://127.0.0.1:99999", "expected 1 to 65535"),
            ("http://127.0.0.1:0", "expected 1 to 65535"),
            ("grpc://collector:4317", "http:// or https://"),
            ("collector:4317", "http:// or https://"),
            ("http://:4317", "no host"),
            ("not a url", "not a URL"),
        ] {
            let reason = check_otlp_endpoint(bad).expect_err(bad);
            assert!(reason.contains(says), "{bad}: {reason}");
        }
    }
}
