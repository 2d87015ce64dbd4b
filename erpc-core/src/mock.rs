//! The runtime of the mocks `#[erpc::service]` generates (`MockGreeter` for `trait Greeter`):
//! what each call to a mock records ([`RecordedCall`]) and the expectations checked by
//! [`Recorder::verify`]. Use it through `erpc::testing`; the generated mock wraps one
//! [`Recorder`] and gives typed access on top.
//!
//! The facade's `erpc::testing` module shows a whole example.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use erpc_codec::{CodecId, Codecs, Message};
use tokio::time::Instant;

use crate::context::Context;
use crate::metadata::Metadata;
use crate::server::{Request, StreamRequest};
use crate::status::Status;

/// One call a mock received, as it arrived (before its handler ran).
#[derive(Debug, Clone)]
pub struct RecordedCall {
    /// The method called.
    pub method: String,
    /// The request's metadata.
    pub metadata: Metadata,
    /// The deadline the server saw (the client's timeout, or the server's cap).
    pub deadline: Instant,
    /// Whether it was a streaming call (its arguments are then not recorded).
    pub stream: bool,
    service: String,
    codec: CodecId,
    codecs: Option<Arc<Codecs>>,
    body: Bytes,
}

impl RecordedCall {
    /// The call's arguments decoded as `T` (the method's request type: the argument's type
    /// for one, a tuple for several, `()` for none).
    ///
    /// # Errors
    /// `invalid_argument` if the body does not decode as `T`, `unimplemented` for a streaming
    /// call (its messages are not recorded).
    pub fn args<T: Message>(&self) -> Result<T, Status> {
        let Some(codecs) = &self.codecs else {
            return Err(Status::unimplemented(format!(
                "{}.{} is a streaming call: its messages are not recorded",
                self.service, self.method
            )));
        };
        let context = Context::new(
            self.service.clone(),
            self.method.clone(),
            std::time::Duration::ZERO,
        );
        Request::new(context, self.codec, codecs.clone(), self.body.clone()).decode()
    }
}

/// What a mock recorded and what it expects; shared by every clone of the mock.
#[derive(Debug, Clone)]
pub struct Recorder {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    service: String,
    calls: Vec<RecordedCall>,
    times: BTreeMap<String, usize>,
    order: Option<Vec<String>>,
}

impl Recorder {
    /// A recorder for the service called `service` (named in every failure message).
    pub fn new(service: &str) -> Self {
        Recorder {
            inner: Arc::new(Mutex::new(State {
                service: service.to_owned(),
                ..State::default()
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding it left nothing half-written worth refusing.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record a request-response or oneway call.
    pub fn record(&self, request: &Request) {
        let body = (
            request.codec(),
            request.codecs().clone(),
            request.body().clone(),
        );
        self.push(request.context(), Some(body));
    }

    /// Record the opening of a streaming call.
    pub fn record_stream(&self, request: &StreamRequest) {
        self.push(request.context(), None);
    }

    /// Record a call of `cx`, with its body if it is not a stream.
    fn push(&self, cx: &Context, body: Option<(CodecId, Arc<Codecs>, Bytes)>) {
        let stream = body.is_none();
        let (codec, codecs, body) = match body {
            Some((codec, codecs, body)) => (codec, Some(codecs), body),
            None => (CodecId::default(), None, Bytes::new()),
        };
        let call = RecordedCall {
            method: cx.method().to_owned(),
            metadata: cx.metadata().clone(),
            deadline: cx.deadline(),
            stream,
            service: cx.service().to_owned(),
            codec,
            codecs,
            body,
        };
        self.state().calls.push(call);
    }

    /// Every call so far, in the order they arrived.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.state().calls.clone()
    }

    /// The calls to `method` so far, in order.
    pub fn calls_to(&self, method: &str) -> Vec<RecordedCall> {
        let state = self.state();
        state
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// The arguments of every call to `method` so far, decoded as `T`.
    ///
    /// # Panics
    /// If one does not decode as `T`, naming the service, method and type.
    pub fn args_of<T: Message>(&self, method: &str) -> Vec<T> {
        let service = self.state().service.clone();
        self.calls_to(method)
            .iter()
            .map(|c| {
                c.args().unwrap_or_else(|status| {
                    panic!(
                        "mock {service}.{method}: arguments do not decode as {}: {status}",
                        std::any::type_name::<T>()
                    )
                })
            })
            .collect()
    }

    /// Expect `method` to be called exactly `n` times by the time of [`Recorder::verify`].
    pub fn expect_times(&self, method: &str, n: usize) {
        self.state().times.insert(method.to_owned(), n);
    }

    /// Expect exactly these calls, in this order (by method name), by the time of
    /// [`Recorder::verify`].
    pub fn expect_order<I, S>(&self, methods: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.state().order = Some(methods.into_iter().map(Into::into).collect());
    }

    /// What is wrong against the expectations, one line each (empty if nothing).
    pub fn failures(&self) -> Vec<String> {
        let state = self.state();
        let mut failures = Vec::new();
        for (method, &expected) in &state.times {
            let actual = state.calls.iter().filter(|c| &c.method == method).count();
            if actual != expected {
                failures.push(format!(
                    "mock {}.{method}: expected {}, got {actual}",
                    state.service,
                    crate::human::count(expected, "call")
                ));
            }
        }
        if let Some(expected) = &state.order {
            let actual: Vec<&str> = state.calls.iter().map(|c| c.method.as_str()).collect();
            if actual != *expected {
                failures.push(format!(
                    "mock {}: expected calls in order {expected:?}, got {actual:?}",
                    state.service
                ));
            }
        }
        failures
    }

    /// Check every expectation.
    ///
    /// # Panics
    /// If one is not met, with a message naming the service, the method, what was expected
    /// and what happened (`mock Greeter.hello: expected 2 call(s), got 1`).
    pub fn verify(&self) {
        let failures = self.failures();
        if !failures.is_empty() {
            panic!("{}", failures.join("\n"));
        }
    }

    /// The status a method without a handler answers.
    pub fn no_handler(&self, method: &str) -> Status {
        Status::unimplemented(format!(
            "mock {}.{method} has no handler: set one with `.{method}(|..| ...)`",
            self.state().service
        ))
    }
}
