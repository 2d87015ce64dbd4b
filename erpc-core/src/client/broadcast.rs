//! Broadcast and fork (rpcx's `Broadcast` and `Fork` fail modes): one call sent to every
//! instance the client may call now — each copy pinned to its instance ([`Want::Only`]),
//! through the client's call-level layers (which do not retry a pinned copy elsewhere).
//!
//! - [`Client::broadcast`]: every instance must answer; all answers, in the discovered
//!   order, or the first failure to arrive (its message naming the instance), returned as
//!   soon as it arrives — as rpcx's `Broadcast` does: the broadcast cannot succeed any more,
//!   and the copies still running are cancelled (their futures dropped: CANCEL frames), so
//!   those instances may or may not have done the work.
//! - [`Client::fork`]: the first success wins and the other copies are cancelled (their
//!   futures dropped: CANCEL frames); if every copy fails, a status with the last failure's
//!   code whose message names every instance and its error, in the discovered order.
//!
//! The instances are the discovered ones in the client's subset, whatever their breaker or
//! health (a broadcast is meant for all of them: a broken one is a failure to see); a client
//! of one address has that one instance.

use erpc_codec::Message;
use erpc_transport::Address;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;

use crate::client::call::{decode, prepare};
use crate::client::{CallOptions, Client, ClientRequest, ClientResponse};
use crate::discovery::{Steer, Want};
use crate::protocol::ByteStr;
use crate::status::Status;

impl Client {
    /// Send `request` to every instance; every answer in the discovered order, or the first
    /// failure to arrive, at once (the other copies cancelled), its message prefixed with the
    /// instance's address. `unavailable` when no instance is known.
    pub async fn broadcast_invoke(
        &self,
        request: ClientRequest,
    ) -> Result<Vec<ClientResponse>, Status> {
        let (addrs, copies) = self.copies(request, "broadcast")?;
        let mut answers: Vec<Option<ClientResponse>> = addrs.iter().map(|_| None).collect();
        let mut running = numbered(copies);
        while let Some((i, result)) = running.next().await {
            match result {
                Ok(response) => answers[i] = Some(response),
                // Dropping `running` cancels the copies still out.
                Err(status) => return Err(naming(&addrs[i], status)),
            }
        }
        Ok(answers.into_iter().flatten().collect())
    }

    /// Send `request` to every instance; the first success, the other copies cancelled. If
    /// every copy fails, the last failure's code with a message naming every instance and
    /// its error in the discovered order ("every instance failed: a: …; b: …").
    /// `unavailable` when no instance is known.
    pub async fn fork_invoke(&self, request: ClientRequest) -> Result<ClientResponse, Status> {
        let (addrs, copies) = self.copies(request, "fork")?;
        let mut failures: Vec<Option<Status>> = addrs.iter().map(|_| None).collect();
        let mut last = None;
        let mut running = numbered(copies);
        while let Some((i, result)) = running.next().await {
            match result {
                Ok(response) => return Ok(response),
                Err(status) => {
                    last = Some(status.code());
                    failures[i] = Some(status);
                }
            }
        }
        let each: Vec<String> = addrs
            .iter()
            .zip(&failures)
            .filter_map(|(addr, status)| status.as_ref().map(|s| named(addr, &s.to_string())))
            .collect();
        Err(Status::new(
            last.unwrap_or(crate::status::Code::Unavailable),
            format!("every instance failed: {}", each.join("; ")),
        ))
    }

    /// A typed [`Client::broadcast_invoke`]: `request` to `service.method` on every
    /// instance, with `options` (a timeout, metadata), every answer decoded.
    ///
    /// ```no_run
    /// # use erpc_core as erpc;
    /// # async fn run(client: erpc::Client) -> Result<(), erpc::Status> {
    /// let flushed: Vec<u64> = client
    ///     .broadcast("Cache", "flush", &(), erpc::CallOptions::new())
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn broadcast<Req: Message, Resp: Message>(
        &self,
        service: impl Into<ByteStr>,
        method: impl Into<ByteStr>,
        request: &Req,
        options: CallOptions,
    ) -> Result<Vec<Resp>, Status> {
        let (request, _) = prepare(self, service.into(), method.into(), request, options, false)?;
        let call = (request.service.clone(), request.method.clone());
        let responses = self.broadcast_invoke(request).await?;
        responses
            .into_iter()
            .map(|response| decode(self, response, &call))
            .collect()
    }

    /// A typed [`Client::fork_invoke`]: `request` to `service.method` on every instance, the
    /// first success decoded, the other copies cancelled.
    pub async fn fork<Req: Message, Resp: Message>(
        &self,
        service: impl Into<ByteStr>,
        method: impl Into<ByteStr>,
        request: &Req,
        options: CallOptions,
    ) -> Result<Resp, Status> {
        let (request, _) = prepare(self, service.into(), method.into(), request, options, false)?;
        let call = (request.service.clone(), request.method.clone());
        let response = self.fork_invoke(request).await?;
        decode(self, response, &call)
    }

    /// One copy of `request` per instance, each pinned to it, through the layers. `verb`
    /// (`broadcast` or `fork`) names the caller's operation in a refusal, so that a failed
    /// fork does not read as a broadcast.
    #[allow(clippy::type_complexity)]
    fn copies(
        &self,
        request: ClientRequest,
        verb: &str,
    ) -> Result<
        (
            Vec<Address>,
            Vec<BoxFuture<'static, Result<ClientResponse, Status>>>,
        ),
        Status,
    > {
        if request.stream || request.oneway {
            return Err(Status::invalid_argument(format!(
                "{verb} sends request-response calls, not streams or oneway calls"
            )));
        }
        let addrs = self.target().instances();
        if addrs.is_empty() {
            return Err(Status::unavailable(format!(
                "no instance of {} is known to {verb} {}.{} to",
                self.target().describe(),
                request.service,
                request.method
            )));
        }
        let copies = addrs
            .iter()
            .map(|addr| {
                let mut copy = request.clone();
                copy.steer = Steer::new(Want::Only(addr.clone()), Vec::new());
                self.through_layers(copy)
            })
            .collect();
        Ok((addrs, copies))
    }
}

/// The copies, each answer numbered with its copy's place in the list, as they arrive.
fn numbered(
    copies: Vec<BoxFuture<'static, Result<ClientResponse, Status>>>,
) -> FuturesUnordered<impl std::future::Future<Output = (usize, Result<ClientResponse, Status>)>> {
    copies
        .into_iter()
        .enumerate()
        .map(|(i, copy)| async move { (i, copy.await) })
        .collect()
}

/// `status` with its message prefixed by the instance it came from.
fn naming(addr: &Address, status: Status) -> Status {
    Status::new(status.code(), named(addr, status.message())).with_details(status.details().clone())
}

/// `message` prefixed by `addr`, unless it names it already (a connect failure does:
/// "cannot connect to tcp://…"), so the address is not said twice.
fn named(addr: &Address, message: &str) -> String {
    let addr = addr.to_string();
    if message.contains(&addr) {
        message.to_owned()
    } else {
        format!("{addr}: {message}")
    }
}
