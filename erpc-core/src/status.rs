//! Errors are data: a [`Status`] travels in a response frame when a call fails.

use std::fmt;

use bytes::Bytes;

/// What went wrong, from a small fixed set. The numbers are the ones gRPC uses, so people and
/// tools already know them; they travel as the header's `status` byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Code {
    /// Success.
    Ok = 0,
    /// The caller cancelled the call.
    Cancelled = 1,
    /// An error with no better code (and any code number this peer does not know).
    Unknown = 2,
    /// The request is malformed or not valid for the method.
    InvalidArgument = 3,
    /// The deadline passed before the call completed.
    DeadlineExceeded = 4,
    /// Something the request named does not exist.
    NotFound = 5,
    /// Something the request would create already exists.
    AlreadyExists = 6,
    /// The caller may not do this.
    PermissionDenied = 7,
    /// A limit was hit: a size, a quota, a concurrency cap.
    ResourceExhausted = 8,
    /// The system is not in a state where this can run.
    FailedPrecondition = 9,
    /// Aborted, typically by a concurrency conflict.
    Aborted = 10,
    /// A value out of its valid range.
    OutOfRange = 11,
    /// No such service or method, or an unknown codec, compressor or frame kind.
    Unimplemented = 12,
    /// A bug on the server: an invariant broken, a handler that panicked.
    Internal = 13,
    /// The service cannot be reached now; safe to retry.
    Unavailable = 14,
    /// Unrecoverable data loss.
    DataLoss = 15,
    /// No valid credentials.
    Unauthenticated = 16,
}

impl Code {
    /// The code for a wire byte; numbers this peer does not know become [`Code::Unknown`].
    pub fn from_u8(n: u8) -> Code {
        use Code::*;
        const ALL: [Code; 17] = [
            Ok,
            Cancelled,
            Unknown,
            InvalidArgument,
            DeadlineExceeded,
            NotFound,
            AlreadyExists,
            PermissionDenied,
            ResourceExhausted,
            FailedPrecondition,
            Aborted,
            OutOfRange,
            Unimplemented,
            Internal,
            Unavailable,
            DataLoss,
            Unauthenticated,
        ];
        ALL.get(n as usize).copied().unwrap_or(Unknown)
    }

    /// The snake_case name used in logs and PROTOCOL.md.
    pub fn as_str(self) -> &'static str {
        use Code::*;
        match self {
            Ok => "ok",
            Cancelled => "cancelled",
            Unknown => "unknown",
            InvalidArgument => "invalid_argument",
            DeadlineExceeded => "deadline_exceeded",
            NotFound => "not_found",
            AlreadyExists => "already_exists",
            PermissionDenied => "permission_denied",
            ResourceExhausted => "resource_exhausted",
            FailedPrecondition => "failed_precondition",
            Aborted => "aborted",
            OutOfRange => "out_of_range",
            Unimplemented => "unimplemented",
            Internal => "internal",
            Unavailable => "unavailable",
            DataLoss => "data_loss",
            Unauthenticated => "unauthenticated",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a failed call: a code, a message for people, and optional details for
/// programs (opaque bytes; encode them with any codec you like).
///
/// Two statuses are equal when their code, message and details are: the client's
/// [connect-failure mark](Status::is_connect_failure) is not part of the value (it never
/// travels).
#[derive(Clone)]
pub struct Status {
    code: Code,
    /// Set by the client when no connection to a server could be made for the call
    /// (`connect_failure.rs`); never on the wire.
    pub(crate) connect_failure: bool,
    /// Set by the client when no instance could take the call now — every one backing off,
    /// its breaker open, or NOT_SERVING — so a fail mode does not retry it
    /// (`fail_mode::retry_allowed`);
    /// never on the wire, not compared.
    pub(crate) no_instance: bool,
    message: String,
    details: Bytes,
}

impl PartialEq for Status {
    fn eq(&self, other: &Status) -> bool {
        self.code == other.code && self.message == other.message && self.details == other.details
    }
}

impl Eq for Status {}

macro_rules! constructors {
    ($($name:ident => $code:ident),* $(,)?) => {
        $(
            #[doc = concat!("A status with code [`Code::", stringify!($code), "`].")]
            pub fn $name(message: impl Into<String>) -> Status {
                Status::new(Code::$code, message)
            }
        )*
    };
}

impl Status {
    /// A status with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            connect_failure: false,
            no_instance: false,
            message: message.into(),
            details: Bytes::new(),
        }
    }

    /// Attach machine-readable details.
    pub fn with_details(mut self, details: impl Into<Bytes>) -> Status {
        self.details = details.into();
        self
    }

    constructors! {
        cancelled => Cancelled,
        unknown => Unknown,
        invalid_argument => InvalidArgument,
        deadline_exceeded => DeadlineExceeded,
        not_found => NotFound,
        already_exists => AlreadyExists,
        permission_denied => PermissionDenied,
        resource_exhausted => ResourceExhausted,
        failed_precondition => FailedPrecondition,
        aborted => Aborted,
        out_of_range => OutOfRange,
        unimplemented => Unimplemented,
        internal => Internal,
        unavailable => Unavailable,
        data_loss => DataLoss,
        unauthenticated => Unauthenticated,
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The details for programs (empty when none were attached).
    pub fn details(&self) -> &Bytes {
        &self.details
    }
}

/// The refusal of a concurrency cap of 0 given as `what` (it would refuse every call).
pub(crate) fn zero_cap(what: &str) -> Status {
    Status::invalid_argument(format!(
        "{what}: a cap of 0 calls at once refuses every call; use ≥ 1 (or no cap)"
    ))
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Status");
        d.field("code", &self.code).field("message", &self.message);
        if !self.details.is_empty() {
            d.field("details", &self.details);
        }
        d.finish()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Status {}

impl From<erpc_codec::CodecError> for Status {
    fn from(e: erpc_codec::CodecError) -> Self {
        use erpc_codec::CodecError::*;
        match e {
            UnknownCodec(_) | Unsupported { .. } => Status::unimplemented(e.to_string()),
            Encode(_) => Status::internal(e.to_string()),
            Decode(_) => Status::invalid_argument(e.to_string()),
        }
    }
}

impl From<erpc_codec::CompressionError> for Status {
    fn from(e: erpc_codec::CompressionError) -> Self {
        use erpc_codec::CompressionError::*;
        match e {
            Unknown(_) => Status::unimplemented(e.to_string()),
            TooLarge { .. } => Status::resource_exhausted(e.to_string()),
            Corrupt { .. } => Status::invalid_argument(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_numbers_map_to_unknown() {
        for n in 0..=16u8 {
            assert_eq!(Code::from_u8(n) as u8, n);
        }
        assert_eq!(Code::from_u8(17), Code::Unknown);
        assert_eq!(Code::from_u8(255), Code::Unknown);
    }

    #[test]
    fn displays_code_and_message() {
        let s = Status::not_found("no such user").with_details(&b"x"[..]);
        assert_eq!(s.to_string(), "not_found: no such user");
        assert_eq!(s.details().as_ref(), b"x");
    }
}
