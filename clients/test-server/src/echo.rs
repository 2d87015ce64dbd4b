//! `Echo`: the unary calls the clients are tested with — plain values in either codec,
//! metadata, deadlines, a slow call to cancel, failures with details, oneway.

use std::sync::Arc;
use std::time::Duration;

use erpc::{Code, Context, Status};

use crate::probe::{Probe, Stats, Unfinished};

#[erpc::service(name = "Echo")]
pub trait Echo {
    /// `"hello, {name}"`.
    async fn hello(&self, name: String) -> Result<String, Status>;
    /// `a + b` (two arguments: an array on the wire).
    async fn add(&self, a: i64, b: i64) -> Result<i64, Status>;
    /// The value of request metadata entry `key`, or nil.
    async fn meta(&self, cx: Context, key: String) -> Result<Option<String>, Status>;
    /// Milliseconds left until the call's deadline, as the server sees it.
    async fn remaining_ms(&self, cx: Context) -> Result<u64, Status>;
    /// Sleeps `ms` milliseconds and returns it; counted in `stats` (aborted if cancelled).
    async fn sleep(&self, ms: u64) -> Result<u64, Status>;
    /// Fails with status `code`, message `message` and details `"details: {message}"`.
    async fn fail(&self, code: u8, message: String) -> Result<(), Status>;
    /// What the server has seen.
    async fn stats(&self) -> Result<Stats, Status>;
    /// The caller's address as the server sees it: tells connections apart.
    async fn peer(&self, cx: Context) -> Result<String, Status>;
    /// Oneway: adds `n` to `stats().notified`.
    #[oneway]
    async fn notify(&self, n: u64);
}

/// The implementation; clones share the probe.
#[derive(Clone)]
pub struct EchoImpl {
    pub probe: Arc<Probe>,
}

impl Echo for EchoImpl {
    async fn hello(&self, name: String) -> Result<String, Status> {
        Ok(format!("hello, {name}"))
    }

    async fn add(&self, a: i64, b: i64) -> Result<i64, Status> {
        a.checked_add(b)
            .ok_or_else(|| Status::out_of_range(format!("{a} + {b} overflows an i64")))
    }

    async fn meta(&self, cx: Context, key: String) -> Result<Option<String>, Status> {
        Ok(cx.metadata().get_str(&key).map(str::to_owned))
    }

    async fn remaining_ms(&self, cx: Context) -> Result<u64, Status> {
        Ok(cx.remaining().as_millis() as u64)
    }

    async fn sleep(&self, ms: u64) -> Result<u64, Status> {
        let running = Unfinished::start(&self.probe);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        running.done();
        Ok(ms)
    }

    async fn fail(&self, code: u8, message: String) -> Result<(), Status> {
        let details = format!("details: {message}").into_bytes();
        Err(Status::new(Code::from_u8(code), message).with_details(details))
    }

    async fn stats(&self) -> Result<Stats, Status> {
        Ok(self.probe.snapshot())
    }

    async fn peer(&self, cx: Context) -> Result<String, Status> {
        cx.peer()
            .map(|p| p.to_string())
            .ok_or_else(|| Status::internal("the transport named no peer"))
    }

    async fn notify(&self, n: u64) {
        self.probe.notified(n);
    }
}
