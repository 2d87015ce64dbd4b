//! Span attributes from OpenTelemetry's RPC semantic conventions: values erpc computes for
//! each call.

use erpc_core::{Address, PeerAddr, status::Code};

/// The longest span name [`with_span_name`] builds on the stack.
const NAME_ON_STACK: usize = 128;

/// Hand `f` the span name the RPC conventions give a call, `service/method`, built on the
/// stack when it fits in 128 bytes (the `otel.name` field is copied by the layer anyway: a
/// `format!` per call was a second allocation and a pass through the formatter).
pub(crate) fn with_span_name<R>(service: &str, method: &str, f: impl FnOnce(&str) -> R) -> R {
    let len = service.len() + 1 + method.len();
    if len > NAME_ON_STACK {
        return f(&format!("{service}/{method}"));
    }
    let mut buf = [0u8; NAME_ON_STACK];
    buf[..service.len()].copy_from_slice(service.as_bytes());
    buf[service.len()] = b'/';
    buf[service.len() + 1..len].copy_from_slice(method.as_bytes());
    // Two `str`s and an ASCII '/' are UTF-8; the check cannot fail.
    f(std::str::from_utf8(&buf[..len]).unwrap_or_default())
}

/// `network.transport` for a client's address: `tcp`, `udp`, `quic`, `unix` or `pipe`
/// (in-process); a custom scheme is named as it is.
pub(crate) fn transport_of_address(addr: &Address) -> &str {
    match addr.scheme() {
        "tcp" | "tls" | "ws" | "wss" => "tcp",
        "udp" | "kcp" => "udp",
        "quic" => "quic",
        "unix" => "unix",
        "mem" => "pipe",
        other => other,
    }
}

/// `network.transport` and `network.peer.address` for a server's peer.
/// `server.address` and `server.port` of `addr` (a TCP-like address's host, without IPv6
/// brackets, and port; empty and none for an address without them: `unix://`, `mem://`).
pub(crate) fn host_port(addr: &erpc_core::Address) -> (&str, Option<i64>) {
    let hostport = addr.hostport().unwrap_or_default();
    let (host, port) = match hostport.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<i64>().ok()),
        None => (hostport, None),
    };
    (host.trim_start_matches('[').trim_end_matches(']'), port)
}

pub(crate) fn peer(peer: Option<&PeerAddr>) -> (&'static str, String) {
    match peer {
        Some(PeerAddr::Tcp(a) | PeerAddr::Tls(a)) | Some(PeerAddr::Ws { addr: a, .. }) => {
            ("tcp", a.ip().to_string())
        }
        Some(PeerAddr::Udp(a) | PeerAddr::Kcp(a)) => ("udp", a.ip().to_string()),
        Some(PeerAddr::Quic(a)) => ("quic", a.ip().to_string()),
        Some(PeerAddr::Unix(path)) => (
            "unix",
            path.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        Some(PeerAddr::Mem(n)) => ("pipe", n.to_string()),
        Some(PeerAddr::Other { addr, .. }) => ("other", addr.clone()),
        Some(_) | None => ("other", String::new()),
    }
}

/// Whether a status ends the span in error. As the semantic conventions say for gRPC: on a
/// server only codes that mean the server failed (`unknown`, `deadline_exceeded`,
/// `unimplemented`, `internal`, `unavailable`, `data_loss`); on a client every code but `ok`.
pub(crate) fn is_error(code: Code, server: bool) -> bool {
    if !server {
        return code != Code::Ok;
    }
    matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    )
}

/// Record how a call ended on its span: `rpc.erpc.status_code` (the code's number, as
/// PROTOCOL.md numbers it), and for an error ([`is_error`]) the span's status ERROR with the
/// status message and `error.type` = the code's name.
pub(crate) fn finish(span: &tracing::Span, outcome: Result<(), &erpc_core::Status>, server: bool) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let code = match outcome {
        Ok(()) => Code::Ok,
        Err(status) => status.code(),
    };
    span.set_attribute("rpc.erpc.status_code", code as i64);
    if let Err(status) = outcome {
        if is_error(code, server) {
            span.set_attribute("error.type", code.as_str());
            span.set_status(opentelemetry::trace::Status::error(
                status.message().to_owned(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn span_names_are_service_slash_method_at_any_length() {
        assert_eq!(
            super::with_span_name("Echo", "say", str::to_owned),
            "Echo/say"
        );
        let long = "s".repeat(200);
        let name = super::with_span_name(&long, "m", str::to_owned);
        assert_eq!(name, format!("{long}/m"));
        assert_eq!(super::with_span_name("ü", "ß", str::to_owned), "ü/ß");
    }
}
