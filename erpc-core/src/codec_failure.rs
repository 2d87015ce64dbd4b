//! Encode and decode failures that say who failed, on what and why: the side (client or
//! server), the direction (request or response, or a stream message of either), the call
//! (`service.method`) and the codec by name (`json`). A bare "decode failed: wrong msgpack
//! marker" read as if the server had refused the arguments when it was the client that could
//! not read the response.
//!
//! Never the Rust type (`shop::Order`): these messages reach people who know the method by
//! its schema — a server's travel over the wire to any caller (the `erpc` command line, the
//! gateway, another language), and a client's are printed by the same tools. The codec's
//! own words already say what was expected (`missing field \`qty\``, `expected u64`).
//!
//! Codes: a server that cannot decode a request answers `invalid_argument` (the caller sent
//! something else); a client that cannot decode a response fails `internal` (the two sides
//! disagree about the method's types — as gRPC's clients do); encoding failures are
//! `internal` on either side (the server's, in `server::service`, name the type only: the
//! responder does not carry the call's names, to keep the call path free of them).

use erpc_codec::{CodecError, CodecId};

use crate::status::Status;

/// Where a message was being encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// The server, reading a request (or a client's stream message).
    ServerRequest,
    /// The client, writing a request (or a stream message).
    ClientRequest,
    /// The client, reading a response (or a server's stream message).
    ClientResponse,
}

impl Site {
    /// `"client"` or `"server"`.
    pub(crate) fn side(self) -> &'static str {
        self.describe().0
    }

    fn describe(self) -> (&'static str, &'static str) {
        match self {
            Site::ServerRequest => ("server", "request"),
            Site::ClientRequest => ("client", "request"),
            Site::ClientResponse => ("client", "response"),
        }
    }
}

/// The status for a failure to decode a message at `site`.
pub(crate) fn decode_failed(
    site: Site,
    call: (&str, &str),
    codec: CodecId,
    error: CodecError,
) -> Status {
    let (side, direction) = site.describe();
    let (service, method) = call;
    match error {
        CodecError::Decode(why) => {
            let text = format!(
                "{side} could not decode the {direction} of {service}.{method} in {codec}: {why}"
            );
            match site {
                Site::ClientResponse | Site::ClientRequest => Status::internal(format!(
                    "{text} — does the server's method {} another type?",
                    if direction == "response" {
                        "return"
                    } else {
                        "take"
                    }
                )),
                Site::ServerRequest => Status::invalid_argument(text),
            }
        }
        other => with_site(site, call, other),
    }
}

/// The status for a failure to encode a value at `site`.
pub(crate) fn encode_failed(site: Site, call: (&str, &str), error: CodecError) -> Status {
    with_site(site, call, error)
}

/// `error` as a status, its message prefixed with the side, direction and call.
fn with_site(site: Site, (service, method): (&str, &str), error: CodecError) -> Status {
    let (side, direction) = site.describe();
    let status = Status::from(error);
    Status::new(
        status.code(),
        format!(
            "{side}, {direction} of {service}.{method}: {}",
            status.message()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Code;

    #[test]
    fn messages_name_the_side_direction_call_and_codec_not_a_rust_type() {
        let e = decode_failed(
            Site::ClientResponse,
            ("Greeter", "hello"),
            CodecId::MSGPACK,
            CodecError::Decode("wrong msgpack marker FixMap(3)".into()),
        );
        assert_eq!(e.code(), Code::Internal);
        assert!(
            e.message().starts_with(
                "client could not decode the response of Greeter.hello in msgpack: wrong msgpack marker"
            ),
            "{e}"
        );
        let e = decode_failed(
            Site::ServerRequest,
            ("Greeter", "add"),
            CodecId::JSON,
            CodecError::Decode("invalid type".into()),
        );
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(
            e.message()
                .contains("server could not decode the request of Greeter.add")
        );
    }
}
