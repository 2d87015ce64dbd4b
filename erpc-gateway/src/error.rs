//! erpc status → HTTP status, and the JSON error body every failure is answered with.

use std::time::Duration;

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use erpc_core::{Code, Status};

/// The HTTP status an erpc status code is answered with — grpc-gateway's table
/// (`runtime.HTTPStatusFromCode`):
///
/// | erpc code | HTTP |
/// |---|---|
/// | `ok` | 200 |
/// | `cancelled` | 499 (client closed request) |
/// | `unknown`, `internal`, `data_loss` | 500 |
/// | `invalid_argument`, `failed_precondition`, `out_of_range` | 400 |
/// | `deadline_exceeded` | 504 |
/// | `not_found` | 404 |
/// | `already_exists`, `aborted` | 409 |
/// | `permission_denied` | 403 |
/// | `unauthenticated` | 401 |
/// | `resource_exhausted` | 429 (with `Retry-After` when the status carries a retry hint) |
/// | `unimplemented` | 501 |
/// | `unavailable` | 503 (with `Retry-After` when the status carries a retry hint) |
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        // nginx's "client closed request": no standard code says the caller gave up.
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A failed request: answered with `http` and the body `{"code": CODE, "message": TEXT}`
/// (`code` is the erpc code's name, as PROTOCOL.md spells it: `not_found`, `unavailable`),
/// plus a `Retry-After` header (whole seconds, rounded up) when `retry_after` is set.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub http: StatusCode,
    /// The erpc code named in the body.
    pub code: Code,
    /// What went wrong, for a person.
    pub message: String,
    /// How long the caller should wait before trying again.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// A failure of the gateway's own (bad input, a body too large): `http` with `code`.
    pub fn new(http: StatusCode, code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            http,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A bad request: 400 `invalid_argument`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, Code::InvalidArgument, message)
    }

    /// `self` with its message reworded by `explain` ([`GatewayBuilder::explain`]): the one
    /// rewording of every failure a caller sees, whether as a response (status and JSON
    /// body) or as a stream's last item (the NDJSON `{"error": …}` line, the SSE
    /// `event: error`).
    ///
    /// [`GatewayBuilder::explain`]: crate::GatewayBuilder::explain
    pub(crate) fn explained(mut self, explain: &crate::gateway::Explain) -> ApiError {
        self.message = explain(&self.message);
        self
    }

    /// The JSON error object: `{"code": …, "message": …}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "code": self.code.as_str(), "message": self.message })
    }
}

impl From<Status> for ApiError {
    /// Mapped by [`http_status`]; the status' retry hint ([`Status::retry_after`]) becomes
    /// `Retry-After`.
    fn from(status: Status) -> ApiError {
        ApiError {
            http: http_status(status.code()),
            code: status.code(),
            message: status.message().to_owned(),
            retry_after: status.retry_after(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.http,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            self.body().to_string(),
        )
            .into_response();
        if let Some(wait) = self.retry_after {
            // Retry-After counts whole seconds (RFC 9110 §10.2.3): a 200 ms hint is "1".
            let seconds = wait.as_nanos().div_ceil(1_000_000_000).max(1);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_as_grpc_gateway_maps_them() {
        let table = [
            (Code::Ok, 200),
            (Code::Cancelled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::PermissionDenied, 403),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 409),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
            (Code::Unauthenticated, 401),
        ];
        for n in 0..=16 {
            let code = Code::from_u8(n);
            let (_, http) = table
                .iter()
                .find(|(c, _)| *c == code)
                .expect("in the table");
            assert_eq!(http_status(code).as_u16(), *http, "{code:?}");
        }
    }

    #[test]
    fn a_retry_hint_becomes_retry_after_in_whole_seconds() {
        let status =
            Status::resource_exhausted("slow down").with_retry_after(Duration::from_millis(1200));
        let response = ApiError::from(status).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "2");
        let plain = ApiError::from(Status::resource_exhausted("full")).into_response();
        assert!(plain.headers().get(RETRY_AFTER).is_none());
    }
}
